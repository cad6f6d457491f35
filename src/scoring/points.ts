import { micro } from '../evaluate/values.js'
import type { ScoreCriterion, ScoreModel } from '../rules/types.js'

/**
 * The arithmetic of scores, shared by the streaming evaluator and the SQL compiler (the test
 * oracle has its own). Points are kept in millionths, as integers, so that every evaluator
 * adds the same integers in any order and gets the same score.
 *
 * Decay is by steps: an occurrence's points halve at each full half-life since it happened
 * (truncated toward zero in millionths), so a score changes only at known instants and a
 * threshold is crossed at an exact, schedulable millisecond.
 */

/** Points in millionths, rounded half up: exactly as amounts are kept. */
export const microPoints = micro

/** Halvings after which `micro` points are worth nothing: the first k with 2^k > |micro|. */
export function halvingsToZero(micro: number): number {
  let k = 0
  let m = Math.abs(micro)
  while (m >= 1) {
    m = Math.floor(m / 2)
    k++
  }
  return k
}

/** SQL guards halvings at this many (2^60 exceeds any amount kept). */
export const MAX_HALVINGS = 60

const POW2 = Array.from({ length: MAX_HALVINGS }, (_, k) => 2 ** k)

/** What one occurrence of age `age` is worth now, in millionths. */
export function decayed(micro: number, age: number, halfLife: number | null): number {
  if (halfLife === null) return micro
  const k = Math.floor(age / halfLife)
  if (k >= MAX_HALVINGS) return 0
  // Dividing by a power of two is exact in doubles; truncation drops what is below one.
  return Math.trunc(micro / POW2[k]!)
}

/** A criterion's total held to ±cap, on the side its points are. */
export function capped(total: number, micro: number, cap: number | null): number {
  if (cap === null) return total
  const c = microPoints(cap)
  return micro >= 0 ? Math.min(total, c) : Math.max(total, -c)
}

/**
 * How far back from the newest occurrence an event criterion can still count: its window, or
 * the age at which decay has taken every point; null when every occurrence counts for ever
 * (then a count is all it needs).
 */
export function horizonOf(
  c: Extract<ScoreCriterion, { kind: 'event' }>,
  halfLife: number | null,
): number | null {
  const decay = halfLife === null ? null : halfLife * halvingsToZero(microPoints(c.points))
  if (c.within === null) return decay
  return decay === null ? c.within : Math.min(c.within, decay)
}

/** The key of the built-in model behind the engagement_velocity computed field. */
export const VELOCITY_MODEL = 'computed.engagement_velocity'

const WEEK = 7 * 86_400_000

/**
 * Engagement velocity as a model: this week's engagements (track, page and screen events)
 * minus last week's = 2 × (last 7 days) − (last 14 days).
 */
export const VELOCITY: ScoreModel = {
  key: VELOCITY_MODEL,
  halfLife: null,
  criteria: (['track', 'page', 'screen'] as const).flatMap((type) => [
    {
      kind: 'event' as const,
      name: `${type} this week, twice`,
      filter: { type, name: null, where: [] },
      points: 2,
      cap: null,
      within: WEEK,
    },
    {
      kind: 'event' as const,
      name: `${type} in the last two weeks`,
      filter: { type, name: null, where: [] },
      points: -1,
      cap: null,
      within: 2 * WEEK,
    },
  ]),
}
