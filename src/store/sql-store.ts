import { randomBytes } from 'node:crypto'
import type { ConsentMode } from '../privacy/index.js'
import type { JsonObject } from '../shared/json.js'
import { MIGRATIONS, MIGRATIONS_TABLE, migrationStatements } from './migrations.js'
import {
  decodeCursor,
  encodeCursor,
  EVENT_COLUMNS,
  PROFILE_COLUMNS,
  toApiKey,
  toEvent,
  toIdentity,
  toMerge,
  toMembership,
  toProfile,
  toSegment,
  toSegmentVersion,
  toTracker,
  toTransition,
  toWorkspace,
} from './rows.js'
import type { DialectHooks, Row, SqlConnection } from './sql-connection.js'
import { SqlDeliveryReads } from './sql-delivery.js'
import { readReachableProfiles, readSegmentCounts } from './sql-segment-counts.js'
import { memberPageSql, reachableSql, toMemberRow } from './sql-members.js'
import { SqlMessagingReads } from './sql-messaging.js'
import { SqlPrivacyReads } from './sql-privacy.js'
import { SqlUsersReads } from './sql-users.js'
import { PLAINTEXT } from '../shared/sealer.js'
import type { Sealer } from '../shared/sealer.js'
import { SqlWriteTx } from './sql-write-tx.js'
import type {
  ApiKeyRecord,
  AuditRecord,
  PrivacyReads,
  UsersReads,
  DeliveryReads,
  EventQuery,
  MessagingReads,
  IdentityKind,
  IdentityRecord,
  MergeRecord,
  Page,
  MembershipRecord,
  MemberPageQuery,
  MemberRow,
  ProfileRecord,
  SegmentRecord,
  ScrubReport,
  SegmentVersionRecord,
  Store,
  StoredTransition,
  StoreKind,
  StoredEvent,
  TrackerRecord,
  Workspace,
  WriteTx,
} from './store.js'

export type { DialectHooks, Row, SqlConnection } from './sql-connection.js'

/** A promise-chain mutex: one write transaction at a time per store. */
class Mutex {
  private tail: Promise<unknown> = Promise.resolve()
  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn, fn)
    this.tail = result.catch(() => undefined)
    return result
  }
}

/**
 * The Store shared by both dialects. Subclasses provide the connections (a reader for
 * queries outside transactions, a writer inside them) and the dialect hooks.
 */
export abstract class SqlStore implements Store {
  abstract readonly kind: StoreKind
  protected abstract readonly hooks: DialectHooks
  /** A query with one `?` (a table name) giving a row with a non-null `t` when it exists. */
  protected abstract readonly tableExists: string
  private readonly mutex = new Mutex()
  /** This store object's rows in the size rollup: one writer per process, never contended. */
  private readonly writerId = randomBytes(6).toString('hex')
  readonly messaging: MessagingReads = new SqlMessagingReads(() => this.reader())
  readonly privacy: PrivacyReads = new SqlPrivacyReads(
    () => this.reader(),
    () => this.hooks,
  )
  readonly users: UsersReads = new SqlUsersReads(() => this.reader())
  readonly delivery: DeliveryReads = new SqlDeliveryReads(
    () => this.reader(),
    // Hooks are set by the subclass constructor, after this field: read them lazily.
    () => this.hooks,
    () => this.sealer,
  )

  /** How credentials are sealed at rest (plain until a key is given). */
  private sealer: Sealer = PLAINTEXT

  /**
   * Seals credentials from now on with `sealer`, and seals those stored before a key was set.
   * Fails, naming the variable, when stored credentials were sealed with another key.
   */
  async useSealer(sealer: Sealer): Promise<void> {
    this.sealer = sealer
    await this.write(async (tx) => {
      // Reading opens every stored value (or fails clearly); writing seals it.
      for (const w of await tx.delivery.listWebhooks()) await tx.delivery.upsertWebhook(w)
    })
  }

