import type { SegmentCounts } from './sql-segment-counts.js'
import type { DialectHooks, Row, SqlConnection } from './sql-connection.js'
import type { PrivacyReads, PrivacyRequestRecord, PrivacyTx } from './store.js'

function toRequest(r: Row): PrivacyRequestRecord {
  return {
    workspaceId: String(r.workspace_id),
    id: String(r.id),
    type: String(r.type) as PrivacyRequestRecord['type'],
    regulation: String(r.regulation) as PrivacyRequestRecord['regulation'],
    subjectHash: String(r.subject_hash),
    status: String(r.status) as PrivacyRequestRecord['status'],
    createdAt: Number(r.created_at),
    dueAt: Number(r.due_at),
    completedAt:
      r.completed_at === null || r.completed_at === undefined ? null : Number(r.completed_at),
    detail: r.detail === null || r.detail === undefined ? null : String(r.detail),
  }
}

/**
 * Every table that holds rows about a person, and how a row names them: a profile id column
 * (or two), or for delivery attempts the delivery they belong to. Kept here, next to the
 * schema, so a new table of personal data is added in one place; the erasure test checks
 * every table of the schema against it.
 */
const BY_PROFILE: readonly { table: string; columns: readonly string[] }[] = [
  { table: 'identities', columns: ['profile_id'] },
  { table: 'events', columns: ['profile_id'] },
  { table: 'merges', columns: ['from_profile_id', 'into_profile_id'] },
  { table: 'memberships', columns: ['profile_id'] },
  { table: 'trackers', columns: ['profile_id'] },
  { table: 'timers', columns: ['profile_id'] },
  { table: 'transitions', columns: ['profile_id'] },
  { table: 'email_status', columns: ['profile_id'] },
  { table: 'email_sends', columns: ['profile_id'] },
  { table: 'automation_runs', columns: ['profile_id'] },
  { table: 'consents', columns: ['profile_id'] },
  { table: 'profiles', columns: ['id', 'merged_into'] },
]

const asciiLower = (s: string) => s.replace(/[A-Z]+/g, (m) => m.toLowerCase())

/** Every table an erasure deletes from or rewrites: what is vacuumed after one. */
export const ERASED_TABLES: readonly string[] = [
  ...BY_PROFILE.map((t) => t.table),
  'deliveries',
  'delivery_attempts',
  'audit_log',
]

/** Columns whose text is JSON, parsed in exports. */
const JSON_COLUMNS = new Set([
  'traits',
  'trait_times',
  'properties',
  'payload',
  'state',
  'evidence',
])

function exportRow(r: Row): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(r)) {
    if (k === 'workspace_id') continue
    if (JSON_COLUMNS.has(k) && typeof v === 'string') {
      try {
        out[k] = JSON.parse(v)
        continue
      } catch {
        /* kept as text */
      }
    }
    out[k] = typeof v === 'bigint' ? Number(v) : v
  }
  return out
}

async function personRows(
  c: SqlConnection,
  h: DialectHooks,
  workspaceId: string,
  profileIds: readonly string[],
): Promise<Record<string, Record<string, unknown>[]>> {
  const out: Record<string, Record<string, unknown>[]> = {}
  const ids = h.arrayParam(profileIds)
  for (const { table, columns } of BY_PROFILE) {
    const where = columns.map((col) => `${col} ${h.inArray('?')}`).join(' OR ')
    const rows = await c.all(`SELECT * FROM ${table} WHERE workspace_id = ? AND (${where})`, [
      workspaceId,
      ...columns.map(() => ids),
    ])
    out[table] = rows.map(exportRow)
  }
  const deliveries = await c.all(
    `SELECT * FROM deliveries WHERE workspace_id = ? AND profile_id ${h.inArray('?')}`,
    [workspaceId, ids],
  )
  out.deliveries = deliveries.map(exportRow)
  out.delivery_attempts = (
    await c.all(
      `SELECT a.* FROM delivery_attempts a JOIN deliveries d
         ON d.workspace_id = a.workspace_id AND d.id = a.delivery_id
       WHERE a.workspace_id = ? AND d.profile_id ${h.inArray('?')}`,
      [workspaceId, ids],
    )
  ).map(exportRow)
  return out
}

export class SqlPrivacyTx implements PrivacyTx {
  constructor(
    private readonly c: SqlConnection,
    private readonly h: DialectHooks,
    private readonly counts: SegmentCounts | null = null,
  ) {}

