import type { TimerHost } from '../engine/scheduler.js'
import { realTimers } from '../engine/scheduler.js'
import type { Clock } from '../shared/clock.js'
import type { OutboxPosition } from '../store/outbox.js'
import type { Store, StoredTransition, TransitionReason } from '../store/store.js'
import { Pump } from './pump.js'

/** A transition as the dashboard's live feed shows it. */
export interface LiveTransition {
  /** The outbox position, `tx.seq` (the server-sent event's id). */
  readonly id: string
  readonly segment: string
  readonly profileId: string
  readonly userId: string | null
  readonly anonymousId: string | null
  readonly kind: 'entered' | 'exited'
  readonly at: string
  readonly reason: TransitionReason
  readonly historical: boolean
}

/** What a subscriber is told: transitions, or that some were skipped (too many at once). */
export type LiveFeedEvent =
  | { readonly type: 'transition'; readonly transition: LiveTransition }
  | { readonly type: 'skipped'; readonly after: string }

export interface LiveFeedOptions {
  /**
   * How often the outbox is read while someone listens, for transitions other processes
   * commit (this process's own wake the feed at once, see kick). Default 2000 ms.
   */
  readonly pollMs?: number
  /** At most this many transitions per read; beyond, the rest of the burst is skipped. Default 500. */
  readonly maxPerRead?: number
  /** Default: real timers. */
  readonly timers?: TimerHost
  readonly onError?: (e: unknown) => void
}

type Listener = (e: LiveFeedEvent) => void

/** How soon a read held back by an earlier open transaction is tried again. */
const HELD_RETRY_MS = 250

/**
 * The transition outbox as a live feed, for people watching (the dashboard): one reader for
 * every subscriber of every workspace, running only while someone listens. It reads like the
 * webhook consumer (position order, up to the horizon, so a transaction committing late is not
 * passed over) but keeps no cursor: a new subscriber sees what is committed from then on, and
 * a burst larger than `maxPerRead` is reported as skipped rather than queued for a browser.
 * @example
 * const off = feed.subscribe('default', (e) => console.log(e))
 * off()
 */
export class LiveFeed {
  private readonly listeners = new Map<string, Set<Listener>>()
  private readonly pump: Pump
  /** Where the next read starts; null while nobody listens. */
  private cursor: OutboxPosition | null = null
  private starting: Promise<void> | null = null
  /** The last read found committed transitions beyond the horizon (read again soon). */
  private held = false
  private readonly pollMs: number
  private readonly maxPerRead: number

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    options: LiveFeedOptions = {},
  ) {
    this.pollMs = options.pollMs ?? 2000
    this.maxPerRead = options.maxPerRead ?? 500
    this.pump = new Pump(
      clock,
      options.timers ?? realTimers,
      () => this.read(),
      async () =>
        this.size() > 0 ? this.clock.now() + (this.held ? HELD_RETRY_MS : this.pollMs) : null,
      options.onError,
    )
  }

  /**
   * Calls `listener` with the workspace's transitions committed from now on (resolves once
   * "now" is placed); returns the unsubscribe.
   */
  async subscribe(workspaceId: string, listener: Listener): Promise<() => void> {
    const set = this.listeners.get(workspaceId) ?? new Set()
    set.add(listener)
    this.listeners.set(workspaceId, set)
    if (this.cursor === null) {
      this.starting ??= this.store.delivery
        .outboxHorizon()
        .then((h) => {
          this.cursor ??= h
          this.pump.start()
        })
        .finally(() => {
          this.starting = null
        })
      await this.starting
    }
    return () => {
      set.delete(listener)
      if (set.size === 0) this.listeners.delete(workspaceId)
      if (this.size() === 0) {
        this.cursor = null
        void this.pump.stop()
      }
    }
  }

  /** Transitions were committed in this process: read now. */
  kick(): void {
    this.pump.kick()
  }

  async close(): Promise<void> {
    this.listeners.clear()
    this.cursor = null
    await this.pump.stop()
  }

  private size(): number {
    let n = 0
    for (const s of this.listeners.values()) n += s.size
    return n
  }

  private async read(): Promise<void> {
    if (this.size() === 0) return
    if (this.cursor === null) return
    // A kick comes from inside the transaction that wrote the transitions: read after it, and
    // (PostgreSQL) once the horizon has passed them — a transaction that began earlier, in any
    // database of the cluster, holds it back; waited for briefly, then the next poll reads on.
    await this.store.afterWrites()
    this.held = !(await this.store.delivery.settleOutbox())
    const horizon = await this.store.delivery.outboxHorizon()
    const rows = await this.store.delivery.outboxBetween(this.cursor, horizon, this.maxPerRead)
    // Everything up to the horizon is read, or (a burst) skipped.
    const full = rows.length === this.maxPerRead
    this.cursor = horizon
    await this.publish(rows)
    if (full) {
      const after = positionId(horizon)
      for (const set of this.listeners.values()) for (const l of set) l({ type: 'skipped', after })
    }
  }

  private async publish(rows: readonly StoredTransition[]): Promise<void> {
    const byWorkspace = new Map<string, StoredTransition[]>()
    for (const t of rows) {
      if (!this.listeners.has(t.workspaceId)) continue
      const list = byWorkspace.get(t.workspaceId) ?? []
      list.push(t)
      byWorkspace.set(t.workspaceId, list)
    }
    for (const [ws, list] of byWorkspace) {
      const ids = [...new Set(list.map((t) => t.profileId))]
      const identities = await this.store.identitiesOf(ws, ids)
      const first = (id: string, kind: 'user' | 'anonymous') =>
        identities.find((i) => i.profileId === id && i.kind === kind)?.value ?? null
      for (const t of list) {
        const transition: LiveTransition = {
          id: positionId(t),
          segment: t.segmentKey,
          profileId: t.profileId,
          userId: first(t.profileId, 'user'),
          anonymousId: first(t.profileId, 'anonymous'),
          kind: t.type === 'segment.entered' ? 'entered' : 'exited',
          at: new Date(t.at).toISOString(),
          reason: t.reason,
          historical: t.historical,
        }
        for (const l of this.listeners.get(ws) ?? []) l({ type: 'transition', transition })
      }
    }
  }
}

function positionId(p: OutboxPosition | StoredTransition): string {
  return 'txid' in p ? `${p.txid}.${p.seq}` : `${p.tx}.${p.seq}`
}
