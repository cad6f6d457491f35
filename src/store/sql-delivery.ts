import { setTimeout as sleep } from 'node:timers/promises'
import type { JsonValue } from '../shared/json.js'
import { PLAINTEXT } from '../shared/sealer.js'
import type { Sealer } from '../shared/sealer.js'
import { num, strOrNull, toIdentity, toTransition } from './rows.js'
import { OUTBOX_START } from './outbox.js'
import type { OutboxMark, OutboxPosition } from './outbox.js'
import type { DialectHooks, Row, SqlConnection } from './sql-connection.js'
import type {
  AttemptRecord,
  DeliveryReads,
  DeliveryRecord,
  DeliveryStatus,
  DeliveryTx,
  IdentityRecord,
  StoredTransition,
  TransitionType,
  WaitingDelivery,
  WebhookRecord,
  WebhookSecret,
} from './store.js'

const parse = (v: unknown) => (v === null || v === undefined ? null : JSON.parse(String(v)))

function toWebhook(r: Row, sealer: Sealer): WebhookRecord {
  return {
    workspaceId: String(r.workspace_id),
    id: String(r.id),
    url: String(r.url),
    secrets: JSON.parse(sealer.open(String(r.secrets))) as WebhookSecret[],
    segments: parse(r.segments) as string[] | null,
    types: parse(r.types) as TransitionType[] | null,
    status: r.status === 'disabled' ? 'disabled' : 'active',
    disabledReason: strOrNull(r.disabled_reason),
    maxInFlight: num(r.max_in_flight),
    history: r.history === 'skip' ? 'skip' : 'send',
    from: { seq: num(r.from_seq), snapshot: strOrNull(r.from_snapshot) },
    createdAt: num(r.created_at),
    updatedAt: num(r.updated_at),
  }
}

function toDelivery(r: Row): DeliveryRecord {
  return {
    workspaceId: String(r.workspace_id),
    id: String(r.id),
    destination: String(r.destination),
    profileId: String(r.profile_id),
    transitionSeq: num(r.transition_seq),
    payload: parse(r.payload) as JsonValue,
    status: String(r.status) as DeliveryStatus,
    attempts: num(r.attempts),
    nextAttemptAt: num(r.next_attempt_at),
    lastStatus: r.last_status === null || r.last_status === undefined ? null : num(r.last_status),
    lastError: strOrNull(r.last_error),
    createdAt: num(r.created_at),
    updatedAt: num(r.updated_at),
  }
}

function toAttempt(r: Row): AttemptRecord {
  return {
    workspaceId: String(r.workspace_id),
    deliveryId: String(r.delivery_id),
    attempt: num(r.attempt),
    at: num(r.at),
    status: r.status === null || r.status === undefined ? null : num(r.status),
    error: strOrNull(r.error),
    durationMs: num(r.duration_ms),
  }
}

/**
 * The oldest pending delivery of the same destination and person as `deliveries` (the row of
 * the enclosing statement), if it is earlier: what `deliveries` waits behind.
 */
const EARLIER = (column: string) => `(SELECT e.${column} FROM deliveries e
  WHERE e.workspace_id = deliveries.workspace_id AND e.destination = deliveries.destination
    AND e.profile_id = deliveries.profile_id AND e.status = 'pending'
    AND e.transition_seq < deliveries.transition_seq
  ORDER BY e.transition_seq LIMIT 1)`

/**
 * One destination's pending deliveries due by now, in due order, each with the next attempt of
 * the earlier one it waits behind (null: it waits for nothing and can be sent). Bounded: an
 * index range scan (deliveries_pending_due) of at most LIMIT rows, each with one probe of
 * deliveries_pending_order.
 */
export const DUE_DELIVERIES_SQL = `SELECT deliveries.*, ${EARLIER('next_attempt_at')} AS waiting_until FROM deliveries
  WHERE workspace_id = ? AND destination = ? AND status = 'pending' AND next_attempt_at <= ?
  ORDER BY next_attempt_at, transition_seq LIMIT ?`

