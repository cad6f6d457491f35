import { SegflowError } from '../shared/errors.js'
import type { JsonObject } from '../shared/json.js'
import { MIGRATIONS, MIGRATIONS_TABLE, migrationStatements } from './migrations.js'
import type {
  ApiKeyRecord,
  EventQuery,
  EventRecord,
  IdentityKind,
  IdentityRecord,
  MergeRecord,
  MergeReason,
  MessageType,
  Page,
  ProfileRecord,
  Store,
  StoreKind,
  StoredEvent,
  Workspace,
  WriteTx,
} from './store.js'

export type Row = Record<string, unknown>

/**
 * One connection's worth of SQL, written with `?` placeholders. The dialects differ only in
 * how they run statements and in the few hooks below; every query is shared.
 */
export interface SqlConnection {
  all(sql: string, params?: readonly unknown[]): Promise<Row[]>
  run(sql: string, params?: readonly unknown[]): Promise<number>
  /**
   * `head VALUES (?, …), (?, …) tail` for many rows; returns the rows affected. SQLite runs a
   * prepared one-row statement per row, PostgreSQL sends multi-row statements.
   */
  insertMany(head: string, rows: readonly (readonly unknown[])[], tail: string): Promise<number>
}

/** The small places where the SQL itself differs between dialects. */
export interface DialectHooks {
  /** A predicate fragment testing `column` against one bound array parameter. */
  inArray(column: string): string
  /** How an array is bound for `inArray`. */
  arrayParam(values: readonly string[]): unknown
  /** A JSON column value as read back from the driver. */
  decodeJson(value: unknown): unknown
}

/** A promise-chain mutex: one write transaction at a time per store. */
class Mutex {
  private tail: Promise<unknown> = Promise.resolve()
  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn, fn)
    this.tail = result.catch(() => undefined)
    return result
  }
}

const EVENT_COLUMNS =
  'workspace_id, message_id, profile_id, type, name, ts, received_at, user_id, anonymous_id, properties, traits, payload'
const PROFILE_COLUMNS =
  'workspace_id, id, user_id, traits, trait_times, first_seen, last_seen, created_at, updated_at, merged_into'

/**
 * The Store shared by both dialects. Subclasses provide the connections (a reader for
 * queries outside transactions, a writer inside them) and the dialect hooks.
 */
export abstract class SqlStore implements Store {
  abstract readonly kind: StoreKind
  protected abstract readonly hooks: DialectHooks
  private readonly mutex = new Mutex()

  /** The connection for reads outside a write transaction. */
  protected abstract reader(): SqlConnection
  /** Begin, run, commit (or roll back on error) on the write connection. */
  protected abstract transaction<T>(fn: (conn: SqlConnection) => Promise<T>): Promise<T>
  /** Serialises concurrent migrators (other processes) and creates what the DDL needs first. */
  protected abstract prepareMigration(conn: SqlConnection): Promise<void>
  protected abstract closeConnections(): Promise<void>

  private closing: Promise<void> | null = null

  /** Waits for the write in progress, then closes. Closing twice is harmless. */
  close(): Promise<void> {
    this.closing ??= this.mutex.run(() => this.closeConnections())
    return this.closing
  }

  /** Runs `fn` in a transaction, one at a time in this process. */
  protected exclusive<T>(fn: (conn: SqlConnection) => Promise<T>): Promise<T> {
    return this.mutex.run(() => this.transaction(fn))
  }

  async migrate(): Promise<number[]> {
    return this.exclusive(async (conn) => {
      await this.prepareMigration(conn)
      await conn.run(
        `CREATE TABLE IF NOT EXISTS ${MIGRATIONS_TABLE} (
          version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at ${this.kind === 'sqlite' ? 'INTEGER' : 'BIGINT'} NOT NULL
        )`,
      )
      const done = new Set(
        (await conn.all(`SELECT version FROM ${MIGRATIONS_TABLE}`)).map((r) => Number(r.version)),
      )
      const applied: number[] = []
      for (const m of MIGRATIONS) {
        if (done.has(m.version)) continue
        for (const stmt of migrationStatements(this.kind, m)) await conn.run(stmt)
        // Migrations are the one place a wall-clock time is recorded without a Clock: it is
        // bookkeeping for operators, never read by segflow.
        await conn.run(
          `INSERT INTO ${MIGRATIONS_TABLE} (version, name, applied_at) VALUES (?, ?, ?)`,
          [m.version, m.name, new Date().getTime()],
        )
        applied.push(m.version)
      }
      return applied
    })
  }

  async schemaVersion(): Promise<number> {
    const rows = await this.reader()
      .all(`SELECT MAX(version) AS v FROM ${MIGRATIONS_TABLE}`)
      .catch(() => [])
    return Number(rows[0]?.v ?? 0)
  }

