import { createHash } from 'node:crypto'
import type { ConsentState, EmailStatus, Purpose } from '../privacy/consent.js'
import type { JsonObject } from '../shared/json.js'
import type { CoreRule, EventFilter, NumberTest, Path } from '../rules/types.js'
import { horizonOf } from '../scoring/points.js'
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

/**
 * Occurrences of matching events for a score criterion: how many ever, and the timestamps
 * that can still be worth points (within `horizon` of the newest; none kept when null).
 */
export interface OccurrencesSpec {
  readonly kind: 'occurrences'
  readonly filter: EventFilter
  readonly horizon: number | null
}

export type TrackerSpec = TimesSpec | ValuesSpec | OccurrencesSpec

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

/** Occurrences: the count ever and the timestamps within the horizon, oldest first. */
export interface OccurrencesState {
  n: number
  times: number[]
}

export type TrackerState = TimesState | ValuesState | OccurrencesState

export interface ProfileState {
  /** Current traits (as the writer keeps them on the profile). */
  traits: JsonObject
  /** Earliest and latest timestamp of the person's activity. */
  firstSeen: number | null
  lastSeen: number | null
  /** Tracker states by tracker key (see StatePlan). */
  trackers: Record<string, TrackerState>
  /**
   * The segments the profile is in, for rules compiled to read memberships (the engine);
   * rules compiled to inline referenced segments ignore it.
   */
  segments: Set<string>
  /** The person's current consent by purpose (a purpose never stated is absent). */
  consents: Partial<Record<Purpose, ConsentState>>
  /** Marketing email status (`subscribed` when none is stored). */
  emailStatus: EmailStatus
  /** Whether the person has an email address (an email identity). */
  hasEmail: boolean
}

export function emptyState(): ProfileState {
  return {
    traits: {},
    firstSeen: null,
    lastSeen: null,
    trackers: {},
    segments: new Set(),
    consents: {},
    emailStatus: 'subscribed',
    hasEmail: false,
  }
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

/**
 * A tracker's key: a short hash of its spec. A spec never changes under its key (a condition
 * that needs more timestamps gets a tracker of its own), so stored tracker state stays valid
 * as segments come and go.
 */
export function trackerKey(spec: TrackerSpec): string {
  return createHash('sha256').update(canonical(spec)).digest('base64url').slice(0, 16)
}

export function timesSpec(filter: EventFilter, keep: number): TimesSpec {
  return { kind: 'times', filter, keep }
}

export function occurrencesSpec(filter: EventFilter, horizon: number | null): OccurrencesSpec {
  return { kind: 'occurrences', filter, horizon }
}

export function valuesSpec(filter: EventFilter, property: Path, within: number | null): ValuesSpec {
  return { kind: 'values', filter, property, within }
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

/** The trackers a set of rules needs; conditions with the same spec share one. */
export class StatePlan {
  readonly trackers = new Map<string, TrackerSpec>()

  constructor(rules: readonly CoreRule[], resolve: (key: string) => CoreRule | undefined) {
    const seen = new Set<string>()
    const add = (spec: TrackerSpec) => this.trackers.set(trackerKey(spec), spec)
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
          add(timesSpec(r.filter, keepFor(r.count)))
          return
        case 'sequence':
          add(timesSpec(r.first, 1))
          add(timesSpec(r.notFollowedBy, 1))
          return
        case 'aggregate':
          add(valuesSpec(r.filter, r.property, r.within))
          return
        case 'score':
          for (const c of r.definition?.criteria ?? []) {
            if (c.kind === 'rule') visit(c.rule)
            else add(occurrencesSpec(c.filter, horizonOf(c, r.definition!.halfLife)))
          }
          return
        case 'trait':
        case 'seen':
        case 'consent':
        case 'email_status':
        case 'has_email':
          return
      }
    }
    rules.forEach(visit)
  }

  /**
   * Folds one event into the state. Order does not matter: a late event lands where its
   * timestamp puts it. Only matching trackers change; returns the keys of those that did.
   */
  apply(state: ProfileState, e: EvalEvent): string[] {
    const changed: string[] = []
    for (const [key, spec] of this.trackers) {
      if (!matches(spec.filter, e)) continue
      if (spec.kind === 'times') {
        if (addTime(state, key, spec.keep, e.timestamp)) changed.push(key)
      } else if (spec.kind === 'occurrences') {
        addOccurrence(state, key, spec.horizon, e.timestamp)
        changed.push(key)
      } else {
        const v = getPath(e.properties, spec.property)
        if (typeof v === 'number') {
          addValue(state, key, spec.within, e.timestamp, micro(v))
          changed.push(key)
        }
      }
    }
    return changed
  }
}

/** Returns whether the kept timestamps changed. */
function addTime(state: ProfileState, key: string, keep: number, t: number): boolean {
  if (keep === 0) return false
  const s = (state.trackers[key] ??= { times: [] }) as TimesState
  const times = s.times
  if (times.length >= keep && t <= times[times.length - 1]!) return false
  let i = 0
  while (i < times.length && times[i]! >= t) i++
  times.splice(i, 0, t)
  if (times.length > keep) times.length = keep
  return true
}

function addOccurrence(state: ProfileState, key: string, horizon: number | null, t: number): void {
  const s = (state.trackers[key] ??= { n: 0, times: [] }) as OccurrencesState
  s.n++
  if (horizon === null) return
  insertPruned(s.times, t, horizon)
}

/** Inserts `t` in order and drops what is `horizon` or more older than the newest. */
function insertPruned(times: number[], t: number, horizon: number): void {
  let i = times.length
  while (i > 0 && times[i - 1]! > t) i--
  times.splice(i, 0, t)
  const newest = times[times.length - 1]!
  let drop = 0
  while (drop < times.length && times[drop]! <= newest - horizon) drop++
  if (drop > 0) times.splice(0, drop)
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

/**
 * Folds the state of one profile's tracker into another's (profiles merging). The result is
 * what applying both profiles' events to one tracker would have given.
 */
export function mergeTracker(
  spec: TrackerSpec,
  into: TrackerState | undefined,
  from: TrackerState | undefined,
): TrackerState | undefined {
  if (!from) return into
  if (!into) return structuredClone(from)
  if (spec.kind === 'times') {
    const times = [...(into as TimesState).times, ...(from as TimesState).times].sort(
      (a, b) => b - a,
    )
    return { times: times.slice(0, spec.keep) }
  }
  if (spec.kind === 'occurrences') {
    const a = into as OccurrencesState
    const b = from as OccurrencesState
    const times: number[] = []
    if (spec.horizon !== null)
      for (const t of [...a.times, ...b.times].sort((x, y) => x - y))
        insertPruned(times, t, spec.horizon)
    return { n: a.n + b.n, times }
  }
  if ('count' in into && 'count' in from) {
    return {
      count: into.count + from.count,
      sum: into.sum + from.sum,
      min: minOf(into.min, from.min),
      max: maxOf(into.max, from.max),
    }
  }
  const entries = [
    ...(into as { entries: [number, number][] }).entries,
    ...(from as { entries: [number, number][] }).entries,
  ].sort((a, b) => a[0] - b[0])
  const state: ProfileState = { ...emptyState(), trackers: { k: { entries: [] } } }
  for (const [t, m] of entries) addValue(state, 'k', spec.within, t, m)
  return state.trackers.k
}

function minOf(a: number | null, b: number | null): number | null {
  return a === null ? b : b === null ? a : Math.min(a, b)
}

function maxOf(a: number | null, b: number | null): number | null {
  return a === null ? b : b === null ? a : Math.max(a, b)
}
