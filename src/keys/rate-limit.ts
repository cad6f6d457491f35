import type { Clock } from '../shared/clock.js'
import { SegflowError } from '../shared/errors.js'

interface Bucket {
  tokens: number
  at: number
}

/**
 * Requests per second per key, as a token bucket: `perSecond` tokens a second, up to a burst
 * of twice that (or `burst`). Kept in this process's memory (several processes each allow the
 * rate). A key over its rate gets 429 `rate_limited` with Retry-After: the seconds until a
 * token is back.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>()
  private readonly burst: number

  constructor(
    private readonly perSecond: number,
    private readonly clock: Clock,
    options: { readonly burst?: number } = {},
  ) {
    this.burst = options.burst ?? Math.max(1, perSecond * 2)
  }

  /**
   * Takes one request for `key`; throws `rate_limited` when there is none to take, with
   * `message(wait)` when given (`wait`: seconds until a token is back).
   */
  take(key: string, kind: string, message?: (wait: number) => string): void {
    if (this.perSecond <= 0) return
    const now = this.clock.now()
    const b = this.buckets.get(key) ?? { tokens: this.burst, at: now }
    b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) / 1000) * this.perSecond)
    b.at = now
    if (b.tokens < 1) {
      this.buckets.set(key, b)
      const wait = Math.max(1, Math.ceil((1 - b.tokens) / this.perSecond))
      throw new SegflowError(
        'rate_limited',
        message?.(wait) ??
          `this ${kind} key made more than ${this.perSecond} requests a second; retry after ${wait} s`,
        { retryAfter: wait },
      )
    }
    b.tokens -= 1
    this.buckets.set(key, b)
    // Bounded: buckets of keys idle long enough to be full again are dropped.
    if (this.buckets.size > 10_000) {
      for (const [k, v] of this.buckets)
        if (v.tokens + ((now - v.at) / 1000) * this.perSecond >= this.burst) this.buckets.delete(k)
    }
  }
}