  write<T>(fn: (tx: WriteTx) => Promise<T>): Promise<T> {
    return this.exclusive((conn) => fn(new SqlWriteTx(conn, this.hooks)))
  }

  // ---- workspaces and keys -------------------------------------------------------------

  async ensureWorkspace(ws: Workspace): Promise<boolean> {
    const n = await this.exclusive((c) =>
      c.run(
        `INSERT INTO workspaces (id, name, created_at) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING`,
        [ws.id, ws.name, ws.createdAt],
      ),
    )
    return n > 0
  }

  async getWorkspace(id: string): Promise<Workspace | null> {
    const rows = await this.reader().all(`SELECT * FROM workspaces WHERE id = ?`, [id])
    return rows[0] ? toWorkspace(rows[0]) : null
  }

  async listWorkspaces(): Promise<Workspace[]> {
    return (await this.reader().all(`SELECT * FROM workspaces ORDER BY created_at, id`)).map(
      toWorkspace,
    )
  }

  async insertApiKey(k: ApiKeyRecord): Promise<void> {
    await this.exclusive((c) =>
      c.run(
        `INSERT INTO api_keys (id, workspace_id, kind, name, hash, prefix, created_at, revoked_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
        [k.id, k.workspaceId, k.kind, k.name, k.hash, k.prefix, k.createdAt, k.revokedAt],
      ),
    )
  }

  async findApiKeyByHash(hash: string): Promise<ApiKeyRecord | null> {
    const rows = await this.reader().all(`SELECT * FROM api_keys WHERE hash = ?`, [hash])
    return rows[0] ? toApiKey(rows[0]) : null
  }

  async getApiKey(id: string): Promise<ApiKeyRecord | null> {
    const rows = await this.reader().all(`SELECT * FROM api_keys WHERE id = ?`, [id])
    return rows[0] ? toApiKey(rows[0]) : null
  }

  async listApiKeys(workspaceId?: string): Promise<ApiKeyRecord[]> {
    const rows =
      workspaceId === undefined
        ? await this.reader().all(`SELECT * FROM api_keys ORDER BY created_at, id`)
        : await this.reader().all(
            `SELECT * FROM api_keys WHERE workspace_id = ? ORDER BY created_at, id`,
            [workspaceId],
          )
    return rows.map(toApiKey)
  }

  async revokeApiKey(id: string, at: number): Promise<boolean> {
    const n = await this.exclusive((c) =>
      c.run(`UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, [at, id]),
    )
    return n > 0
  }

  // ---- profiles and events ---------------------------------------------------------------

  async resolveProfileId(workspaceId: string, ref: string): Promise<string | null> {
    const r = this.reader()
    const ids = await r.all(
      `SELECT kind, value, profile_id FROM identities WHERE workspace_id = ? AND value IN (?, ?)`,
      [workspaceId, ref, ref.toLowerCase()],
    )
    // A userId is the strongest claim on a string, an email (matched case-insensitively) the weakest.
    const rank: Record<IdentityKind, number> = { user: 0, anonymous: 1, alias: 2, email: 3 }
    let best: Row | undefined
    for (const row of ids) {
      const kind = row.kind as IdentityKind
      if (kind !== 'email' && row.value !== ref) continue
      if (!best || rank[kind] < rank[best.kind as IdentityKind]) best = row
    }
    if (best) return String(best.profile_id)
    const rows = await r.all(
      `SELECT id, merged_into FROM profiles WHERE workspace_id = ? AND id = ?`,
      [workspaceId, ref],
    )
    const row = rows[0]
    if (!row) return null
    return String(row.merged_into ?? row.id)
  }

  async getProfile(workspaceId: string, profileId: string): Promise<ProfileRecord | null> {
    const rows = await this.reader().all(
      `SELECT ${PROFILE_COLUMNS} FROM profiles WHERE workspace_id = ? AND id = ?`,
      [workspaceId, profileId],
    )
    return rows[0] ? toProfile(rows[0], this.hooks) : null
  }

  async listIdentities(workspaceId: string, profileId: string): Promise<IdentityRecord[]> {
    const rows = await this.reader().all(
      `SELECT * FROM identities WHERE workspace_id = ? AND profile_id = ? ORDER BY created_at, kind, value`,
      [workspaceId, profileId],
    )
    return rows.map(toIdentity)
  }

  async listMerges(workspaceId: string, profileId: string): Promise<MergeRecord[]> {
    const rows = await this.reader().all(
      `SELECT * FROM merges WHERE workspace_id = ? AND into_profile_id = ? ORDER BY at, id`,
      [workspaceId, profileId],
    )
    return rows.map(toMerge)
  }

