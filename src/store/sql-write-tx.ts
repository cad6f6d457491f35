import { PLAINTEXT } from '../shared/sealer.js'
import type { Sealer } from '../shared/sealer.js'
import type { DialectHooks, SqlConnection } from './sql-connection.js'
import { SqlDeliveryTx } from './sql-delivery.js'
import { SqlMessagingTx } from './sql-messaging.js'
import { SqlPrivacyTx } from './sql-privacy.js'
import { SegmentCounts } from './sql-segment-counts.js'
import { SqlScoringTx } from './sql-scoring.js'
import { SqlUsersTx } from './sql-users.js'
import {
  EVENT_COLUMNS,
  jsonParam,
  PROFILE_COLUMNS,
  profileParams,
  toEvent,
  toIdentity,
  toMembership,
  toProfile,
  toSegment,
  toTimer,
  toTracker,
} from './rows.js'
import type { ConsentState, EmailStatus } from '../privacy/consent.js'
import type {
  ConsentRecord,
  ContactRecord,
  EventRecord,
  IdentityRecord,
  MembershipRecord,
  MergeRecord,
  ProfileRecord,
  SegmentRecord,
  SegmentVersionRecord,
  StoredEvent,
  TimerRecord,
  TrackerRecord,
  TransitionRecord,
  WriteTx,
} from './store.js'

/** The size rollup's step (segment_sizes.bucket). */
export const HOUR_MS = 3_600_000
/** The arrival rollup's step (event_counts.minute). */
const MINUTE_MS = 60_000

/** The write-transaction operations, on the connection holding the transaction. */
export class SqlWriteTx implements WriteTx {
  readonly delivery: SqlDeliveryTx
  readonly messaging: SqlMessagingTx
  readonly scoring: SqlScoringTx
  readonly privacy: SqlPrivacyTx
  readonly users: SqlUsersTx

  constructor(
    private readonly c: SqlConnection,
    private readonly h: DialectHooks,
    sealer: () => Sealer = () => PLAINTEXT,
    /** This store object's own id in the size rollup (see insertTransitions). */
    private readonly writer = '',
  ) {
    this.counts = new SegmentCounts(c, h, writer)
    this.delivery = new SqlDeliveryTx(c, h, sealer)
    this.messaging = new SqlMessagingTx(c, (ws, ids) => this.counts.touch(ws, ids))
    this.scoring = new SqlScoringTx(c)
    this.privacy = new SqlPrivacyTx(c, h, this.counts)
    this.users = new SqlUsersTx(c)
  }

  /** The segment size counters this transaction keeps up to date (sql-segment-counts.ts). */
  private readonly counts: SegmentCounts

  /** Settles what the transaction changed of the segment counters; the store calls it before COMMIT. */
  settle(): Promise<void> {
    return this.counts.settle()
  }

