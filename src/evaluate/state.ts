import type { JsonObject } from '../shared/json.js'
import type { CoreRule, EventFilter, NumberTest, Path } from '../rules/types.js'
import { getPath, micro, testValue } from './values.js'

/**
 * What one profile must remember for a set of rules, and no more. The state is derived from
 * the rules: a tracker per distinct event filter keeps only what the rules can ask of it.
 */

/** One event as the evaluators see it. */
export interface EvalEvent {
  readonly type: string
  readonly name: string | null
  readonly timestamp: number
  readonly properties: JsonObject | null
}

/** The latest `keep` timestamps of events matching a filter. */
export interface TimesSpec {
  readonly kind: 'times'
  readonly filter: EventFilter
  readonly keep: number
}

/** Amounts (in millionths) of a numeric property of matching events, within a window or ever. */
export interface ValuesSpec {
  readonly kind: 'values'
  readonly filter: EventFilter
  readonly property: Path
  readonly within: number | null
}

export type TrackerSpec = TimesSpec | ValuesSpec

/** Timestamps, newest first, at most `keep` of them. */
export interface TimesState {
  times: number[]
}

/**
 * Windowed: every (timestamp, amount) that can still be inside the window, oldest first.
 * Unwindowed: running totals.
 */
export type ValuesState =
  | { entries: [number, number][] }
  | { count: number; sum: number; min: number | null; max: number | null }

export type TrackerState = TimesState | ValuesState

export interface ProfileState {
  /** Current traits (as the writer keeps them on the profile). */
  traits: JsonObject
  /** Earliest and latest timestamp of the person's activity. */
  firstSeen: number | null
  lastSeen: number | null
  /** Scoring models' current values, by model key (filled once scoring exists). */
  scores: Record<string, number>
  /** Tracker states by tracker key (see StatePlan). */
  trackers: Record<string, TrackerState>
}

export function emptyState(): ProfileState {
  return { traits: {}, firstSeen: null, lastSeen: null, scores: {}, trackers: {} }
}

/** Canonical JSON: the same filter written with keys in another order gets the same key. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`
  if (v !== null && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`
  }
  return JSON.stringify(v)
}

export function timesKey(filter: EventFilter): string {
  return `t:${canonical(filter)}`
}

export function valuesKey(filter: EventFilter, property: Path, within: number | null): string {
  return `v:${canonical({ filter, property, within })}`
}

/** How many of the latest matching timestamps decide a count test. */
export function keepFor(count: NumberTest): number {
  switch (count.op) {
    case 'gte':
    case 'lt':
      // count ≥ n ⇔ the n-th latest is in the window.
      return count.value
    case 'between':
      return count.high + 1
    default:
      // eq, neq, gt, lte need to tell n from n + 1.
      return count.value + 1
  }
}

/** Whether an event matches a filter. Filters never depend on the time (see parse: where). */
export function matches(filter: EventFilter, e: EvalEvent): boolean {
  if (e.type !== filter.type) return false
  if (filter.name !== null && e.name !== filter.name) return false
  return filter.where.every((w) => testValue(getPath(e.properties, w.path), w.test, 0))
}

/**
 * The trackers a set of rules needs, merged: filters shared by several conditions are
 * tracked once, keeping as many timestamps as the most demanding needs.
 */
export class StatePlan {
  readonly trackers = new Map<string, TrackerSpec>()

  constructor(rules: readonly CoreRule[], resolve: (key: string) => CoreRule | undefined) {
    const seen = new Set<string>()
    const visit = (r: CoreRule): void => {
      switch (r.kind) {
        case 'all':
        case 'any':
          r.rules.forEach(visit)
          return
        case 'not':
          visit(r.rule)
          return
        case 'segment': {
          if (seen.has(r.key)) return
          seen.add(r.key)
          const ref = resolve(r.key)
          if (ref) visit(ref)
          return
        }
        case 'event':
          this.times(r.filter, keepFor(r.count))
          return
        case 'sequence':
          this.times(r.first, 1)
          this.times(r.notFollowedBy, 1)
          return
        case 'aggregate': {
          const key = valuesKey(r.filter, r.property, r.within)
          if (!this.trackers.has(key)) {
            this.trackers.set(key, {
              kind: 'values',
              filter: r.filter,
              property: r.property,
              within: r.within,
            })
          }
          return
        }
        case 'trait':
        case 'seen':
        case 'score':
          return
      }
    }
    rules.forEach(visit)
  }

  private times(filter: EventFilter, keep: number): void {
    const key = timesKey(filter)
    const cur = this.trackers.get(key)
    if (!cur || (cur.kind === 'times' && cur.keep < keep))
      this.trackers.set(key, { kind: 'times', filter, keep })
  }

  /**
   * Folds one event into the state. Order does not matter: a late event lands where its
   * timestamp puts it. Only matching trackers change.
   */
  apply(state: ProfileState, e: EvalEvent): void {
    for (const [key, spec] of this.trackers) {
      if (!matches(spec.filter, e)) continue
      if (spec.kind === 'times') addTime(state, key, spec.keep, e.timestamp)
      else {
        const v = getPath(e.properties, spec.property)
        if (typeof v === 'number') addValue(state, key, spec.within, e.timestamp, micro(v))
      }
    }
  }
}

function addTime(state: ProfileState, key: string, keep: number, t: number): void {
  if (keep === 0) return
  const s = (state.trackers[key] ??= { times: [] }) as TimesState
  const times = s.times
  if (times.length >= keep && t <= times[times.length - 1]!) return
  let i = 0
  while (i < times.length && times[i]! >= t) i++
  times.splice(i, 0, t)
  if (times.length > keep) times.length = keep
}

function addValue(
  state: ProfileState,
  key: string,
  within: number | null,
  t: number,
  m: number,
): void {
  if (within === null) {
    const s = (state.trackers[key] ??= { count: 0, sum: 0, min: null, max: null }) as Extract<
      ValuesState,
      { count: number }
    >
    s.count++
    s.sum += m
    s.min = s.min === null ? m : Math.min(s.min, m)
    s.max = s.max === null ? m : Math.max(s.max, m)
    return
  }
  const s = (state.trackers[key] ??= { entries: [] }) as Extract<ValuesState, { entries: unknown }>
  const entries = s.entries
  let i = entries.length
  while (i > 0 && entries[i - 1]![0] > t) i--
  entries.splice(i, 0, [t, m])
  // Every evaluation happens at or after the newest timestamp, so whatever fell out of the
  // window measured from it can never be inside a window again.
  const newest = entries[entries.length - 1]![0]
  let drop = 0
  while (drop < entries.length && entries[drop]![0] <= newest - within) drop++
  if (drop > 0) entries.splice(0, drop)
}