  /** The connection for reads outside a write transaction. */
  protected abstract reader(): SqlConnection
  /** Begin, run, commit (or roll back on error) on the write connection. */
  protected abstract transaction<T>(fn: (conn: SqlConnection) => Promise<T>): Promise<T>
  /** Serialises concurrent migrators (other processes) and creates what the DDL needs first. */
  protected abstract prepareMigration(conn: SqlConnection): Promise<void>
  protected abstract closeConnections(): Promise<void>
  /** See `Store.scrubDeleted`; runs with no write transaction open in this process. */
  protected abstract scrub(): Promise<ScrubReport>

  scrubDeleted(): Promise<ScrubReport> {
    return this.mutex.run(() => this.scrub())
  }

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

  async initialized(): Promise<boolean> {
    const rows = await this.reader().all(this.tableExists, [MIGRATIONS_TABLE])
    return rows.length > 0 && rows[0]!.t !== null
  }

  async ping(): Promise<void> {
    await this.reader().all('SELECT 1 AS one')
  }

  async schemaVersion(): Promise<number> {
    const rows = await this.reader()
      .all(`SELECT MAX(version) AS v FROM ${MIGRATIONS_TABLE}`)
      .catch(() => [])
    return Number(rows[0]?.v ?? 0)
  }

  afterWrites(): Promise<void> {
    return this.mutex.run(async () => undefined)
  }

  write<T>(fn: (tx: WriteTx) => Promise<T>): Promise<T> {
    return this.exclusive(async (conn) => {
      const tx = new SqlWriteTx(conn, this.hooks, () => this.sealer, this.writerId)
      const result = await fn(tx)
      await tx.settle()
      return result
    })
  }

  // ---- workspaces and keys -------------------------------------------------------------