  async refreshSegmentCounts(workspaceId: string): Promise<void> {
    this.counts.touch(workspaceId, [])
  }

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
    // An email address makes its person reachable, and one moved to someone else may leave its
    // earlier holder without one: both are settled (reachability).
    const emails = rows.filter((r) => r.kind === 'email')
    for (const ws of new Set(emails.map((r) => r.workspaceId))) {
      const values = emails.filter((r) => r.workspaceId === ws).map((r) => r.value)
      const holders = await this.c.all(
        `SELECT profile_id FROM identities WHERE workspace_id = ? AND kind = 'email'
           AND value ${this.h.inArray('?')}`,
        [ws, this.h.arrayParam(values)],
      )
      this.counts.touch(ws, [
        ...holders.map((r) => String(r.profile_id)),
        ...emails.filter((r) => r.workspaceId === ws).map((r) => r.profileId),
      ])
    }
    await this.c.insertMany(
      `INSERT INTO identities (workspace_id, value, kind, profile_id, created_at)`,
      rows.map((r) => [r.workspaceId, r.value, r.kind, r.profileId, r.createdAt]),
      `ON CONFLICT (workspace_id, value, kind) DO UPDATE SET profile_id = excluded.profile_id`,
    )
  }

  async moveProfileData(workspaceId: string, fromId: string, intoId: string): Promise<void> {
    this.counts.touch(workspaceId, [fromId, intoId])
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
    // An unsubscribe or bounce of either person holds for the merged one; sends count
    // towards the merged person's frequency caps.
    await this.c.run(
      `INSERT INTO email_status (workspace_id, profile_id, status, reason, updated_at)
       SELECT workspace_id, ?, status, reason, updated_at FROM email_status
       WHERE workspace_id = ? AND profile_id = ? AND status <> 'subscribed'
       ON CONFLICT (workspace_id, profile_id) DO UPDATE SET status = excluded.status,
         reason = excluded.reason, updated_at = excluded.updated_at
       WHERE email_status.status = 'subscribed'`,
      [intoId, workspaceId, fromId],
    )
    await this.c.run(`DELETE FROM email_status WHERE workspace_id = ? AND profile_id = ?`, [
      workspaceId,
      fromId,
    ])
    await this.c.run(
      `UPDATE email_sends SET profile_id = ? WHERE workspace_id = ? AND profile_id = ?`,
      [intoId, workspaceId, fromId],
    )
    // Consent is the person's: for each purpose the latest statement of either holds.
    await this.c.run(
      `INSERT INTO consents (workspace_id, profile_id, purpose, state, at, source, evidence, message_id)
       SELECT workspace_id, ?, purpose, state, at, source, evidence, message_id FROM consents
       WHERE workspace_id = ? AND profile_id = ?
       ON CONFLICT (workspace_id, profile_id, purpose) DO UPDATE SET state = excluded.state,
         at = excluded.at, source = excluded.source, evidence = excluded.evidence,
         message_id = excluded.message_id
       WHERE excluded.at > consents.at`,
      [intoId, workspaceId, fromId],
    )
    await this.c.run(`DELETE FROM consents WHERE workspace_id = ? AND profile_id = ?`, [
      workspaceId,
      fromId,
    ])
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

  async countImported(workspaceId: string, byType: ReadonlyMap<string, number>): Promise<void> {
    for (const [type, n] of byType) {
      await this.c.run(
        `INSERT INTO imported_messages (workspace_id, type, count) VALUES (?, ?, ?)
         ON CONFLICT (workspace_id, type) DO UPDATE SET count = imported_messages.count + excluded.count`,
        [workspaceId, type, n],
      )
    }
  }

  async insertEvents(rows: readonly EventRecord[]): Promise<number> {
    const stored = await this.c.insertMany(
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
    // The per-minute arrival rollup, in the same transaction. The writer has already left out
    // the messageIds it knows, so every row offered here is stored, except in a race: another
    // process storing the same messageId a moment earlier (the conflict clause skips it). Then
    // the rows skipped are taken from the last minute counted, so the total stays exact.
    const minutes = new Map<string, [string, number, string, number]>()
    for (const e of rows) {
      const minute = e.receivedAt - (e.receivedAt % MINUTE_MS)
      const k = `${e.workspaceId}\u0000${minute}`
      const m = minutes.get(k) ?? [e.workspaceId, minute, this.writer, 0]
      m[3]++
      minutes.set(k, m)
    }
    let skipped = rows.length - stored
    for (const m of [...minutes.values()].reverse()) {
      const take = Math.min(skipped, m[3])
      m[3] -= take
      skipped -= take
    }
    const counted = [...minutes.values()].filter((m) => m[3] > 0)
    if (counted.length > 0) {
      await this.c.insertMany(
        `INSERT INTO event_counts (workspace_id, minute, writer, n)`,
        counted,
        `ON CONFLICT (workspace_id, minute, writer) DO UPDATE SET n = event_counts.n + excluded.n`,
      )
    }
    return stored
  }

  // ---- the segment engine ---------------------------------------------------------------

  async listSegments(workspaceId?: string): Promise<SegmentRecord[]> {
    const rows =
      workspaceId === undefined
        ? await this.c.all(`SELECT * FROM segments ORDER BY workspace_id, key`)
        : await this.c.all(`SELECT * FROM segments WHERE workspace_id = ? ORDER BY key`, [
            workspaceId,
          ])
    return rows.map((r) => toSegment(r))
  }

  async upsertSegment(s: SegmentRecord): Promise<void> {
    await this.c.insertMany(
      `INSERT INTO segments (workspace_id, key, version, name, description, priority, rule, live_version,
         live_rule, status, backfill_cursor, backfill_done, backfill_total, created_at, updated_at,
         models, live_models)`,
      [
        [
          s.workspaceId,
          s.key,
          s.version,
          s.name,
          s.description,
          s.priority,
          JSON.stringify(s.rule),
          s.liveVersion,
          s.liveRule === null ? null : JSON.stringify(s.liveRule),
          s.status,
          s.backfillCursor,
          s.backfillDone,
          s.backfillTotal,
          s.createdAt,
          s.updatedAt,
          s.models === null ? null : JSON.stringify(s.models),
          s.liveModels === null ? null : JSON.stringify(s.liveModels),
        ],
      ],
      `ON CONFLICT (workspace_id, key) DO UPDATE SET version = excluded.version, name = excluded.name,
         description = excluded.description, priority = excluded.priority, rule = excluded.rule,
         live_version = excluded.live_version, live_rule = excluded.live_rule, status = excluded.status,
         backfill_cursor = excluded.backfill_cursor, backfill_done = excluded.backfill_done,
         backfill_total = excluded.backfill_total, updated_at = excluded.updated_at,
         models = excluded.models, live_models = excluded.live_models`,
    )
  }

  async insertSegmentVersion(v: SegmentVersionRecord): Promise<void> {
    await this.c.run(
      `INSERT INTO segment_versions (workspace_id, key, version, name, description, rule, published_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
      [
        v.workspaceId,
        v.key,
        v.version,
        v.name,
        v.description,
        JSON.stringify(v.rule),
        v.publishedAt,
      ],
    )
  }

  async deleteSegment(workspaceId: string, key: string): Promise<void> {
    // A segment made again with this key starts a history of its own.
    for (const table of ['memberships', 'timers', 'segment_sizes', 'segment_counts']) {
      await this.c.run(`DELETE FROM ${table} WHERE workspace_id = ? AND segment_key = ?`, [
        workspaceId,
        key,
      ])
    }
    await this.c.run(`DELETE FROM segments WHERE workspace_id = ? AND key = ?`, [workspaceId, key])
  }

  async loadMemberships(
    workspaceId: string,
    profileIds: readonly string[],
  ): Promise<MembershipRecord[]> {
    if (profileIds.length === 0) return []
    const rows = await this.c.all(
      `SELECT * FROM memberships WHERE workspace_id = ? AND profile_id ${this.h.inArray('?')}`,
      [workspaceId, this.h.arrayParam(profileIds)],
    )
    return rows.map(toMembership)
  }

  async upsertMemberships(rows: readonly MembershipRecord[]): Promise<void> {
    // A new membership's reach bit starts at 0: settling sets it.
    for (const m of rows) this.counts.touch(m.workspaceId, [m.profileId])
    await this.c.insertMany(
      `INSERT INTO memberships (workspace_id, segment_key, profile_id, version, entered_at)`,
      rows.map((m) => [m.workspaceId, m.segmentKey, m.profileId, m.version, m.enteredAt]),
      `ON CONFLICT (workspace_id, segment_key, profile_id) DO UPDATE SET version = excluded.version`,
    )
  }

  async deleteMemberships(
    workspaceId: string,
    rows: readonly { segmentKey: string; profileId: string }[],
  ): Promise<void> {
    await this.counts.beforeDelete(workspaceId, rows)
    await this.c.matchMany(
      `DELETE FROM memberships WHERE workspace_id = ?`,
      [workspaceId],
      ['segment_key', 'profile_id'],
      rows.map((r) => [r.segmentKey, r.profileId]),
    )
  }

  async loadTrackers(workspaceId: string, profileIds: readonly string[]): Promise<TrackerRecord[]> {
    if (profileIds.length === 0) return []
    const rows = await this.c.all(
      `SELECT * FROM trackers WHERE workspace_id = ? AND profile_id ${this.h.inArray('?')}`,
      [workspaceId, this.h.arrayParam(profileIds)],
    )
    return rows.map((r) => toTracker(r, this.h))
  }

  async upsertTrackers(rows: readonly TrackerRecord[]): Promise<void> {
    await this.c.insertMany(
      `INSERT INTO trackers (workspace_id, profile_id, key, state)`,
      rows.map((t) => [t.workspaceId, t.profileId, t.key, JSON.stringify(t.state)]),
      `ON CONFLICT (workspace_id, profile_id, key) DO UPDATE SET state = excluded.state`,
    )
  }

  async deleteTrackers(workspaceId: string, profileIds: readonly string[]): Promise<void> {
    if (profileIds.length === 0) return
    await this.c.run(
      `DELETE FROM trackers WHERE workspace_id = ? AND profile_id ${this.h.inArray('?')}`,
      [workspaceId, this.h.arrayParam(profileIds)],
    )
  }

  async deleteTrackerKeys(workspaceId: string, keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return
    await this.c.run(`DELETE FROM trackers WHERE workspace_id = ? AND key ${this.h.inArray('?')}`, [
      workspaceId,
      this.h.arrayParam(keys),
    ])
  }

  async loadTimers(workspaceId: string, profileIds: readonly string[]): Promise<TimerRecord[]> {
    if (profileIds.length === 0) return []
    const rows = await this.c.all(
      `SELECT * FROM timers WHERE workspace_id = ? AND profile_id ${this.h.inArray('?')}`,
      [workspaceId, this.h.arrayParam(profileIds)],
    )
    return rows.map(toTimer)
  }

  async upsertConsents(rows: readonly ConsentRecord[]): Promise<void> {
    for (const r of rows) this.counts.touch(r.workspaceId, [r.profileId])
    await this.c.insertMany(
      `INSERT INTO consents (workspace_id, profile_id, purpose, state, at, source, evidence, message_id)`,
      rows.map((r) => [
        r.workspaceId,
        r.profileId,
        r.purpose,
        r.state,
        r.at,
        r.source,
        JSON.stringify(r.evidence),
        r.messageId,
      ]),
      // Messages arrive out of order: an older statement never replaces a newer one.
      `ON CONFLICT (workspace_id, profile_id, purpose) DO UPDATE SET state = excluded.state,
         at = excluded.at, source = excluded.source, evidence = excluded.evidence,
         message_id = excluded.message_id
       WHERE excluded.at >= consents.at`,
    )
  }

  async loadContacts(workspaceId: string, profileIds: readonly string[]): Promise<ContactRecord[]> {
    if (profileIds.length === 0) return []
    const args = [workspaceId, this.h.arrayParam(profileIds)]
    const where = `workspace_id = ? AND profile_id ${this.h.inArray('?')}`
    const [consents, statuses, emails] = await Promise.all([
      this.c.all(`SELECT profile_id, purpose, state FROM consents WHERE ${where}`, args),
      this.c.all(`SELECT profile_id, status FROM email_status WHERE ${where}`, args),
      this.c.all(
        `SELECT DISTINCT profile_id FROM identities WHERE ${where} AND kind = 'email'`,
        args,
      ),
    ])
    const out = new Map<string, ContactRecord>(
      profileIds.map((id) => [
        id,
        { profileId: id, consents: {}, emailStatus: 'subscribed', hasEmail: false },
      ]),
    )
    for (const r of consents) {
      const c = out.get(String(r.profile_id))
      if (c)
        (c.consents as Record<string, ConsentState>)[String(r.purpose)] = String(
          r.state,
        ) as ConsentState
    }
    for (const r of statuses) {
      const c = out.get(String(r.profile_id))
      if (c) out.set(c.profileId, { ...c, emailStatus: String(r.status) as EmailStatus })
    }
    for (const r of emails) {
      const c = out.get(String(r.profile_id))
      if (c) out.set(c.profileId, { ...c, hasEmail: true })
    }
    return [...out.values()]
  }

  async upsertTimers(rows: readonly TimerRecord[]): Promise<void> {
    await this.c.insertMany(
      `INSERT INTO timers (workspace_id, profile_id, segment_key, due_at)`,
      rows.map((t) => [t.workspaceId, t.profileId, t.segmentKey, t.dueAt]),
      `ON CONFLICT (workspace_id, profile_id, segment_key) DO UPDATE SET due_at = excluded.due_at`,
    )
  }

  async deleteTimers(
    workspaceId: string,
    rows: readonly { segmentKey: string; profileId: string }[],
  ): Promise<void> {
    await this.c.matchMany(
      `DELETE FROM timers WHERE workspace_id = ?`,
      [workspaceId],
      ['segment_key', 'profile_id'],
      rows.map((r) => [r.segmentKey, r.profileId]),
    )
  }

  async dueTimers(upTo: number, limit: number): Promise<TimerRecord[]> {
    const rows = await this.c.all(
      `SELECT * FROM timers WHERE due_at <= ? ORDER BY due_at, workspace_id, profile_id, segment_key LIMIT ?`,
      [upTo, limit],
    )
    return rows.map(toTimer)
  }

  async insertTransitions(rows: readonly TransitionRecord[]): Promise<void> {
    await this.c.insertMany(
      `INSERT INTO transitions (workspace_id, id, type, at, segment_key, segment_version, profile_id, reason, historical, recorded_at)`,
      rows.map((t) => [
        t.workspaceId,
        t.id,
        t.type,
        t.at,
        t.segmentKey,
        t.segmentVersion,
        t.profileId,
        t.reason,
        // 1/0: SQLite has no booleans, and PostgreSQL reads '1' and '0' as booleans.
        t.historical ? 1 : 0,
        t.recordedAt,
      ]),
      '',
    )
    // The hourly size rollup, in the same transaction: one row per segment and hour touched,
    // and per writer. Rows of their own per process: two processes' transactions (a server
    // and an import) never wait on each other's row lock; a reader sums the writers.
    const buckets = new Map<string, [string, string, number, string, number, number]>()
    for (const t of rows) {
      const bucket = t.at - (t.at % HOUR_MS)
      const k = `${t.workspaceId}\u0000${t.segmentKey}\u0000${bucket}`
      const b = buckets.get(k) ?? [t.workspaceId, t.segmentKey, bucket, this.writer, 0, 0]
      if (t.type === 'segment.entered') b[4]++
      else b[5]++
      buckets.set(k, b)
    }
    await this.counts.addMembers(
      rows.map((t) => ({
        workspaceId: t.workspaceId,
        segmentKey: t.segmentKey,
        delta: t.type === 'segment.entered' ? 1 : -1,
      })),
    )
    if (buckets.size === 0) return
    await this.c.insertMany(
      `INSERT INTO segment_sizes (workspace_id, segment_key, bucket, writer, entered, exited)`,
      [...buckets.values()],
      `ON CONFLICT (workspace_id, segment_key, bucket, writer) DO UPDATE SET
         entered = segment_sizes.entered + excluded.entered,
         exited = segment_sizes.exited + excluded.exited`,
    )
  }

  async profileIdsAfter(
    workspaceId: string,
    after: string | null,
    limit: number,
  ): Promise<string[]> {
    const rows = await this.c.all(
      `SELECT id FROM profiles WHERE workspace_id = ? AND merged_into IS NULL AND id > ? ORDER BY id LIMIT ?`,
      [workspaceId, after ?? '', limit],
    )
    return rows.map((r) => String(r.id))
  }

  async activityEvents(workspaceId: string, profileIds: readonly string[]): Promise<StoredEvent[]> {
    if (profileIds.length === 0) return []
    const rows = await this.c.all(
      `SELECT seq, ${EVENT_COLUMNS} FROM events WHERE workspace_id = ? AND profile_id ${this.h.inArray('?')}
         AND type IN ('track', 'page', 'screen') ORDER BY ts, seq`,
      [workspaceId, this.h.arrayParam(profileIds)],
    )
    return rows.map((r) => toEvent(r, this.h))
  }
}
