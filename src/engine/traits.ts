import { isDeepStrictEqual } from 'node:util'
import type { JsonObject } from '../shared/json.js'
import type { ProfileRecord } from '../store/store.js'

/**
 * Applies traits set at instant `at` to a profile: per trait, the newer value wins, so a
 * late or replayed message never overwrites what a newer one set. `null` removes a trait.
 * With `replace`, traits not named are removed too. Returns whether anything visible changed.
 */
export function applyTraits(
  p: ProfileRecord,
  traits: JsonObject,
  at: number,
  replace = false,
): boolean {
  let changed = false
  const set = (key: string, value: JsonObject[string] | undefined) => {
    const since = p.traitTimes[key]
    if (since !== undefined && since > at) return
    p.traitTimes[key] = at
    if (value === null || value === undefined) {
      if (Object.hasOwn(p.traits, key)) {
        delete p.traits[key]
        changed = true
      }
    } else if (!isDeepStrictEqual(p.traits[key], value)) {
      p.traits[key] = value
      changed = true
    }
  }
  for (const [key, value] of Object.entries(traits)) {
    if (key === '__proto__') continue
    set(key, value)
  }
  if (replace) {
    for (const key of Object.keys(p.traits)) if (!Object.hasOwn(traits, key)) set(key, null)
  }
  return changed
}

/** Folds `from`'s traits into `into`'s, each trait keeping whichever was set later. */
export function mergeTraits(into: ProfileRecord, from: ProfileRecord): void {
  for (const [key, at] of Object.entries(from.traitTimes)) {
    const mine = into.traitTimes[key]
    if (mine !== undefined && mine >= at) continue
    into.traitTimes[key] = at
    const value = from.traits[key]
    if (value === undefined) delete into.traits[key]
    else into.traits[key] = value
  }
}
