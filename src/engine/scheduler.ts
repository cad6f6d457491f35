import type { Clock } from '../shared/clock.js'
import type { Store } from '../store/store.js'
import type { Engine } from './engine.js'

/** Where the scheduler sleeps; real timers in production, something else in tests. */
export interface TimerHost {
  set(fn: () => void, ms: number): unknown
  clear(handle: unknown): void
}

export const realTimers: TimerHost = {
  set: (fn, ms) => {
    const t = setTimeout(fn, ms)
    t.unref?.()
    return t
  },
  clear: (h) => clearTimeout(h as NodeJS.Timeout),
}

/** setTimeout's longest delay; a later timer is re-armed when this one wakes. */
const MAX_DELAY = 2 ** 31 - 1

/**
 * Sleeps until the earliest persisted timer is due, fires what is due (each at its own
 * instant), and sleeps again. It holds one timeout, never a poll: when nothing is due the
 * process does nothing. After a restart the first wake-up fires whatever fell due meanwhile.
 */
export class Scheduler {
  private handle: unknown = null
  private armedAt: number | null = null
  private running: Promise<void> | null = null
  /** Inert until started: a runtime that never starts it (a CLI command) sleeps on nothing. */
  private stopped = true

  constructor(
    private readonly store: Store,
    private readonly engine: Engine,
    private readonly clock: Clock,
    private readonly host: TimerHost = realTimers,
    private readonly onError: (e: unknown) => void = () => undefined,
  ) {}

  /** Fires what is already due, then sleeps until the next timer. */
  start(): Promise<void> {
    this.stopped = false
    return this.wake()
  }

  /** A transaction wrote a timer due at `at`: wake earlier if needed. */
  notify(at: number): void {
    if (!this.stopped && (this.armedAt === null || at < this.armedAt)) this.arm(at)
  }

  async stop(): Promise<void> {
    this.stopped = true
    if (this.handle !== null) this.host.clear(this.handle)
    this.handle = null
    this.armedAt = null
    await this.running
  }

  private arm(at: number): void {
    if (this.handle !== null) this.host.clear(this.handle)
    this.armedAt = at
    this.handle = this.host.set(
      () => void this.wake(),
      Math.min(MAX_DELAY, Math.max(0, at - this.clock.now())),
    )
  }

  private wake(): Promise<void> {
    this.handle = null
    this.armedAt = null
    this.running ??= (async () => {
      try {
        await this.store.write((tx) => this.engine.fireDue(tx, this.clock.now()))
        const next = await this.store.nextTimerDue()
        if (next !== null && !this.stopped) this.notify(next)
      } catch (e) {
        this.onError(e)
        if (!this.stopped) this.arm(this.clock.now() + 1000)
      } finally {
        this.running = null
      }
    })()
    return this.running
  }
}