  async insertRequest(r: PrivacyRequestRecord): Promise<void> {
    await this.c.run(
      `INSERT INTO privacy_requests (workspace_id, id, type, regulation, subject_hash, status, created_at, due_at, completed_at, detail)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [
        r.workspaceId,
        r.id,
        r.type,
        r.regulation,
        r.subjectHash,
        r.status,
        r.createdAt,
        r.dueAt,
        r.completedAt,
        r.detail,
      ],
    )
  }

  async updateRequest(r: PrivacyRequestRecord): Promise<void> {
    await this.c.run(
      `UPDATE privacy_requests SET status = ?, completed_at = ?, detail = ? WHERE workspace_id = ? AND id = ?`,
      [r.status, r.completedAt, r.detail, r.workspaceId, r.id],
    )
  }

  async profileFamily(workspaceId: string, profileId: string): Promise<string[]> {
    const family = new Set([profileId])
    let frontier = [profileId]
    while (frontier.length > 0) {
      const rows = await this.c.all(
        `SELECT id FROM profiles WHERE workspace_id = ? AND merged_into ${this.h.inArray('?')}`,
        [workspaceId, this.h.arrayParam(frontier)],
      )
      frontier = rows.map((r) => String(r.id)).filter((id) => !family.has(id))
      for (const id of frontier) family.add(id)
    }
    return [...family].sort()
  }

  personRows(
    workspaceId: string,
    profileIds: readonly string[],
  ): Promise<Record<string, Record<string, unknown>[]>> {
    return personRows(this.c, this.h, workspaceId, profileIds)
  }

  async erase(
    workspaceId: string,
    profileIds: readonly string[],
    keepDeliveries: readonly string[],
  ): Promise<Record<string, number>> {
    const counts: Record<string, number> = {}
    const ids = this.h.arrayParam(profileIds)
    const keep = this.h.arrayParam(keepDeliveries.length > 0 ? keepDeliveries : [''])
    counts.delivery_attempts = await this.c.run(
      `DELETE FROM delivery_attempts WHERE workspace_id = ? AND delivery_id IN (
         SELECT id FROM deliveries WHERE workspace_id = ? AND profile_id ${this.h.inArray('?')}
           AND NOT (id ${this.h.inArray('?')}))`,
      [workspaceId, workspaceId, ids, keep],
    )
    counts.deliveries = await this.c.run(
      `DELETE FROM deliveries WHERE workspace_id = ? AND profile_id ${this.h.inArray('?')}
         AND NOT (id ${this.h.inArray('?')})`,
      [workspaceId, ids, keep],
    )
    // The engine has taken the person out of every segment already (with transitions that the
    // counters followed); any membership still here leaves the counters with its row.
    const left = (
      await this.c.all(
        `SELECT segment_key, profile_id FROM memberships WHERE workspace_id = ? AND profile_id ${this.h.inArray('?')}`,
        [workspaceId, ids],
      )
    ).map((r) => ({ segmentKey: String(r.segment_key), profileId: String(r.profile_id) }))
    if (this.counts && left.length > 0) {
      await this.counts.beforeDelete(workspaceId, left)
      await this.counts.addMembers(left.map((m) => ({ workspaceId, ...m, delta: -1 })))
    }
    await this.counts?.beforeDeletePeople(workspaceId, profileIds)
    for (const { table, columns } of BY_PROFILE) {
      const where = columns.map((col) => `${col} ${this.h.inArray('?')}`).join(' OR ')
      counts[table] = await this.c.run(
        `DELETE FROM ${table} WHERE workspace_id = ? AND (${where})`,
        [workspaceId, ...columns.map(() => ids)],
      )
    }
    return counts
  }

  async redactAudit(workspaceId: string, targets: readonly string[]): Promise<number> {
    if (targets.length === 0) return 0
    // `EVE@x.io` in an entry names the same person as `eve@x.io`. lower() folds ASCII letters
    // on both backends; identifiers are compared in that form.
    const folded = [...new Set(targets.map(asciiLower))]
    return this.c.run(
      `UPDATE audit_log SET target = '[erased]' WHERE workspace_id = ? AND lower(target) ${this.h.inArray('?')}`,
      [workspaceId, this.h.arrayParam(folded)],
    )
  }

  async suppressed(workspaceId: string, hashes: readonly string[]): Promise<Set<string>> {
    if (hashes.length === 0) return new Set()
    const rows = await this.c.all(
      `SELECT hash FROM suppressions WHERE workspace_id = ? AND hash ${this.h.inArray('?')}`,
      [workspaceId, this.h.arrayParam(hashes)],
    )
    return new Set(rows.map((r) => String(r.hash)))
  }

  async suppress(
    workspaceId: string,
    hashes: readonly string[],
    requestId: string,
    at: number,
  ): Promise<void> {
    await this.c.insertMany(
      `INSERT INTO suppressions (workspace_id, hash, request_id, created_at)`,
      hashes.map((h) => [workspaceId, h, requestId, at]),
      `ON CONFLICT (workspace_id, hash) DO NOTHING`,
    )
  }

  async unsuppress(workspaceId: string, hashes: readonly string[]): Promise<number> {
    if (hashes.length === 0) return 0
    return this.c.run(
      `DELETE FROM suppressions WHERE workspace_id = ? AND hash ${this.h.inArray('?')}`,
      [workspaceId, this.h.arrayParam(hashes)],
    )
  }
}

export class SqlPrivacyReads implements PrivacyReads {
  constructor(
    private readonly reader: () => SqlConnection,
    /** Set by the store's subclass after this is made: read lazily. */
    private readonly hooks: () => DialectHooks,
  ) {}

  async getRequest(workspaceId: string, id: string): Promise<PrivacyRequestRecord | null> {
    const rows = await this.reader().all(
      `SELECT * FROM privacy_requests WHERE workspace_id = ? AND id = ?`,
      [workspaceId, id],
    )
    return rows[0] ? toRequest(rows[0]) : null
  }

  async listRequests(workspaceId: string, limit: number): Promise<PrivacyRequestRecord[]> {
    const rows = await this.reader().all(
      `SELECT * FROM privacy_requests WHERE workspace_id = ? ORDER BY id DESC LIMIT ?`,
      [workspaceId, limit],
    )
    return rows.map(toRequest)
  }

  async suppressed(workspaceId: string, hashes: readonly string[]): Promise<Set<string>> {
    if (hashes.length === 0) return new Set()
    const rows = await this.reader().all(
      `SELECT hash FROM suppressions WHERE workspace_id = ? AND hash ${this.hooks().inArray('?')}`,
      [workspaceId, this.hooks().arrayParam(hashes)],
    )
    return new Set(rows.map((r) => String(r.hash)))
  }
}
