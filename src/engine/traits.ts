import { isDeepStrictEqual } from 'node:util'
import type { JsonObject } from '../shared/json.js'
import type { ProfileRecord } from '../store/store.js'

/**
 * Applies traits set at instant `at` to a profile: per trait, the newer value wins, so a
 * late or replayed message never overwrites what a newer one set. `null` removes a trait.
 * Returns the keys whose visible value changed.
 */
export function applyTraits(p: ProfileRecord, traits: JsonObject, at: number): string[] {
  const changed: string[] = []
  for (const [key, value] of Object.entries(traits)) {
    if (key === '__proto__') continue
    const since = p.traitTimes[key]
    if (since !== undefined && since > at) continue
    p.traitTimes[key] = at
    if (value === null) {
      if (Object.hasOwn(p.traits, key)) {
        delete p.traits[key]
        changed.push(key)
      }
    } else if (!isDeepStrictEqual(p.traits[key], value)) {
      p.traits[key] = value
      changed.push(key)
    }
  }
  return changed
}

/**
 * The traits a replacing update (PUT) amounts to: the given ones, and null for every current
 * trait it leaves out. Stored as such, so that replaying the event gives the same profile.
 */
export function replacement(p: ProfileRecord, traits: JsonObject): JsonObject {
  const out: JsonObject = { ...traits }
  for (const key of Object.keys(p.traits)) if (!Object.hasOwn(traits, key)) out[key] = null
  return out
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