/** Ends a pending delivery's wait (see deferDeliveries) once the one it waited behind ends. */
const RELEASE = `UPDATE deliveries SET next_attempt_at = ?
  WHERE workspace_id = ? AND status = 'pending' AND attempts = 0 AND next_attempt_at > ?
    AND id = (SELECT e.id FROM deliveries e WHERE e.workspace_id = ? AND e.destination = ?
      AND e.profile_id = ? AND e.status = 'pending' ORDER BY e.transition_seq LIMIT 1)`

/** The outbox horizon on connection `c` (in a transaction or not). */
async function readHorizon(c: SqlConnection, h: DialectHooks): Promise<OutboxPosition> {
  const row = (await c.all(h.outbox.horizon))[0]
  return { tx: Number(row?.tx ?? 0), seq: Number(row?.seq ?? 0) }
}

/** Transitions in (after, upTo], in position order; with `segments`, only those keys. */
async function readBetween(
  c: SqlConnection,
  h: DialectHooks,
  after: OutboxPosition,
  upTo: OutboxPosition,
  limit: number,
  segments: readonly string[] | null,
): Promise<StoredTransition[]> {
  const o = h.outbox
  const params = o.rangeParams(after, upTo)
  const rows =
    segments === null
      ? await c.all(`SELECT * FROM transitions WHERE ${o.range} ORDER BY ${o.order} LIMIT ?`, [
          ...params,
          limit,
        ])
      : await c.all(
          `SELECT * FROM transitions WHERE ${o.range} AND segment_key ${h.inArray('?')}
           ORDER BY ${o.order} LIMIT ?`,
          [...params, h.arrayParam(segments), limit],
        )
  return rows.map(toTransition)
}

/** How many times, 5 ms apart, settleOutbox looks again (about 2 s in all). */
const SETTLE_ROUNDS = 400

export class SqlDeliveryTx implements DeliveryTx {
  constructor(
    private readonly c: SqlConnection,
    private readonly h: DialectHooks,
    /** How webhook secrets are sealed at rest. */
    private readonly sealer: () => Sealer = () => PLAINTEXT,
  ) {}

  async outboxCursor(name: string): Promise<OutboxPosition> {
    const rows = await this.c.all(`SELECT tx, seq FROM outbox_cursors WHERE name = ?`, [name])
    return rows[0] ? { tx: num(rows[0].tx), seq: num(rows[0].seq) } : OUTBOX_START
  }

  async setOutboxCursor(name: string, p: OutboxPosition): Promise<void> {
    await this.c.run(
      `INSERT INTO outbox_cursors (name, tx, seq) VALUES (?, ?, ?)
       ON CONFLICT (name) DO UPDATE SET tx = excluded.tx, seq = excluded.seq`,
      [name, p.tx, p.seq],
    )
  }

  outboxHorizon(): Promise<OutboxPosition> {
    return readHorizon(this.c, this.h)
  }

  outboxBetween(
    after: OutboxPosition,
    upTo: OutboxPosition,
    limit: number,
    segments: readonly string[] | null,
  ): Promise<StoredTransition[]> {
    return readBetween(this.c, this.h, after, upTo, limit, segments)
  }

  async outboxMark(): Promise<OutboxMark> {
    const row = (await this.c.all(this.h.outbox.mark))[0]
    return { seq: num(row?.seq ?? 0), snapshot: strOrNull(row?.snapshot) }
  }

  async transitionsAfter(seq: number, limit: number): Promise<StoredTransition[]> {
    const rows = await this.c.all(`SELECT * FROM transitions WHERE seq > ? ORDER BY seq LIMIT ?`, [
      seq,
      limit,
    ])
    return rows.map(toTransition)
  }

  async latestTransitionSeq(): Promise<number> {
    const rows = await this.c.all(`SELECT MAX(seq) AS seq FROM transitions`)
    const seq = rows[0]?.seq
    return seq === null || seq === undefined ? 0 : num(seq)
  }

  async identitiesOf(
    workspaceId: string,
    profileIds: readonly string[],
  ): Promise<IdentityRecord[]> {
    if (profileIds.length === 0) return []
    const rows = await this.c.all(
      `SELECT * FROM identities WHERE workspace_id = ? AND profile_id ${this.h.inArray('?')} ORDER BY created_at, value`,
      [workspaceId, this.h.arrayParam(profileIds)],
    )
    return rows.map(toIdentity)
  }