  async ensureWorkspace(ws: Workspace): Promise<boolean> {
    const n = await this.exclusive(async (c) => {
      const made = await c.run(
        `INSERT INTO workspaces (id, name, created_at) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING`,
        [ws.id, ws.name, ws.createdAt],
      )
      // A new workspace's segment counters are all zero under the default consent mode.
      if (made > 0)
        await c.run(
          `INSERT INTO segment_reach (workspace_id, mode) VALUES (?, 'opt_in') ON CONFLICT (workspace_id) DO NOTHING`,
          [ws.id],
        )
      return made
    })
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

  async listSchemas(): Promise<
    { workspaceId: string; definition: JsonObject; updatedAt: number }[]
  > {
    const rows = await this.reader().all(`SELECT * FROM schemas ORDER BY workspace_id`)
    return rows.map((r) => ({
      workspaceId: String(r.workspace_id),
      definition: JSON.parse(String(r.definition)) as JsonObject,
      updatedAt: Number(r.updated_at),
    }))
  }

  async putSchema(workspaceId: string, definition: JsonObject, at: number): Promise<void> {
    await this.exclusive((c) =>
      c.run(
        `INSERT INTO schemas (workspace_id, definition, updated_at) VALUES (?, ?, ?)
         ON CONFLICT (workspace_id) DO UPDATE SET definition = excluded.definition,
           updated_at = excluded.updated_at`,
        [workspaceId, JSON.stringify(definition), at],
      ),
    )
  }

  async deleteSchema(workspaceId: string): Promise<void> {
    await this.exclusive((c) => c.run(`DELETE FROM schemas WHERE workspace_id = ?`, [workspaceId]))
  }

  async insertAudit(a: AuditRecord): Promise<void> {
    await this.exclusive((c) =>
      c.run(
        `INSERT INTO audit_log (workspace_id, id, at, actor, action, target, status)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
        [a.workspaceId, a.id, a.at, a.actor, a.action, a.target, a.status],
      ),
    )
  }

  async listAudit(
    workspaceId: string,
    query: { limit: number; before?: string | null },
  ): Promise<AuditRecord[]> {
    const before = query.before ?? null
    const rows = await this.reader().all(
      `SELECT * FROM audit_log WHERE workspace_id = ?${before === null ? '' : ' AND id < ?'}
       ORDER BY id DESC LIMIT ?`,
      before === null ? [workspaceId, query.limit] : [workspaceId, before, query.limit],
    )
    return rows.map((r) => ({
      workspaceId: String(r.workspace_id),
      id: String(r.id),
      at: Number(r.at),
      actor: String(r.actor),
      action: String(r.action),
      target: r.target === null || r.target === undefined ? null : String(r.target),
      status: Number(r.status),
    }))
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

  async searchIdentities(
    workspaceId: string,
    prefix: string,
    limit: number,
  ): Promise<IdentityRecord[]> {
    // substr, not LIKE: no escaping of % and _, and the same on both stores. A scan of the
    // workspace's identities at worst; LIMIT ends it early when there are many matches.
    const n = prefix.length
    const rows = await this.reader().all(
      `SELECT * FROM identities WHERE workspace_id = ? AND (substr(value, 1, ?) = ? OR (kind = 'email' AND substr(value, 1, ?) = ?)) ORDER BY value, kind LIMIT ?`,
      [workspaceId, n, prefix, n, prefix.toLowerCase(), limit],
    )
    return rows.map(toIdentity)
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

  async importedMessages(): Promise<{ type: string; count: number }[]> {
    const rows = await this.reader().all(
      `SELECT type, SUM(count) AS n FROM imported_messages GROUP BY type ORDER BY type`,
    )
    return rows.map((r) => ({ type: String(r.type), count: Number(r.n) }))
  }

  async countProfiles(workspaceId: string): Promise<number> {
    const rows = await this.reader().all(
      `SELECT COUNT(*) AS n FROM profiles WHERE workspace_id = ? AND merged_into IS NULL`,
      [workspaceId],
    )
    return Number(rows[0]?.n ?? 0)
  }

  async countReachableProfiles(workspaceId: string, mode: ConsentMode): Promise<number> {
    const counted = await readReachableProfiles(this.reader(), workspaceId, mode)
    if (counted !== null) return counted
    const rows = await this.reader().all(
      `SELECT COUNT(*) AS n FROM
         (SELECT workspace_id, id AS profile_id FROM profiles
          WHERE workspace_id = ? AND merged_into IS NULL) m
       WHERE ${reachableSql(mode)}`,
      [workspaceId],
    )
    return Number(rows[0]?.n ?? 0)
  }

  async countEventsSince(workspaceId: string, since: number): Promise<number> {
    const rows = await this.reader().all(
      `SELECT COALESCE(SUM(n), 0) AS n FROM event_counts WHERE workspace_id = ? AND minute >= ?`,
      [workspaceId, since],
    )
    return Number(rows[0]?.n ?? 0)
  }

  // ---- segments ---------------------------------------------------------------------------

  async getSegment(workspaceId: string, key: string): Promise<SegmentRecord | null> {
    const rows = await this.reader().all(
      `SELECT * FROM segments WHERE workspace_id = ? AND key = ?`,
      [workspaceId, key],
    )
    return rows[0] ? toSegment(rows[0]) : null
  }

  async listSegmentVersions(workspaceId: string, key: string): Promise<SegmentVersionRecord[]> {
    const rows = await this.reader().all(
      `SELECT * FROM segment_versions WHERE workspace_id = ? AND key = ? ORDER BY version`,
      [workspaceId, key],
    )
    return rows.map(toSegmentVersion)
  }

  async segmentSizes(workspaceId: string): Promise<Map<string, number>> {
    const rows = await this.reader().all(
      `SELECT segment_key, COUNT(*) AS n FROM memberships WHERE workspace_id = ? GROUP BY segment_key`,
      [workspaceId],
    )
    return new Map(rows.map((r) => [String(r.segment_key), Number(r.n)]))
  }

  async segmentCounts(
    workspaceId: string,
    mode: ConsentMode,
  ): Promise<Map<string, { size: number; reachable: number }>> {
    const counted = await readSegmentCounts(this.reader(), workspaceId, mode)
    if (counted) return counted
    // Not counted under this mode yet (the counters are recounted by the next write).
    const rows = await this.reader().all(
      `SELECT m.segment_key, COUNT(*) AS n,
         SUM(CASE WHEN ${reachableSql(mode)} THEN 1 ELSE 0 END) AS reachable
       FROM memberships m WHERE m.workspace_id = ?
       GROUP BY m.segment_key`,
      [workspaceId],
    )
    return new Map(
      rows.map((r) => [
        String(r.segment_key),
        { size: Number(r.n), reachable: Number(r.reachable) },
      ]),
    )
  }

  async memberPage(
    workspaceId: string,
    segmentKey: string,
    q: MemberPageQuery,
  ): Promise<MemberRow[]> {
    const { sql, params } = memberPageSql(this.hooks, workspaceId, segmentKey, q)
    const rows = await this.reader().all(sql, params)
    return rows.map(toMemberRow)
  }

  async listMembers(
    workspaceId: string,
    segmentKey: string,
    after: string | null,
    limit: number,
  ): Promise<string[]> {
    const rows = await this.reader().all(
      `SELECT profile_id FROM memberships WHERE workspace_id = ? AND segment_key = ? AND profile_id > ?
       ORDER BY profile_id LIMIT ?`,
      [workspaceId, segmentKey, after ?? '', limit],
    )
    return rows.map((r) => String(r.profile_id))
  }

  async profileMemberships(workspaceId: string, profileId: string): Promise<MembershipRecord[]> {
    const rows = await this.reader().all(
      `SELECT * FROM memberships WHERE workspace_id = ? AND profile_id = ? ORDER BY segment_key`,
      [workspaceId, profileId],
    )
    return rows.map(toMembership)
  }

  async membershipsOf(
    workspaceId: string,
    profileIds: readonly string[],
  ): Promise<MembershipRecord[]> {
    if (profileIds.length === 0) return []
    const rows = await this.reader().all(
      `SELECT * FROM memberships WHERE workspace_id = ? AND profile_id ${this.hooks.inArray('?')}
       ORDER BY profile_id, segment_key`,
      [workspaceId, this.hooks.arrayParam(profileIds)],
    )
    return rows.map(toMembership)
  }

  async profilesOf(workspaceId: string, ids: readonly string[]): Promise<ProfileRecord[]> {
    if (ids.length === 0) return []
    const rows = await this.reader().all(
      `SELECT ${PROFILE_COLUMNS} FROM profiles WHERE workspace_id = ? AND id ${this.hooks.inArray('?')}`,
      [workspaceId, this.hooks.arrayParam(ids)],
    )
    return rows.map((r) => toProfile(r, this.hooks))
  }

  async identitiesOf(
    workspaceId: string,
    profileIds: readonly string[],
  ): Promise<IdentityRecord[]> {
    if (profileIds.length === 0) return []
    const rows = await this.reader().all(
      `SELECT * FROM identities WHERE workspace_id = ? AND profile_id ${this.hooks.inArray('?')}
       ORDER BY created_at, kind, value`,
      [workspaceId, this.hooks.arrayParam(profileIds)],
    )
    return rows.map(toIdentity)
  }

  async profileTrackers(workspaceId: string, profileId: string): Promise<TrackerRecord[]> {
    const rows = await this.reader().all(
      `SELECT * FROM trackers WHERE workspace_id = ? AND profile_id = ?`,
      [workspaceId, profileId],
    )
    return rows.map((r) => toTracker(r, this.hooks))
  }

  async segmentHistory(
    workspaceId: string,
    segmentKey: string,
    from: number,
    to: number,
  ): Promise<{ day: string; entered: number; exited: number }[]> {
    // Days are counted in integers (ms / 86,400,000) so both dialects agree; the label is made here.
    const rows = await this.reader().all(
      `SELECT (at - (at % 86400000)) AS day,
              SUM(CASE WHEN type = 'segment.entered' THEN 1 ELSE 0 END) AS entered,
              SUM(CASE WHEN type = 'segment.exited' THEN 1 ELSE 0 END) AS exited
       FROM transitions WHERE workspace_id = ? AND segment_key = ? AND at >= ? AND at < ?
       GROUP BY (at - (at % 86400000)) ORDER BY day`,
      [workspaceId, segmentKey, from, to],
    )
    return rows.map((r) => ({
      day: new Date(Number(r.day)).toISOString().slice(0, 10),
      entered: Number(r.entered),
      exited: Number(r.exited),
    }))
  }

  async segmentSizeBuckets(
    workspaceId: string,
    segmentKey: string,
    from: number,
    to: number,
  ): Promise<{ before: number; buckets: { bucket: number; entered: number; exited: number }[] }> {
    const r = this.reader()
    const [before, rows] = await Promise.all([
      r.all(
        `SELECT COALESCE(SUM(entered - exited), 0) AS n FROM segment_sizes
         WHERE workspace_id = ? AND segment_key = ? AND bucket < ?`,
        [workspaceId, segmentKey, from],
      ),
      r.all(
        `SELECT bucket, SUM(entered) AS entered, SUM(exited) AS exited FROM segment_sizes
         WHERE workspace_id = ? AND segment_key = ? AND bucket >= ? AND bucket < ?
         GROUP BY bucket ORDER BY bucket`,
        [workspaceId, segmentKey, from, to],
      ),
    ])
    return {
      before: Number(before[0]?.n ?? 0),
      buckets: rows.map((x) => ({
        bucket: Number(x.bucket),
        entered: Number(x.entered),
        exited: Number(x.exited),
      })),
    }
  }

  async segmentSizesAt(
    workspaceId: string,
    instants: readonly number[],
  ): Promise<Map<string, number[]>> {
    if (instants.length === 0) return new Map()
    // One column per instant: the net of the buckets before it (a finite bound; "now" is
    // every bucket).
    const columns = instants.map((at, i) =>
      Number.isFinite(at)
        ? `SUM(CASE WHEN bucket < ${Math.trunc(at)} THEN entered - exited ELSE 0 END) AS s${i}`
        : `SUM(entered - exited) AS s${i}`,
    )
    const rows = await this.reader().all(
      `SELECT segment_key, ${columns.join(', ')} FROM segment_sizes
       WHERE workspace_id = ? GROUP BY segment_key`,
      [workspaceId],
    )
    return new Map(
      rows.map((r) => [String(r.segment_key), instants.map((_, i) => Number(r[`s${i}`] ?? 0))]),
    )
  }

  async listTransitions(
    workspaceId: string,
    q: {
      afterSeq?: number
      limit: number
      segmentKey?: string
      profileId?: string
      newestFirst?: boolean
    },
  ): Promise<StoredTransition[]> {
    const where = ['workspace_id = ?', 'seq > ?']
    const params: unknown[] = [workspaceId, q.afterSeq ?? 0]
    if (q.segmentKey !== undefined) {
      where.push('segment_key = ?')
      params.push(q.segmentKey)
    }
    if (q.profileId !== undefined) {
      where.push('profile_id = ?')
      params.push(q.profileId)
    }
    params.push(q.limit)
    const rows = await this.reader().all(
      `SELECT * FROM transitions WHERE ${where.join(' AND ')} ORDER BY seq${q.newestFirst ? ' DESC' : ''} LIMIT ?`,
      params,
    )
    return rows.map(toTransition)
  }

  async nextTimerDue(): Promise<number | null> {
    const rows = await this.reader().all(`SELECT MIN(due_at) AS due FROM timers`)
    const due = rows[0]?.due
    return due === null || due === undefined ? null : Number(due)
  }
}