  async listEvents(workspaceId: string, q: EventQuery): Promise<Page<StoredEvent>> {
    const where = ['workspace_id = ?']
    const params: unknown[] = [workspaceId]
    if (q.profileId !== undefined) {
      where.push('profile_id = ?')
      params.push(q.profileId)
    }
    if (q.cursor) {
      const [ts, seq] = decodeCursor(q.cursor)
      where.push('(ts < ? OR (ts = ? AND seq < ?))')
      params.push(ts, ts, seq)
    }
    params.push(q.limit + 1)
    const rows = await this.reader().all(
      `SELECT seq, ${EVENT_COLUMNS} FROM events WHERE ${where.join(' AND ')} ORDER BY ts DESC, seq DESC LIMIT ?`,
      params,
    )
    const items = rows.slice(0, q.limit).map((r) => toEvent(r, this.hooks))
    const last = items[items.length - 1]
    return {
      items,
      nextCursor: rows.length > q.limit && last ? encodeCursor(last.timestamp, last.seq) : null,
    }
  }

  query(sql: string, params: readonly unknown[]): Promise<Row[]> {
    return this.reader().all(sql, params)
  }

  async countEvents(workspaceId: string): Promise<number> {
    const rows = await this.reader().all(
      `SELECT COUNT(*) AS n FROM events WHERE workspace_id = ?`,
      [workspaceId],
    )
    return Number(rows[0]?.n ?? 0)
  }

  async countProfiles(workspaceId: string): Promise<number> {
    const rows = await this.reader().all(
      `SELECT COUNT(*) AS n FROM profiles WHERE workspace_id = ? AND merged_into IS NULL`,
      [workspaceId],
    )
    return Number(rows[0]?.n ?? 0)
  }
}

/** The write-transaction operations, on the connection holding the transaction. */
class SqlWriteTx implements WriteTx {
  constructor(
    private readonly c: SqlConnection,
    private readonly h: DialectHooks,
  ) {}

  async existingMessageIds(
    workspaceId: string,
    messageIds: readonly string[],
  ): Promise<Set<string>> {
    if (messageIds.length === 0) return new Set()
    const rows = await this.c.all(
      `SELECT message_id FROM events WHERE workspace_id = ? AND message_id ${this.h.inArray('?')}`,
      [workspaceId, this.h.arrayParam(messageIds)],
    )
    return new Set(rows.map((r) => String(r.message_id)))
  }

  async findIdentities(workspaceId: string, values: readonly string[]): Promise<IdentityRecord[]> {
    if (values.length === 0) return []
    const rows = await this.c.all(
      `SELECT * FROM identities WHERE workspace_id = ? AND value ${this.h.inArray('?')}`,
      [workspaceId, this.h.arrayParam(values)],
    )
    return rows.map(toIdentity)
  }

  async loadProfiles(workspaceId: string, ids: readonly string[]): Promise<ProfileRecord[]> {
    if (ids.length === 0) return []
    const rows = await this.c.all(
      `SELECT ${PROFILE_COLUMNS} FROM profiles WHERE workspace_id = ? AND id ${this.h.inArray('?')}`,
      [workspaceId, this.h.arrayParam(ids)],
    )
    return rows.map((r) => toProfile(r, this.h))
  }

  async upsertProfiles(rows: readonly ProfileRecord[]): Promise<void> {
    // An upsert rather than INSERT + UPDATE so that PostgreSQL takes every row in one statement.
    await this.c.insertMany(
      `INSERT INTO profiles (${PROFILE_COLUMNS})`,
      rows.map(profileParams),
      `ON CONFLICT (workspace_id, id) DO UPDATE SET user_id = excluded.user_id, traits = excluded.traits,
         trait_times = excluded.trait_times, first_seen = excluded.first_seen, last_seen = excluded.last_seen,
         created_at = excluded.created_at, updated_at = excluded.updated_at, merged_into = excluded.merged_into`,
    )
  }

  async upsertIdentities(rows: readonly IdentityRecord[]): Promise<void> {
    await this.c.insertMany(
      `INSERT INTO identities (workspace_id, value, kind, profile_id, created_at)`,
      rows.map((r) => [r.workspaceId, r.value, r.kind, r.profileId, r.createdAt]),
      `ON CONFLICT (workspace_id, value, kind) DO UPDATE SET profile_id = excluded.profile_id`,
    )
  }

  async moveProfileData(workspaceId: string, fromId: string, intoId: string): Promise<void> {
    await this.c.run(
      `UPDATE identities SET profile_id = ? WHERE workspace_id = ? AND profile_id = ?`,
      [intoId, workspaceId, fromId],
    )
    await this.c.run(`UPDATE events SET profile_id = ? WHERE workspace_id = ? AND profile_id = ?`, [
      intoId,
      workspaceId,
      fromId,
    ])
    await this.c.run(
      `UPDATE profiles SET merged_into = ? WHERE workspace_id = ? AND merged_into = ?`,
      [intoId, workspaceId, fromId],
    )
  }

