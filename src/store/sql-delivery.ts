import type { JsonValue } from '../shared/json.js'
import { PLAINTEXT } from '../shared/sealer.js'
import type { Sealer } from '../shared/sealer.js'
import { num, strOrNull, toIdentity, toTransition } from './rows.js'
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
    fromSeq: num(r.from_seq),
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

/** Deliveries due to active webhooks, each the oldest pending for its destination and person. */
const DUE = `SELECT d.* FROM deliveries d
  JOIN webhooks w ON w.workspace_id = d.workspace_id AND d.destination = 'webhook:' || w.id AND w.status = 'active'
  WHERE d.status = 'pending' AND d.next_attempt_at <= ?
    AND NOT EXISTS (SELECT 1 FROM deliveries e WHERE e.workspace_id = d.workspace_id
      AND e.destination = d.destination AND e.profile_id = d.profile_id AND e.status = 'pending'
      AND e.transition_seq < d.transition_seq)
  ORDER BY d.next_attempt_at, d.transition_seq LIMIT ?`

export class SqlDeliveryTx implements DeliveryTx {
  constructor(
    private readonly c: SqlConnection,
    private readonly h: DialectHooks,
    /** How webhook secrets are sealed at rest. */
    private readonly sealer: () => Sealer = () => PLAINTEXT,
  ) {}

  async outboxCursor(name: string): Promise<number> {
    const rows = await this.c.all(`SELECT seq FROM outbox_cursors WHERE name = ?`, [name])
    return rows[0] ? num(rows[0].seq) : 0
  }

  async setOutboxCursor(name: string, seq: number): Promise<void> {
    await this.c.run(
      `INSERT INTO outbox_cursors (name, seq) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET seq = excluded.seq`,
      [name, seq],
    )
  }

  async transitionsAfter(
    seq: number,
    limit: number,
    filter?: { readonly segments: readonly string[]; readonly upTo: number },
  ): Promise<StoredTransition[]> {
    const rows = filter
      ? await this.c.all(
          `SELECT * FROM transitions WHERE seq > ? AND seq <= ? AND segment_key ${this.h.inArray('?')}
           ORDER BY seq LIMIT ?`,
          [seq, filter.upTo, this.h.arrayParam(filter.segments), limit],
        )
      : await this.c.all(`SELECT * FROM transitions WHERE seq > ? ORDER BY seq LIMIT ?`, [
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
      `INSERT INTO webhooks (workspace_id, id, url, secrets, segments, types, status, disabled_reason, max_in_flight, from_seq, created_at, updated_at)`,
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
          w.fromSeq,
          w.createdAt,
          w.updatedAt,
        ],
      ],
      `ON CONFLICT (workspace_id, id) DO UPDATE SET url = excluded.url, secrets = excluded.secrets,
         segments = excluded.segments, types = excluded.types, status = excluded.status,
         disabled_reason = excluded.disabled_reason, max_in_flight = excluded.max_in_flight,
         updated_at = excluded.updated_at`,
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

  async dueDeliveries(now: number, limit: number): Promise<DeliveryRecord[]> {
    return (await this.c.all(DUE, [now, limit])).map(toDelivery)
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
    const head = `UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = ?, updated_at = ?
      WHERE workspace_id = ? AND destination = ? AND status IN ('failed', 'exhausted')`
    if (ids === null) return this.c.run(head, [at, at, workspaceId, destination])
    return this.c.run(`${head} AND id ${this.h.inArray('?')}`, [
      at,
      at,
      workspaceId,
      destination,
      this.h.arrayParam(ids),
    ])
  }

  async deleteDelivery(workspaceId: string, id: string): Promise<void> {
    await this.c.run(`DELETE FROM delivery_attempts WHERE workspace_id = ? AND delivery_id = ?`, [
      workspaceId,
      id,
    ])
    await this.c.run(`DELETE FROM deliveries WHERE workspace_id = ? AND id = ?`, [workspaceId, id])
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
    private readonly h: DialectHooks,
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
      `SELECT * FROM delivery_attempts WHERE workspace_id = ? AND delivery_id ${this.h.inArray('?')} ORDER BY delivery_id, attempt`,
      [workspaceId, this.h.arrayParam(deliveryIds)],
    )
    return rows.map(toAttempt)
  }

  async nextDeliveryDue(): Promise<number | null> {
    const rows = await this.reader().all(
      `SELECT MIN(d.next_attempt_at) AS due FROM deliveries d
       JOIN webhooks w ON w.workspace_id = d.workspace_id AND d.destination = 'webhook:' || w.id AND w.status = 'active'
       WHERE d.status = 'pending'`,
    )
    const due = rows[0]?.due
    return due === null || due === undefined ? null : num(due)
  }
}
