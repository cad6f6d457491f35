import type { TimerHost } from '../engine/scheduler.js'
import type { Clock } from '../shared/clock.js'

/**
 * A background loop that runs when kicked and when its next piece of work falls due, and
 * otherwise sleeps on one timeout: no polling. One run at a time; a kick during a run makes
 * it go round again.
 */
export class Pump {
  private handle: unknown = null
  private immediate: NodeJS.Immediate | null = null
  private running: Promise<void> | null = null
  private again = false
  private stopped = true
  /** Aborted when stop() begins: the work finishes its current round and starts no more. */
  private stopping = new AbortController()

  constructor(
    private readonly clock: Clock,
    private readonly timers: TimerHost,
    private readonly work: (stopping: AbortSignal) => Promise<unknown>,
    private readonly nextDue: () => Promise<number | null>,
    private readonly onError: (e: unknown) => void = () => undefined,
  ) {}

  start(): void {
    this.stopped = false
    if (this.stopping.signal.aborted) this.stopping = new AbortController()
    this.kick()
  }

  async stop(): Promise<void> {
    this.stopped = true
    this.stopping.abort()
    if (this.handle !== null) this.timers.clear(this.handle)
    this.handle = null
    if (this.immediate !== null) clearImmediate(this.immediate)
    this.immediate = null
    await this.running
  }

  /** Something may be due: run soon (on the next turn of the event loop, not a timer). */
  kick(): void {
    if (this.stopped) return
    if (this.running) {
      this.again = true
      return
    }
    this.immediate ??= setImmediate(() => {
      this.immediate = null
      this.launch()
    })
  }

  private launch(): void {
    if (this.stopped) return
    if (this.handle !== null) this.timers.clear(this.handle)
    this.handle = null
    this.running ??= this.loop().finally(() => {
      this.running = null
    })
  }

  /** Sleeps until the next piece of work is due, on the timer host. */
  private arm(delay: number): void {
    if (this.handle !== null) this.timers.clear(this.handle)
    this.handle = this.timers.set(() => {
      this.handle = null
      this.launch()
    }, delay)
  }

  private async loop(): Promise<void> {
    try {
      do {
        this.again = false
        await this.work(this.stopping.signal)
      } while (this.again && !this.stopped)
      if (this.stopped) return
      const next = await this.nextDue()
      if (next !== null) this.arm(Math.min(2 ** 31 - 1, Math.max(0, next - this.clock.now())))
    } catch (e) {
      this.onError(e)
      if (!this.stopped) this.arm(1000)
    }
  }
}