  async insertMerges(rows: readonly MergeRecord[]): Promise<void> {
    await this.c.insertMany(
      `INSERT INTO merges (workspace_id, id, from_profile_id, into_profile_id, reason, message_id, at)`,
      rows.map((m) => [
        m.workspaceId,
        m.id,
        m.fromProfileId,
        m.intoProfileId,
        m.reason,
        m.messageId,
        m.at,
      ]),
      '',
    )
  }

  insertEvents(rows: readonly EventRecord[]): Promise<number> {
    return this.c.insertMany(
      `INSERT INTO events (${EVENT_COLUMNS})`,
      rows.map((e) => [
        e.workspaceId,
        e.messageId,
        e.profileId,
        e.type,
        e.name,
        e.timestamp,
        e.receivedAt,
        e.userId,
        e.anonymousId,
        jsonParam(e.properties),
        jsonParam(e.traits),
        JSON.stringify(e.payload),
      ]),
      `ON CONFLICT (workspace_id, message_id) DO NOTHING`,
    )
  }
}

function jsonParam(v: JsonObject | null): string | null {
  return v === null ? null : JSON.stringify(v)
}

function profileParams(p: ProfileRecord): unknown[] {
  return [
    p.workspaceId,
    p.id,
    p.userId,
    JSON.stringify(p.traits),
    JSON.stringify(p.traitTimes),
    p.firstSeen,
    p.lastSeen,
    p.createdAt,
    p.updatedAt,
    p.mergedInto,
  ]
}

function num(v: unknown): number {
  return Number(v)
}

function numOrNull(v: unknown): number | null {
  return v === null || v === undefined ? null : Number(v)
}

function strOrNull(v: unknown): string | null {
  return v === null || v === undefined ? null : String(v)
}

function toWorkspace(r: Row): Workspace {
  return { id: String(r.id), name: String(r.name), createdAt: num(r.created_at) }
}

function toApiKey(r: Row): ApiKeyRecord {
  return {
    id: String(r.id),
    workspaceId: String(r.workspace_id),
    kind: r.kind === 'admin' ? 'admin' : 'write',
    name: String(r.name),
    hash: String(r.hash),
    prefix: String(r.prefix),
    createdAt: num(r.created_at),
    revokedAt: numOrNull(r.revoked_at),
  }
}

function toIdentity(r: Row): IdentityRecord {
  return {
    workspaceId: String(r.workspace_id),
    kind: r.kind as IdentityKind,
    value: String(r.value),
    profileId: String(r.profile_id),
    createdAt: num(r.created_at),
  }
}

function toProfile(r: Row, h: DialectHooks): ProfileRecord {
  return {
    workspaceId: String(r.workspace_id),
    id: String(r.id),
    userId: strOrNull(r.user_id),
    traits: h.decodeJson(r.traits) as JsonObject,
    traitTimes: h.decodeJson(r.trait_times) as Record<string, number>,
    firstSeen: numOrNull(r.first_seen),
    lastSeen: numOrNull(r.last_seen),
    createdAt: num(r.created_at),
    updatedAt: num(r.updated_at),
    mergedInto: strOrNull(r.merged_into),
  }
}

function toMerge(r: Row): MergeRecord {
  return {
    workspaceId: String(r.workspace_id),
    id: String(r.id),
    fromProfileId: String(r.from_profile_id),
    intoProfileId: String(r.into_profile_id),
    reason: r.reason as MergeReason,
    messageId: String(r.message_id),
    at: num(r.at),
  }
}

function toEvent(r: Row, h: DialectHooks): StoredEvent {
  const json = (v: unknown) =>
    v === null || v === undefined ? null : (h.decodeJson(v) as JsonObject)
  return {
    seq: num(r.seq),
    workspaceId: String(r.workspace_id),
    messageId: String(r.message_id),
    profileId: String(r.profile_id),
    type: r.type as MessageType,
    name: strOrNull(r.name),
    timestamp: num(r.ts),
    receivedAt: num(r.received_at),
    userId: strOrNull(r.user_id),
    anonymousId: strOrNull(r.anonymous_id),
    properties: json(r.properties),
    traits: json(r.traits),
    payload: json(r.payload) ?? {},
  }
}

function encodeCursor(ts: number, seq: number): string {
  return Buffer.from(`${ts}:${seq}`).toString('base64url')
}

function decodeCursor(cursor: string): [number, number] {
  const [a, b] = Buffer.from(cursor, 'base64url').toString().split(':')
  const ts = Number(a)
  const seq = Number(b)
  if (!Number.isFinite(ts) || !Number.isFinite(seq)) {
    throw new SegflowError(
      'invalid_request',
      `cursor ${JSON.stringify(cursor)} is not one this API returned`,
    )
  }
  return [ts, seq]
}
