import type { TimerHost } from '../engine/scheduler.js'
import { realTimers } from '../engine/scheduler.js'
import type { Clock } from '../shared/clock.js'
import type { AttemptRecord, DeliveryRecord, Store, WebhookRecord } from '../store/store.js'
import { fanOut } from './dispatcher.js'
import { Pump } from './pump.js'
import { MAX_ATTEMPTS, retryAfterMs, retryDelay } from './schedule.js'
import type { Sender } from './sender.js'
import { httpSender } from './sender.js'
import { signatureHeaders } from './signing.js'
import type { Resolver } from './targets.js'

export interface DeliveryOptions {
  /**
   * How requests are sent. Default: httpSender, which refuses non-public addresses at connect
   * time (a custom sender must do that itself).
   */
  readonly sender?: Sender
  /** Resolves webhook host names, at save and at connect time. Default: dns.lookup. */
  readonly resolve?: Resolver
  /** Allow webhooks to loopback and private addresses (SEGFLOW_WEBHOOK_ALLOW_PRIVATE). Default false. */
  readonly allowPrivate?: boolean
  /** Time an endpoint has to answer. Default 15,000 ms. */
  readonly timeoutMs?: number
  /** Deliveries in flight at once, over all endpoints. Default 32. */
  readonly concurrency?: number
  /** Jitter source in [0, 1). Default Math.random. */
  readonly random?: () => number
  readonly timers?: TimerHost
  readonly onError?: (e: unknown) => void
}

/** How soon to look again at an outbox held back by a long transaction. */
const HELD_RETRY_MS = 1000

interface Outcome {
  readonly delivery: DeliveryRecord
  readonly attempt: AttemptRecord
  readonly disable: string | null
}

/**
 * Sends webhook deliveries: at least once, with a stable id, in order per person and endpoint,
 * retried on the Standard Webhooks schedule. It wakes when transitions are written (kick) and
 * when the next retry is due; it never polls.
 */
