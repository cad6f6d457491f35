/** The only source of "now" in segflow: components take a clock, tests inject one. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number
}

export const systemClock: Clock = { now: () => Date.now() }

/**
 * A clock that only moves when told to; for tests and simulations.
 * @example
 * const clock = new ManualClock(Date.parse('2026-01-01T00:00:00Z'))
 * clock.advance(60_000)
 */
export class ManualClock implements Clock {
  private current: number
  constructor(start: number) {
    this.current = start
  }
  now(): number {
    return this.current
  }
  set(at: number): void {
    this.current = at
  }
  advance(ms: number): void {
    this.current += ms
  }
}