  async listWebhooks(workspaceId?: string): Promise<WebhookRecord[]> {
    const rows =
      workspaceId === undefined
        ? await this.c.all(`SELECT * FROM webhooks ORDER BY workspace_id, id`)
        : await this.c.all(`SELECT * FROM webhooks WHERE workspace_id = ? ORDER BY id`, [
            workspaceId,
          ])
    return rows.map((r) => toWebhook(r, this.sealer()))
  }

  async upsertWebhook(w: WebhookRecord): Promise<void> {
    await this.c.insertMany(
      `INSERT INTO webhooks (workspace_id, id, url, secrets, segments, types, status, disabled_reason, max_in_flight, history, from_seq, from_snapshot, created_at, updated_at)`,
      [
        [
          w.workspaceId,
          w.id,
          w.url,
          this.sealer().seal(JSON.stringify(w.secrets)),
          w.segments === null ? null : JSON.stringify(w.segments),
          w.types === null ? null : JSON.stringify(w.types),
          w.status,
          w.disabledReason,
          w.maxInFlight,
          w.history,
          w.from.seq,
          w.from.snapshot,
          w.createdAt,
          w.updatedAt,
        ],
      ],
      `ON CONFLICT (workspace_id, id) DO UPDATE SET url = excluded.url, secrets = excluded.secrets,
         segments = excluded.segments, types = excluded.types, status = excluded.status,
         disabled_reason = excluded.disabled_reason, max_in_flight = excluded.max_in_flight,
         history = excluded.history, updated_at = excluded.updated_at`,
    )
  }

  async deleteWebhook(workspaceId: string, id: string): Promise<void> {
    await this.c.run(`DELETE FROM webhooks WHERE workspace_id = ? AND id = ?`, [workspaceId, id])
  }

  insertDeliveries(rows: readonly DeliveryRecord[]): Promise<number> {
    return this.c.insertMany(
      `INSERT INTO deliveries (workspace_id, id, destination, profile_id, transition_seq, payload, status,
         attempts, next_attempt_at, last_status, last_error, created_at, updated_at)`,
      rows.map((d) => [
        d.workspaceId,
        d.id,
        d.destination,
        d.profileId,
        d.transitionSeq,
        JSON.stringify(d.payload),
        d.status,
        d.attempts,
        d.nextAttemptAt,
        d.lastStatus,
        d.lastError,
        d.createdAt,
        d.updatedAt,
      ]),
      `ON CONFLICT (workspace_id, id) DO NOTHING`,
    )
  }

  async deferDeliveries(rows: readonly WaitingDelivery[]): Promise<number> {
    let moved = 0
    const byWs = new Map<string, string[]>()
    for (const r of rows)
      (byWs.get(r.workspaceId) ?? byWs.set(r.workspaceId, []).get(r.workspaceId)!).push(r.id)
    for (const [ws, ids] of byWs) {
      moved += await this.c.matchMany(
        `UPDATE deliveries SET next_attempt_at = ${EARLIER('next_attempt_at')}
         WHERE workspace_id = ? AND status = 'pending'
           AND next_attempt_at < COALESCE(${EARLIER('next_attempt_at')}, 0)`,
        [ws],
        ['id'],
        ids.map((id) => [id]),
      )
    }
    return moved
  }

  async updateDelivery(d: DeliveryRecord): Promise<void> {
    await this.c.run(
      `UPDATE deliveries SET status = ?, attempts = ?, next_attempt_at = ?, last_status = ?, last_error = ?, updated_at = ?
       WHERE workspace_id = ? AND id = ?`,
      [
        d.status,
        d.attempts,
        d.nextAttemptAt,
        d.lastStatus,
        d.lastError,
        d.updatedAt,
        d.workspaceId,
        d.id,
      ],
    )
    if (d.status !== 'pending')
      await this.release(d.workspaceId, d.destination, d.profileId, d.updatedAt)
  }

  /** The next pending delivery to this person, if it was deferred, is due at `at` instead. */
  private async release(
    ws: string,
    destination: string,
    profileId: string,
    at: number,
  ): Promise<void> {
    await this.c.run(RELEASE, [at, ws, at, ws, destination, profileId])
  }

