import type { ConsentMode } from '../privacy/index.js'
import type { DialectHooks, SqlConnection } from './sql-connection.js'
import { reachableSql } from './sql-members.js'
import { getEmailSettings } from './sql-messaging.js'

/**
 * Every segment's size and reachable size, kept as counters written with the changes they
 * count, so that listing segments reads a row per segment instead of counting millions of
 * memberships (and checking each member's address, status and consent) on every request.
 *
 * `segment_counts` holds, per segment and writing process (as segment_sizes), `members` (+1 per
 * entry, −1 per exit, from the transitions) and `reachable`: the sum of the memberships' `reach`
 * bits. A membership's bit is whether its person was reachable (reachableSql) when last
 * settled: at the end of every write transaction the bits of the people it touched (their
 * identities, email status, consent or memberships changed) are brought up to date and the
 * counters moved by what flipped. Nothing else changes whether someone is reachable, except
 * the workspace's consent mode: `segment_reach` records the mode the bits were computed under,
 * and a transaction that finds another one recounts the workspace. The workspace's reachable
 * audience is kept the same way: a `reach` bit per profile, summed in `profile_reach`.
 */
export class SegmentCounts {
  /** Workspace → people whose reachability may have changed in this transaction. */
  private readonly touched = new Map<string, Set<string>>()

  constructor(
    private readonly c: SqlConnection,
    private readonly h: DialectHooks,
    private readonly writer: string,
  ) {}

  /** These people's address, status, consent or memberships changed (or may have). */
  touch(workspaceId: string, profileIds: Iterable<string>): void {
    const set = this.touched.get(workspaceId) ?? new Set<string>()
    for (const id of profileIds) set.add(id)
    this.touched.set(workspaceId, set)
  }

  /** Members in and out, per segment (from the transitions written). */
  async addMembers(rows: Iterable<{ workspaceId: string; segmentKey: string; delta: number }>) {
    const sums = new Map<string, [string, string, string, number, number]>()
    for (const r of rows) {
      const k = `${r.workspaceId}\u0000${r.segmentKey}`
      const s = sums.get(k) ?? [r.workspaceId, r.segmentKey, this.writer, 0, 0]
      s[3] += r.delta
      sums.set(k, s)
    }
    await this.add([...sums.values()])
  }

  /** Memberships about to be deleted: the reachable ones leave the reachable counts. */
  async beforeDelete(
    workspaceId: string,
    rows: readonly { segmentKey: string; profileId: string }[],
  ): Promise<void> {
    if (rows.length === 0) return
    const ids = [...new Set(rows.map((r) => r.profileId))]
    const gone = new Set(rows.map((r) => `${r.segmentKey}\u0000${r.profileId}`))
    const reached = await this.c.all(
      `SELECT segment_key, profile_id FROM memberships WHERE workspace_id = ?
         AND profile_id ${this.h.inArray('?')} AND reach = 1`,
      [workspaceId, this.h.arrayParam(ids)],
    )
    const sums = new Map<string, number>()
    for (const r of reached) {
      const key = String(r.segment_key)
      if (gone.has(`${key}\u0000${String(r.profile_id)}`)) sums.set(key, (sums.get(key) ?? 0) + 1)
    }
    await this.add([...sums].map(([key, n]) => [workspaceId, key, this.writer, 0, -n]))
  }

  /** Brings the touched people's bits and the counters up to date (before COMMIT). */
  async settle(): Promise<void> {
    for (const [ws, ids] of this.touched) {
      const mode = await this.currentMode(ws)
      const counted = await this.c.all(`SELECT mode FROM segment_reach WHERE workspace_id = ?`, [
        ws,
      ])
      if (counted[0]?.mode !== mode) {
        await this.recount(ws, mode)
        continue
      }
      if (ids.size === 0) continue
      const reach = `CASE WHEN ${reachableSql(mode, 'memberships')} THEN 1 ELSE 0 END`
      const flipped = await this.c.all(
        `UPDATE memberships SET reach = ${reach}
         WHERE workspace_id = ? AND profile_id ${this.h.inArray('?')} AND reach <> ${reach}
         RETURNING segment_key, reach`,
        [ws, this.h.arrayParam([...ids])],
      )
      const sums = new Map<string, number>()
      for (const r of flipped) {
        const key = String(r.segment_key)
        sums.set(key, (sums.get(key) ?? 0) + (Number(r.reach) === 1 ? 1 : -1))
      }
      await this.add([...sums].map(([key, n]) => [ws, key, this.writer, 0, n]))
      // The people themselves (a merged-away profile has no address left: its bit goes to 0).
      const own = `CASE WHEN ${reachableSql(mode, 'profiles', '', 'id')} THEN 1 ELSE 0 END`
      const people = await this.c.all(
        `UPDATE profiles SET reach = ${own}
         WHERE workspace_id = ? AND id ${this.h.inArray('?')} AND reach <> ${own}
         RETURNING reach`,
        [ws, this.h.arrayParam([...ids])],
      )
      await this.addPeople(
        ws,
        people.reduce((n, r) => n + (Number(r.reach) === 1 ? 1 : -1), 0),
      )
    }
    this.touched.clear()
  }

