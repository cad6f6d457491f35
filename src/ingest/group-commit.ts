import type { Message } from '../engine/message.js'
import type { WriteOutcome } from '../engine/writer.js'
import type { Clock } from '../shared/clock.js'
import { SegflowError } from '../shared/errors.js'
import { isDataError } from '../store/errors.js'

/** What the queue commits through: the engine's writer in production. */
export interface BatchWriter {
  write(messages: readonly Message[]): Promise<WriteOutcome[]>
}

export interface GroupCommitOptions {
  /**
   * Messages waiting for a commit beyond which new submissions are refused with 429.
   * Default 50,000 (about 25 MB of messages).
   */
  readonly maxQueuedMessages?: number
  /** Most messages committed in one transaction. Default 5,000. */
  readonly maxBatchMessages?: number
  /** Called after every commit attempt, for metrics. */
  readonly onCommit?: (info: { messages: number; seconds: number; ok: boolean }) => void
}

interface Pending {
  readonly messages: readonly Message[]
  readonly resolve: (outcomes: WriteOutcome[]) => void
  readonly reject: (error: unknown) => void
}

/**
 * Group commit: requests wait in a bounded queue; one transaction at a time takes
 * everything that has gathered (up to a limit) and commits it, and only then are those
 * requests answered. Under load each commit carries many requests, so its fsync is shared;
 * when idle a request is committed at once. A full queue refuses work (429) instead of
 * growing: memory stays bounded and clients back off.
 */
export class GroupCommit {
  private readonly queue: Pending[] = []
  private queued = 0
  private committing = 0
  private running: Promise<void> = Promise.resolve()
  private pumping = false
  private closed = false
  /** Recent commit throughput in messages per second, for Retry-After. */
  private rate = 0
  private readonly maxQueued: number
  private readonly maxBatch: number

  constructor(
    private readonly writer: BatchWriter,
    private readonly clock: Clock,
    private readonly options: GroupCommitOptions = {},
  ) {
    this.maxQueued = options.maxQueuedMessages ?? 50_000
    this.maxBatch = options.maxBatchMessages ?? 5_000
  }

  /** Messages waiting or being committed. */
  get depth(): number {
    return this.queued + this.committing
  }

  /**
   * Resolves with one outcome per message once they are durable. Rejects with
   * `overloaded` (queue full), `shutting_down`, or `unavailable` (the commit failed).
   */
  submit(messages: readonly Message[]): Promise<WriteOutcome[]> {
    if (this.closed) {
      return Promise.reject(
        new SegflowError('shutting_down', 'segflow is shutting down; retry shortly', {
          retryAfter: 1,
        }),
      )
    }
    if (messages.length === 0) return Promise.resolve([])
    if (this.queued > 0 && this.queued + messages.length > this.maxQueued) {
      return Promise.reject(
        new SegflowError(
          'overloaded',
          `ingest queue is full (${this.queued} messages waiting); retry after the time in Retry-After`,
          { retryAfter: this.retryAfterSeconds() },
        ),
      )
    }
    return new Promise<WriteOutcome[]>((resolve, reject) => {
      this.queue.push({ messages, resolve, reject })
      this.queued += messages.length
      if (!this.pumping) {
        this.pumping = true
        this.running = this.pump()
      }
    })
  }

  /** Refuses new work and resolves when everything already accepted is committed. */
  async close(): Promise<void> {
    this.closed = true
    while (this.pumping) await this.running
  }

  private retryAfterSeconds(): number {
    const seconds = this.rate > 0 ? Math.ceil(this.queued / this.rate) : 1
    return Math.min(30, Math.max(1, seconds))
  }

  private async pump(): Promise<void> {
    for (;;) {
      // Let the event loop read what has arrived first. A store that commits synchronously
      // (SQLite) would otherwise take each request alone: its commit runs in the same tick
      // that parsed the request, and the requests behind it are only read after it.
      await new Promise<void>((resolve) => setImmediate(resolve))
      // The emptiness check and clearing `pumping` happen in one synchronous step, so a
      // submit can never see `pumping` set by a loop that has already decided to stop.
      if (this.queue.length === 0) {
        this.pumping = false
        return
      }
      const group: Pending[] = []
      let count = 0
      while (
        this.queue.length > 0 &&
        (count === 0 || count + this.queue[0]!.messages.length <= this.maxBatch)
      ) {
        const p = this.queue.shift()!
        group.push(p)
        count += p.messages.length
      }
      this.queued -= count
      this.committing = count
      try {
        const ok = await this.commit(group, count)
        // One request whose data the store refuses must not fail the others that happened
        // to share its commit: on failure, each request is committed on its own.
        if (!ok && group.length > 1)
          for (const p of group) await this.commit([p], p.messages.length)
      } finally {
        this.committing = 0
      }
    }
  }

  /** Commits a group; answers each request. False when the commit failed. */
  private async commit(group: readonly Pending[], count: number): Promise<boolean> {
    const messages = group.length === 1 ? group[0]!.messages : group.flatMap((p) => p.messages)
    const started = this.clock.now()
    try {
      const outcomes = await this.writer.write(messages)
      const seconds = Math.max(1, this.clock.now() - started) / 1000
      this.rate = this.rate === 0 ? count / seconds : 0.8 * this.rate + 0.2 * (count / seconds)
      let offset = 0
      for (const p of group) {
        p.resolve(outcomes.slice(offset, offset + p.messages.length))
        offset += p.messages.length
      }
      this.options.onCommit?.({ messages: count, seconds, ok: true })
      return true
    } catch (cause) {
      this.options.onCommit?.({
        messages: count,
        seconds: (this.clock.now() - started) / 1000,
        ok: false,
      })
      if (group.length > 1) return false
      const error = isDataError(cause)
        ? new SegflowError(
            'invalid_message',
            `the store refused a message of this request: ${(cause as Error).message}`,
            {
              cause,
            },
          )
        : new SegflowError('unavailable', 'the messages could not be stored; retry later', {
            retryAfter: 1,
            cause,
          })
      group[0]!.reject(error)
      return false
    }
  }
}