  async insertAttempt(a: AttemptRecord): Promise<void> {
    await this.c.run(
      `INSERT INTO delivery_attempts (workspace_id, delivery_id, attempt, at, status, error, duration_ms)
       VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (workspace_id, delivery_id, attempt) DO NOTHING`,
      [a.workspaceId, a.deliveryId, a.attempt, a.at, a.status, a.error, a.durationMs],
    )
  }

  async replayDeliveries(
    workspaceId: string,
    destination: string,
    ids: readonly string[] | null,
    at: number,
  ): Promise<number> {
    const only = ids === null ? '' : ` AND id ${this.h.inArray('?')}`
    const params = [
      at,
      at,
      workspaceId,
      destination,
      ...(ids === null ? [] : [this.h.arrayParam(ids)]),
    ]
    // Pending ones waiting for a later attempt are due now; they keep their attempt count, so a
    // failure carries on along the retry schedule. One waiting behind an earlier delivery to
    // the same person still goes after it (due-picking checks that, whatever its due time).
    const waiting = await this.c.run(
      `UPDATE deliveries SET next_attempt_at = ?, updated_at = ?
        WHERE workspace_id = ? AND destination = ? AND status = 'pending' AND next_attempt_at > ?${only}`,
      [at, at, workspaceId, destination, at, ...(ids === null ? [] : [this.h.arrayParam(ids)])],
    )
    // Failed and exhausted ones start the schedule over.
    const ended = await this.c.run(
      `UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = ?, updated_at = ?
        WHERE workspace_id = ? AND destination = ? AND status IN ('failed', 'exhausted')${only}`,
      params,
    )
    return waiting + ended
  }

  async deleteDelivery(workspaceId: string, id: string): Promise<void> {
    const [gone] = await this.c.all(
      `SELECT destination, profile_id, updated_at FROM deliveries WHERE workspace_id = ? AND id = ?`,
      [workspaceId, id],
    )
    await this.c.run(`DELETE FROM delivery_attempts WHERE workspace_id = ? AND delivery_id = ?`, [
      workspaceId,
      id,
    ])
    await this.c.run(`DELETE FROM deliveries WHERE workspace_id = ? AND id = ?`, [workspaceId, id])
    if (gone)
      await this.release(
        workspaceId,
        String(gone.destination),
        String(gone.profile_id),
        num(gone.updated_at),
      )
  }

  async cancelDeliveries(workspaceId: string, destination: string, at: number): Promise<number> {
    // Erasure notices (their person is gone) are not kept as cancelled: they carry the ids.
    const erased = `status = 'pending' AND NOT EXISTS (SELECT 1 FROM profiles p
        WHERE p.workspace_id = deliveries.workspace_id AND p.id = deliveries.profile_id)`
    await this.c.run(
      `DELETE FROM delivery_attempts WHERE workspace_id = ? AND delivery_id IN (
         SELECT id FROM deliveries WHERE workspace_id = ? AND destination = ? AND ${erased})`,
      [workspaceId, workspaceId, destination],
    )
    const dropped = await this.c.run(
      `DELETE FROM deliveries WHERE workspace_id = ? AND destination = ? AND ${erased}`,
      [workspaceId, destination],
    )
    return dropped + (await this.cancelPending(workspaceId, destination, at))
  }

  private cancelPending(workspaceId: string, destination: string, at: number): Promise<number> {
    return this.c.run(
      `UPDATE deliveries SET status = 'cancelled', updated_at = ? WHERE workspace_id = ? AND destination = ? AND status = 'pending'`,
      [at, workspaceId, destination],
    )
  }
}

export class SqlDeliveryReads implements DeliveryReads {
  constructor(
    private readonly reader: () => SqlConnection,
    private readonly h: () => DialectHooks,
    private readonly sealer: () => Sealer = () => PLAINTEXT,
  ) {}

  async getWebhook(workspaceId: string, id: string): Promise<WebhookRecord | null> {
    const rows = await this.reader().all(
      `SELECT * FROM webhooks WHERE workspace_id = ? AND id = ?`,
      [workspaceId, id],
    )
    return rows[0] ? toWebhook(rows[0], this.sealer()) : null
  }

