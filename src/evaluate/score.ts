import type { NumberTest, ScoreCriterion } from '../rules/types.js'
import { capped, decayed, halvingsToZero, microPoints } from '../scoring/points.js'
import type { Node } from './compile.js'
import type { OccurrencesState, ProfileState } from './state.js'
import { earliest, testNumber } from './values.js'

/**
 * Scores in the streaming evaluator: each criterion's points from its tracker, and the next
 * instant a score condition flips, found without stepping through every halving.
 */

type EventCriterion = Extract<ScoreCriterion, { kind: 'event' }>

/** One criterion of a score, compiled: its points now (millionths) and when they next change. */
export interface Part {
  readonly name: string
  /** A rule criterion's compiled rule. */
  readonly node: Node | null
  /** An event criterion, its model's half-life and where its occurrences are. */
  readonly event?: {
    readonly criterion: EventCriterion
    readonly halfLife: number | null
    state(s: ProfileState): OccurrencesState | undefined
  }
  micro(s: ProfileState, now: number): number
  next(s: ProfileState, now: number): number | null
}

/** An event criterion's points at `now`, from its occurrences tracker. */
export function occurrencePoints(
  c: EventCriterion,
  halfLife: number | null,
  occ: OccurrencesState | undefined,
  now: number,
): number {
  if (!occ) return 0
  const mp = microPoints(c.points)
  let sum = 0
  if (c.within === null && halfLife === null) sum = mp * occ.n
  else {
    for (const t of occ.times) {
      if (t > now || (c.within !== null && t <= now - c.within)) continue
      sum += decayed(mp, now - t, halfLife)
    }
  }
  return capped(sum, mp, c.cap)
}

/** The next instant after `now` an occurrence enters, halves or leaves the window. */
export function occurrenceBreak(
  c: EventCriterion,
  halfLife: number | null,
  occ: OccurrencesState | undefined,
  now: number,
): number | null {
  if (!occ) return null
  const mp = microPoints(c.points)
  let best: number | null = null
  for (const t of occ.times) {
    if (t > now) {
      best = earliest(best, t)
      continue
    }
    if (c.within !== null) {
      if (t <= now - c.within) continue
      best = earliest(best, t + c.within)
    }
    if (halfLife !== null && decayed(mp, now - t, halfLife) !== 0) {
      best = earliest(best, t + (Math.floor((now - t) / halfLife) + 1) * halfLife)
    }
  }
  return best
}

/** After this instant no occurrence changes what it is worth (all decayed or out of the window). */
function settledAt(c: EventCriterion, halfLife: number | null, occ: OccurrencesState): number {
  const gone = halfLife === null ? null : halfLife * halvingsToZero(microPoints(c.points))
  const life = c.within === null ? gone! : gone === null ? c.within : Math.min(c.within, gone)
  let last = -Infinity
  for (const t of occ.times) last = Math.max(last, t + life)
  return last
}

/**
 * Where a falling score can change a test's answer: on first reaching a bound (`≤`), or on
 * first passing it (`<`).
 */
function crossings(t: NumberTest): { limit: number; strict: boolean }[] {
  switch (t.op) {
    case 'gte':
    case 'lt':
      return [{ limit: t.value, strict: true }]
    case 'gt':
    case 'lte':
      return [{ limit: t.value, strict: false }]
    case 'eq':
    case 'neq':
      return [
        { limit: t.value, strict: false },
        { limit: t.value, strict: true },
      ]
    case 'between':
      return [
        { limit: t.high, strict: false },
        { limit: t.low, strict: true },
      ]
  }
}

/**
 * The first instant after `now` at which `test` of the score differs from now (a superset
 * when a rule criterion may change first; null: never).
 *
 * Between the instants rule criteria can change, event points only shrink when every event
 * criterion gives points ≥ 0 and no occurrence lies ahead of `now` (decay halves them, windows
 * drop them), so the score falls monotonically and the answer can only change where it first
 * drops to or below a bound of the test: a few binary searches over time instead of a walk
 * through every halving of every event. Otherwise (negative points) the walk it is.
 */
export function scoreNext(
  parts: readonly Part[],
  test: NumberTest,
  s: ProfileState,
  now: number,
): number | null {
  let ruleNext: number | null = null
  let eventNext: number | null = null
  let monotone = true
  let settled = -Infinity
  let fixed = 0
  for (const p of parts) {
    if (p.event) {
      const occ = p.event.state(s)
      const b = p.next(s, now)
      if (b === null || !occ) continue
      eventNext = earliest(eventNext, b)
      if (p.event.criterion.points < 0 || occ.times.some((t) => t > now)) monotone = false
      settled = Math.max(settled, settledAt(p.event.criterion, p.event.halfLife, occ))
    } else {
      ruleNext = earliest(ruleNext, p.next(s, now))
      fixed += p.micro(s, now)
    }
  }
  if (eventNext === null) return ruleNext
  if (!monotone) return earliest(ruleNext, eventNext)
  // Search (now, end]: rule points are constant before ruleNext.
  const end = ruleNext === null ? settled : Math.min(ruleNext - 1, settled)
  if (end <= now) return earliest(ruleNext, eventNext)
  const score = (t: number) => {
    let sum = fixed
    for (const p of parts) if (p.event) sum += p.micro(s, t)
    return sum
  }
  const answer = testNumber(score(now), test)
  const firstAtOrBelow = (limit: number, strict: boolean): number | null => {
    const reached = (t: number) => (strict ? score(t) < limit : score(t) <= limit)
    if (reached(now) || !reached(end)) return null
    // Nothing changes before the first break.
    let lo = Math.max(now, eventNext - 1)
    let hi = end
    while (hi - lo > 1) {
      const mid = lo + Math.floor((hi - lo) / 2)
      if (reached(mid)) hi = mid
      else lo = mid
    }
    return hi
  }
  const candidates: number[] = []
  for (const { limit, strict } of crossings(test)) {
    const t = firstAtOrBelow(limit, strict)
    if (t !== null) candidates.push(t)
  }
  for (const t of candidates.sort((a, b) => a - b)) {
    if (testNumber(score(t), test) !== answer) return t
  }
  return ruleNext
}