export class DeliveryWorker {
  private readonly sender: Sender
  private readonly inFlight = new Map<string, number>()
  private readonly pump: Pump
  /** The last run found transitions held back by an open transaction: look again soon. */
  private held = false
  /** Aborted at the shutdown deadline: requests still in flight are cancelled, not recorded. */
  private cancel = new AbortController()

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly options: DeliveryOptions = {},
  ) {
    this.sender =
      options.sender ??
      httpSender({
        allowPrivate: options.allowPrivate ?? false,
        ...(options.resolve ? { resolve: options.resolve } : {}),
      })
    this.pump = new Pump(
      clock,
      options.timers ?? realTimers,
      (stopping) => this.runDue(stopping),
      () => this.nextDue(),
      options.onError,
    )
  }

  start(): void {
    if (this.cancel.signal.aborted) this.cancel = new AbortController()
    this.pump.start()
  }

  /**
   * Finishes the round in progress and starts no more. Requests still unanswered when
   * `deadline` aborts are cancelled and not recorded: those deliveries stay due and are sent
   * (with the same id) after the next start.
   */
  async stop(deadline?: AbortSignal): Promise<void> {
    const cancel = this.cancel
    const onDeadline = () => cancel.abort()
    if (deadline?.aborted) cancel.abort()
    else deadline?.addEventListener('abort', onDeadline, { once: true })
    try {
      await this.pump.stop()
    } finally {
      deadline?.removeEventListener('abort', onDeadline)
      this.sender.close?.()
    }
  }

  /** Something may be due (transitions written, a webhook changed): run soon. */
  kick(): void {
    this.pump.kick()
  }

  /** When to run next: the next retry, or soon while the outbox is held (see runDue). */
  private async nextDue(): Promise<number | null> {
    const due = await this.store.delivery.nextDeliveryDue()
    if (!this.held) return due
    const soon = this.clock.now() + HELD_RETRY_MS
    return due === null ? soon : Math.min(due, soon)
  }

  /**
   * Fans out new transitions, then sends everything due now, round after round (a success
   * makes the same person's next delivery due), until nothing is. Returns how many were sent.
   * Transitions another transaction that began earlier still holds back (PostgreSQL) are
   * waited for briefly; after that they are fanned out on a later run.
   */
  async runDue(stopping?: AbortSignal): Promise<number> {
    this.held = !(await this.store.delivery.settleOutbox())
    for (;;) {
      if (stopping?.aborted) return 0
      const r = await this.store.write((tx) => fanOut(tx, this.clock.now()))
      if (!r.more) break
    }
    let sent = 0
    for (;;) {
      // A stop lets the round in progress finish; what is left is sent after the next start.
      if (stopping?.aborted) return sent
      const now = this.clock.now()
      // Picked with a plain read, outside the store's write transactions: ingestion does not
      // wait behind it, however large the backlog.
      const { due, waiting } = await this.store.delivery.dueDeliveries(now, 500)
      // Those waiting behind an earlier delivery to the same person are not read again until
      // that one is next tried (a short write by primary key).
      const deferred =
        waiting.length === 0
          ? 0
          : await this.store.write((tx) => tx.delivery.deferDeliveries(waiting))
      if (due.length === 0) {
        if (deferred > 0) continue
        return sent
      }
      const hooks = new Map<string, WebhookRecord>()
      for (const ws of new Set(due.map((d) => d.workspaceId))) {
        for (const w of await this.store.delivery.listWebhooks(ws))
          hooks.set(`${ws}\u0000webhook:${w.id}`, w)
      }
      const limit = this.options.concurrency ?? 32
      const batch: DeliveryRecord[] = []
      for (const d of due) {
        const w = hooks.get(`${d.workspaceId}\u0000${d.destination}`)
        const key = `${d.workspaceId}\u0000${d.destination}`
        if (!w || (this.inFlight.get(key) ?? 0) >= w.maxInFlight || batch.length >= limit) continue
        this.inFlight.set(key, (this.inFlight.get(key) ?? 0) + 1)
        batch.push(d)
      }
      if (batch.length === 0) return sent
      const cancel = this.cancel.signal
      const outcomes = (
        await Promise.all(
          batch.map(async (d) => {
            const key = `${d.workspaceId}\u0000${d.destination}`
            try {
              return await this.attempt(d, hooks.get(key)!, cancel)
            } finally {
              this.inFlight.set(key, (this.inFlight.get(key) ?? 1) - 1)
            }
          }),
        )
      ).filter((o): o is Outcome => o !== null)
      // An erasure notice carries the person's ids: once it is final, nothing of it stays.
      const erasures = outcomes.filter(
        (o) => o.delivery.status !== 'pending' && isErasureNotice(o.delivery),
      )
      await this.store.write(async (tx) => {
        for (const o of outcomes) {
          if (erasures.includes(o)) {
            await tx.delivery.deleteDelivery(o.delivery.workspaceId, o.delivery.id)
          } else {
            await tx.delivery.updateDelivery(o.delivery)
            await tx.delivery.insertAttempt(o.attempt)
          }
          if (o.disable) {
            const w = (await tx.delivery.listWebhooks(o.delivery.workspaceId)).find(
              (x) => `webhook:${x.id}` === o.delivery.destination,
            )
            if (w)
              await tx.delivery.upsertWebhook({
                ...w,
                status: 'disabled',
                disabledReason: o.disable,
                updatedAt: this.clock.now(),
              })
          }
        }
      })
      if (erasures.length > 0) await this.store.scrubDeleted()
      sent += batch.length
    }
  }

  /** One attempt: sign, send, and decide what happens next. */
  private async attempt(
    d: DeliveryRecord,
    w: WebhookRecord,
    cancel: AbortSignal,
  ): Promise<Outcome | null> {
    const started = this.clock.now()
    const body = JSON.stringify(d.payload)
    const timeout = this.options.timeoutMs ?? 15_000
    let result
    try {
      // The target is checked again on every attempt, at connect time inside the sender: a
      // check here, before sending, would look at a DNS answer the connection does not use.
      result = await this.sender.post(
        w.url,
        signatureHeaders(w.secrets, d.id, started, body),
        body,
        timeout,
        cancel,
      )
    } catch (e) {
      result = { status: null, retryAfter: null, error: (e as Error).message }
    }
    // Cancelled by the shutdown deadline: not an attempt of the endpoint's, so not recorded.
    if (cancel.aborted && result.status === null) return null
    const now = this.clock.now()
    const attempts = d.attempts + 1
    const attempt: AttemptRecord = {
      workspaceId: d.workspaceId,
      deliveryId: d.id,
      attempt: attempts,
      at: started,
      status: result.status,
      error: result.error,
      durationMs: Math.max(0, now - started),
    }
    const base = {
      ...d,
      attempts,
      lastStatus: result.status,
      lastError: result.error,
      updatedAt: now,
    }
    if (result.status !== null && result.status >= 200 && result.status < 300) {
      return { delivery: { ...base, status: 'succeeded' }, attempt, disable: null }
    }
    if (result.status === 410) {
      return {
        delivery: { ...base, status: 'failed' },
        attempt,
        disable: 'the endpoint answered 410 Gone',
      }
    }
    const error =
      result.error ??
      `HTTP ${result.status}${result.status !== null && result.status < 400 ? ' (redirects are not followed)' : ''}`
    const delay =
      attempts >= MAX_ATTEMPTS ? null : retryDelay(attempts, this.options.random ?? Math.random)
    if (delay === null)
      return {
        delivery: { ...base, lastError: error, status: 'exhausted' },
        attempt,
        disable: null,
      }
    const honoured = retryAfterMs(result.retryAfter, now)
    const next = Math.max(now + delay, honoured === null ? 0 : now + honoured)
    return {
      delivery: { ...base, lastError: error, status: 'pending', nextAttemptAt: next },
      attempt,
      disable: null,
    }
  }
}

function isErasureNotice(d: DeliveryRecord): boolean {
  const payload = d.payload as { data?: unknown } | null
  const data = payload?.data
  return (
    typeof data === 'object' &&
    data !== null &&
    !Array.isArray(data) &&
    (data as { reason?: unknown }).reason === 'erasure'
  )
}