  async listWebhooks(workspaceId: string): Promise<WebhookRecord[]> {
    const rows = await this.reader().all(
      `SELECT * FROM webhooks WHERE workspace_id = ? ORDER BY id`,
      [workspaceId],
    )
    return rows.map((r) => toWebhook(r, this.sealer()))
  }

  async listDeliveries(
    workspaceId: string,
    destination: string,
    q: { status?: DeliveryStatus; limit: number; after?: string | null },
  ): Promise<DeliveryRecord[]> {
    const where = ['workspace_id = ?', 'destination = ?', 'id > ?']
    const params: unknown[] = [workspaceId, destination, q.after ?? '']
    if (q.status !== undefined) {
      where.push('status = ?')
      params.push(q.status)
    }
    params.push(q.limit)
    const rows = await this.reader().all(
      `SELECT * FROM deliveries WHERE ${where.join(' AND ')} ORDER BY id LIMIT ?`,
      params,
    )
    return rows.map(toDelivery)
  }

  async attemptsOf(workspaceId: string, deliveryIds: readonly string[]): Promise<AttemptRecord[]> {
    if (deliveryIds.length === 0) return []
    const rows = await this.reader().all(
      `SELECT * FROM delivery_attempts WHERE workspace_id = ? AND delivery_id ${this.h().inArray('?')} ORDER BY delivery_id, attempt`,
      [workspaceId, this.h().arrayParam(deliveryIds)],
    )
    return rows.map(toAttempt)
  }

  async nextDeliveryDue(): Promise<number | null> {
    // Per active destination, the first entry of deliveries_pending_due: one probe each.
    const rows = await this.reader().all(
      `SELECT MIN(s.due) AS due FROM (SELECT (SELECT MIN(d.next_attempt_at) FROM deliveries d
         WHERE d.workspace_id = w.workspace_id AND d.destination = 'webhook:' || w.id
           AND d.status = 'pending') AS due
       FROM webhooks w WHERE w.status = 'active') s`,
    )
    const due = rows[0]?.due
    return due === null || due === undefined ? null : num(due)
  }

  async dueDeliveries(
    now: number,
    limit: number,
  ): Promise<{ due: DeliveryRecord[]; waiting: WaitingDelivery[] }> {
    const r = this.reader()
    const hooks = await r.all(
      `SELECT workspace_id, id FROM webhooks WHERE status = 'active' ORDER BY workspace_id, id`,
    )
    const due: DeliveryRecord[] = []
    const waiting: WaitingDelivery[] = []
    // One destination at a time: each read is an index range of at most `limit` rows, and a
    // disabled endpoint's backlog is never read at all.
    for (const h of hooks) {
      const rows = await r.all(DUE_DELIVERIES_SQL, [
        h.workspace_id,
        `webhook:${String(h.id)}`,
        now,
        limit,
      ])
      for (const row of rows) {
        if (row.waiting_until === null || row.waiting_until === undefined) due.push(toDelivery(row))
        else if (num(row.waiting_until) > num(row.next_attempt_at))
          waiting.push({ workspaceId: String(row.workspace_id), id: String(row.id) })
      }
    }
    due.sort((a, b) => a.nextAttemptAt - b.nextAttemptAt || a.transitionSeq - b.transitionSeq)
    return { due: due.slice(0, limit), waiting: waiting.slice(0, limit) }
  }

  outboxHorizon(): Promise<OutboxPosition> {
    return readHorizon(this.reader(), this.h())
  }

  outboxBetween(
    after: OutboxPosition,
    upTo: OutboxPosition,
    limit: number,
  ): Promise<StoredTransition[]> {
    return readBetween(this.reader(), this.h(), after, upTo, limit, null)
  }

  async settleOutbox(): Promise<boolean> {
    const held = this.h().outbox.held
    if (held === null) return true
    for (let i = 0; i < SETTLE_ROUNDS; i++) {
      const rows = await this.reader().all(held)
      if (rows[0]?.held !== true) return true
      // Another database transaction is what this waits for: real time, not the clock's.
      await sleep(5)
    }
    return false
  }
}
