import type { ConsentMode } from '../privacy/index.js'
import type { DialectHooks, Row } from './sql-connection.js'
import type { MemberPageQuery, MemberRow } from './store.js'

/**
 * Whether marketing email can reach the person of memberships row `m`: an email address
 * (an email identity), an email status of subscribed (no row means subscribed), and
 * email_marketing consent as `mode` requires (opt_in: granted; opt_out: not denied). The one
 * definition behind a segment's `reachable` size and the members listing's `reachable=true`.
 * `id`: the column of `m` holding the profile id (`id` for the profiles table itself).
 * `after`: a lower bound on the profile id (SQL), repeated in each subquery. It changes no
 * answer (the row's own id is above it); it lets PostgreSQL start the merge joins it picks for
 * a keyset page at the page instead of at the first profile, so a page costs the same
 * wherever it starts.
 */
export function reachableSql(mode: ConsentMode, m = 'm', after = '', id = 'profile_id'): string {
  const consent =
    mode === 'opt_in'
      ? `EXISTS (SELECT 1 FROM consents c WHERE c.workspace_id = ${m}.workspace_id
           AND c.profile_id = ${m}.${id}${after && ` AND c.profile_id > ${after}`}
           AND c.purpose = 'email_marketing' AND c.state = 'granted')`
      : `NOT EXISTS (SELECT 1 FROM consents c WHERE c.workspace_id = ${m}.workspace_id
           AND c.profile_id = ${m}.${id}${after && ` AND c.profile_id > ${after}`}
           AND c.purpose = 'email_marketing' AND c.state = 'denied')`
  return `(EXISTS (SELECT 1 FROM identities i WHERE i.workspace_id = ${m}.workspace_id
             AND i.profile_id = ${m}.${id}${after && ` AND i.profile_id > ${after}`} AND i.kind = 'email')
           AND NOT EXISTS (SELECT 1 FROM email_status s WHERE s.workspace_id = ${m}.workspace_id
             AND s.profile_id = ${m}.${id}${after && ` AND s.profile_id > ${after}`}
             AND s.status <> 'subscribed')
           AND ${consent})`
}

/**
 * One keyset page of a segment's members with what a listing shows, as one statement: the
 * primary key (workspace_id, segment_key, profile_id) gives the order and the start, each row
 * joins its profile by key.
 */
export function memberPageSql(
  h: DialectHooks,
  workspaceId: string,
  segmentKey: string,
  q: MemberPageQuery,
): { sql: string; params: unknown[] } {
  const after = q.after ?? ''
  const reach = q.reachableUnder ? `AND ${reachableSql(q.reachableUnder, 'm', '?')}` : ''
  const email = h.jsonText('p.traits', 'email')
  // substr, not LIKE: no escaping, the same on both stores; the keyset walk stays the order.
  const search = q.search
    ? `AND (substr(p.user_id, 1, ?) = ? OR substr(lower(${email}), 1, ?) = ? OR m.profile_id = ?)`
    : ''
  const n = q.search?.length ?? 0
  return {
    sql: `SELECT m.profile_id, m.entered_at, p.user_id, ${email} AS email
    FROM memberships m
    LEFT JOIN profiles p ON p.workspace_id = m.workspace_id AND p.id = m.profile_id
    WHERE m.workspace_id = ? AND m.segment_key = ? AND m.profile_id > ? ${reach} ${search}
    ORDER BY m.profile_id LIMIT ?`,
    params: [
      workspaceId,
      segmentKey,
      after,
      ...(reach ? [after, after, after] : []),
      ...(q.search ? [n, q.search, n, q.search.toLowerCase(), q.search] : []),
      q.limit,
    ],
  }
}

export function toMemberRow(r: Row): MemberRow {
  return {
    profileId: String(r.profile_id),
    userId: r.user_id === null || r.user_id === undefined ? null : String(r.user_id),
    // Only a JSON string is an address (SQLite's ->> gives numbers and booleans as such).
    email: typeof r.email === 'string' ? r.email : null,
    enteredAt: Number(r.entered_at),
  }
}