  /** Every bit and counter of the workspace computed again under `mode`. */
  async recount(workspaceId: string, mode: ConsentMode): Promise<void> {
    const reach = `CASE WHEN ${reachableSql(mode, 'memberships')} THEN 1 ELSE 0 END`
    await this.c.run(
      `UPDATE memberships SET reach = ${reach} WHERE workspace_id = ? AND reach <> ${reach}`,
      [workspaceId],
    )
    await this.c.run(`DELETE FROM segment_counts WHERE workspace_id = ?`, [workspaceId])
    await this.c.run(
      `INSERT INTO segment_counts (workspace_id, segment_key, writer, members, reachable)
       SELECT workspace_id, segment_key, '', COUNT(*), SUM(reach) FROM memberships
       WHERE workspace_id = ? GROUP BY workspace_id, segment_key`,
      [workspaceId],
    )
    const own = `CASE WHEN ${reachableSql(mode, 'profiles', '', 'id')} THEN 1 ELSE 0 END`
    await this.c.run(
      `UPDATE profiles SET reach = ${own} WHERE workspace_id = ? AND reach <> ${own}`,
      [workspaceId],
    )
    await this.c.run(`DELETE FROM profile_reach WHERE workspace_id = ?`, [workspaceId])
    await this.c.run(
      `INSERT INTO profile_reach (workspace_id, writer, reachable)
       SELECT ?, '', COALESCE(SUM(reach), 0) FROM profiles WHERE workspace_id = ?`,
      [workspaceId, workspaceId],
    )
    await this.c.run(
      `INSERT INTO segment_reach (workspace_id, mode) VALUES (?, ?)
       ON CONFLICT (workspace_id) DO UPDATE SET mode = excluded.mode`,
      [workspaceId, mode],
    )
  }

  /** People about to be deleted (an erasure): the reachable ones leave the audience count. */
  async beforeDeletePeople(workspaceId: string, profileIds: readonly string[]): Promise<void> {
    if (profileIds.length === 0) return
    const rows = await this.c.all(
      `SELECT COALESCE(SUM(reach), 0) AS n FROM profiles WHERE workspace_id = ?
         AND (id ${this.h.inArray('?')} OR merged_into ${this.h.inArray('?')})`,
      [workspaceId, this.h.arrayParam(profileIds), this.h.arrayParam(profileIds)],
    )
    await this.addPeople(workspaceId, -Number(rows[0]?.n ?? 0))
  }

  private async addPeople(workspaceId: string, delta: number): Promise<void> {
    if (delta === 0) return
    await this.c.run(
      `INSERT INTO profile_reach (workspace_id, writer, reachable) VALUES (?, ?, ?)
       ON CONFLICT (workspace_id, writer) DO UPDATE SET
         reachable = profile_reach.reachable + excluded.reachable`,
      [workspaceId, this.writer, delta],
    )
  }

  private async currentMode(workspaceId: string): Promise<ConsentMode> {
    return (await getEmailSettings(this.c, workspaceId))?.consent?.mode ?? 'opt_in'
  }

  private async add(rows: [string, string, string, number, number][]): Promise<void> {
    const changed = rows.filter((r) => r[3] !== 0 || r[4] !== 0)
    if (changed.length === 0) return
    await this.c.insertMany(
      `INSERT INTO segment_counts (workspace_id, segment_key, writer, members, reachable)`,
      changed,
      `ON CONFLICT (workspace_id, segment_key, writer) DO UPDATE SET
         members = segment_counts.members + excluded.members,
         reachable = segment_counts.reachable + excluded.reachable`,
    )
  }
}

/**
 * Per segment, members and reachable members from the counters, when they were computed under
 * `mode`; null when they were not (never computed yet, or the mode just changed): then the
 * caller counts the memberships themselves.
 */
export async function readSegmentCounts(
  c: SqlConnection,
  workspaceId: string,
  mode: ConsentMode,
): Promise<Map<string, { size: number; reachable: number }> | null> {
  const counted = await c.all(`SELECT mode FROM segment_reach WHERE workspace_id = ?`, [
    workspaceId,
  ])
  if (counted[0]?.mode !== mode) return null
  const rows = await c.all(
    `SELECT segment_key, SUM(members) AS n, SUM(reachable) AS r FROM segment_counts
     WHERE workspace_id = ? GROUP BY segment_key`,
    [workspaceId],
  )
  return new Map(
    rows
      .filter((r) => Number(r.n) !== 0)
      .map((r) => [String(r.segment_key), { size: Number(r.n), reachable: Number(r.r) }]),
  )
}

/** The workspace's reachable audience from its counter, when counted under `mode`; else null. */
export async function readReachableProfiles(
  c: SqlConnection,
  workspaceId: string,
  mode: ConsentMode,
): Promise<number | null> {
  const counted = await c.all(`SELECT mode FROM segment_reach WHERE workspace_id = ?`, [
    workspaceId,
  ])
  if (counted[0]?.mode !== mode) return null
  const rows = await c.all(
    `SELECT COALESCE(SUM(reachable), 0) AS n FROM profile_reach WHERE workspace_id = ?`,
    [workspaceId],
  )
  return Number(rows[0]?.n ?? 0)
}
