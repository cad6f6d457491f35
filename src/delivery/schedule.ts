/**
 * When to try a delivery again: the Standard Webhooks schedule. The first attempt is
 * immediate; after the n-th failure the next comes after DELAYS[n] (give or take a tenth, so
 * that endpoints recovering from an outage are not hit by every retry at once). After the
 * eighth failure the delivery is exhausted.
 */
export const RETRY_DELAYS_MS = [
  0, 5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000,
] as const

export const MAX_ATTEMPTS = RETRY_DELAYS_MS.length

/**
 * The delay before the next attempt after `failures` failed attempts, or null when none is
 * left. `random` in [0, 1) places it within ±10 %.
 * @example retryDelay(1, () => 0.5) // 5000
 */
export function retryDelay(failures: number, random: () => number): number | null {
  const base = RETRY_DELAYS_MS[failures]
  if (base === undefined) return null
  return Math.round(base * (0.9 + 0.2 * random()))
}

/** `Retry-After` as milliseconds from `now`: delta-seconds or an HTTP date; null when absent or unreadable. */
export function retryAfterMs(header: string | null, now: number): number | null {
  if (header === null) return null
  const v = header.trim()
  if (/^\d+$/.test(v)) return Number(v) * 1000
  const at = Date.parse(v)
  return Number.isFinite(at) ? Math.max(0, at - now) : null
}
