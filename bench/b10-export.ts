/**
 * B10 — member export: `GET /api/segments/:key/members?format=csv` of a segment with N members
 * from a real `segflow serve` (pinned to core 0) read by an HTTP client here, every member and
 * the reachable-only export, on SQLite and PostgreSQL. The baseline, in the same run with
 * alternating rounds, is one raw SELECT of the same rows (member, userId, email, entry time)
 * straight from the database. The per-member listing segflow had before (a membership page,
 * then two queries per member, with the index it had) is timed once on a small prefix.
 *
 * The rows are written with SQL straight into the tables (profiles with 12 traits, an email
 * identity, consent and email status mixed as below), not through ingestion: B10 measures the
 * export, B1/B7 the ingestion.
 */
import Database from 'better-sqlite3'
import { mkdtempSync, rmSync } from 'node:fs'
import { Agent, get } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { PostgresStore } from '../src/store/postgres/postgres-store.js'
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js'
import { reachableSql } from '../src/store/sql-members.js'
import type { Store } from '../src/store/store.js'
import { ADMIN, start } from './b2-latency.js'
import { dropSchema, PG_URL, pgReachable, storeEnv } from './pg.js'
import type { BenchStore } from './pg.js'

const WS = 'default'
const KEY = 'b10'
const T = Date.parse('2026-05-01T00:00:00Z')

export interface B10Figures {
  readonly target: string
  readonly store: BenchStore
  readonly members: number
  readonly rows: number
  readonly medianSeconds: number
  readonly rowsPerSecond: number
  readonly vsRawSelect?: number
  readonly peakServerRssMb?: number
}

/*
 * Who is reachable (opt_in), by i: i % 25 = 11 has no address (4 %); i % 10 in 0–5 granted
 * email_marketing (60 %), 6 denied (10 %), else no statement; i % 20 = 3 unsubscribed (5 %),
 * i % 50 = 7 bounced (2 %).
 */
const TRAITS_SQLITE = `json_object('b10', json('true'),
  'email', CASE WHEN i % 25 = 11 THEN NULL ELSE 'user' || i || '@example.com' END,
  'plan', CASE i % 3 WHEN 0 THEN 'free' WHEN 1 THEN 'pro' ELSE 'team' END, 'country', 'US',
  'age', 20 + i % 50, 'name', 'Person ' || i, 'city', 'Springfield', 'orders', i % 17,
  'vip', json(CASE WHEN i % 10 = 0 THEN 'true' ELSE 'false' END), 'signup', '2025-01-01T00:00:00Z',
  'company', 'Acme ' || (i % 1000), 'lang', 'en')`
const TRAITS_PG = TRAITS_SQLITE.replace('json_object', 'jsonb_build_object')
  .replaceAll(`json('true')`, 'true')
  .replace(`json(CASE WHEN i % 10 = 0 THEN 'true' ELSE 'false' END)`, '(i % 10 = 0)')

export function fillSql(kind: BenchStore, n: number): string[] {
  const id = kind === 'sqlite' ? `printf('prf_%010d', i)` : `'prf_' || lpad(i::text, 10, '0')`
  const from =
    kind === 'sqlite'
      ? `FROM (WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < ${n}) SELECT i FROM s)`
      : `FROM generate_series(1, ${n}) AS s(i)`
  return [
    `INSERT INTO profiles (workspace_id, id, user_id, traits, trait_times, first_seen, last_seen, created_at, updated_at)
     SELECT '${WS}', ${id}, 'user-' || i, ${kind === 'sqlite' ? TRAITS_SQLITE : TRAITS_PG}, '{}', ${T}, ${T}, ${T}, ${T} ${from}`,
    `INSERT INTO identities (workspace_id, value, kind, profile_id, created_at)
     SELECT '${WS}', 'user' || i || '@example.com', 'email', ${id}, ${T} ${from} WHERE i % 25 <> 11`,
    `INSERT INTO memberships (workspace_id, segment_key, profile_id, version, entered_at)
     SELECT '${WS}', '${KEY}', ${id}, 1, ${T} + i ${from}`,
    `INSERT INTO consents (workspace_id, profile_id, purpose, state, at, source, evidence)
     SELECT '${WS}', ${id}, 'email_marketing', CASE WHEN i % 10 < 6 THEN 'granted' ELSE 'denied' END,
       ${T}, 'event', '{}' ${from} WHERE i % 10 < 7`,
    `INSERT INTO email_status (workspace_id, profile_id, status, reason, updated_at)
     SELECT '${WS}', ${id}, CASE WHEN i % 20 = 3 THEN 'unsubscribed' ELSE 'bounced' END, NULL, ${T}
     ${from} WHERE i % 20 = 3 OR i % 50 = 7`,
    // Rows written underneath the store: its segment counters are brought up to date the way
    // a recount does (sql-segment-counts.ts), under the default consent mode.
    `UPDATE memberships SET reach = CASE WHEN ${reachableSql('opt_in', 'memberships')} THEN 1 ELSE 0 END
     WHERE workspace_id = '${WS}'`,
    `DELETE FROM segment_counts WHERE workspace_id = '${WS}'`,
    `INSERT INTO segment_counts (workspace_id, segment_key, writer, members, reachable)
     SELECT workspace_id, segment_key, '', COUNT(*), SUM(reach) FROM memberships
     WHERE workspace_id = '${WS}' GROUP BY workspace_id, segment_key`,
  ]
}

/** The reachable members under opt_in, counted the way the generator above made them. */
function reachableCount(n: number): number {
  let r = 0
  for (let i = 1; i <= n; i++) if (i % 25 !== 11 && i % 10 < 6 && i % 20 !== 3 && i % 50 !== 7) r++
  return r
}

/** The same rows the export reads, straight from the database in one statement. */
export function rawSql(kind: BenchStore): string {
  const email =
    kind === 'sqlite'
      ? `p.traits ->> '$.email'`
      : `CASE WHEN jsonb_typeof(p.traits -> 'email') = 'string' THEN p.traits ->> 'email' END`
  return `SELECT m.profile_id, m.entered_at, p.user_id, ${email} AS email
    FROM memberships m LEFT JOIN profiles p ON p.workspace_id = m.workspace_id AND p.id = m.profile_id
    WHERE m.workspace_id = '${WS}' AND m.segment_key = '${KEY}' ORDER BY m.profile_id`
}

interface Db {
  exec(sql: string): Promise<void>
  /** Runs the raw select and returns how many rows came back. */
  rawRows(): Promise<number>
  close(): Promise<void>
}

function sqliteDb(file: string): Db {
  const db = new Database(file)
  db.pragma('busy_timeout = 10000')
  const raw = db.prepare(rawSql('sqlite')).raw()
  return {
    exec: async (sql) => {
      db.exec(sql)
    },
    rawRows: async () => {
      let rows = 0
      for (const _ of raw.iterate()) rows++
      return rows
    },
    close: async () => {
      db.close()
    },
  }
}

async function pgDb(schema: string): Promise<Db> {
  const c = new pg.Client({ connectionString: PG_URL })
  await c.connect()
  await c.query(`SET search_path TO ${schema}`)
  return {
    exec: async (sql) => void (await c.query(sql)),
    rawRows: async () =>
      (await c.query({ text: rawSql('postgres'), rowMode: 'array' })).rows.length,
    close: () => c.end(),
  }
}

/** Reads the CSV export to the end; its data rows and the server's wall time as seen here. */
function exportCsv(agent: Agent, url: string): Promise<{ rows: number; ms: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now()
    get(url, { agent, headers: { authorization: `Bearer ${ADMIN}` } }, (res) => {
      if (res.statusCode !== 200) {
        reject(new Error(`export answered ${res.statusCode}`))
        res.resume()
        return
      }
      let lines = 0
      res.on('data', (c: Buffer) => {
        for (let i = c.indexOf(10); i !== -1; i = c.indexOf(10, i + 1)) lines++
      })
      res.on('end', () => resolve({ rows: lines - 1, ms: performance.now() - t0 }))
      res.on('error', reject)
    }).on('error', reject)
  })
}

/** The listing as segflow did it before: a page of ids, then a profile and memberships each. */
async function oldListing(store: Store, limit: number): Promise<number> {
  const ids = await store.listMembers(WS, KEY, null, limit)
  const rows = await Promise.all(
    ids.map(async (id) => {
      const [p, ms] = await Promise.all([
        store.getProfile(WS, id),
        store.profileMemberships(WS, id),
      ])
      return { id, userId: p?.userId, entered: ms.find((m) => m.segmentKey === KEY)?.enteredAt }
    }),
  )
  return rows.length
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0

async function rssMb(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises')
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '')
  const m = /VmHWM:\s+(\d+) kB/.exec(status)
  return m ? Math.round(Number(m[1]) / 1024) : 0
}

async function once(
  kind: BenchStore,
  o: { members: number; rounds: number; oldPrefix: number },
): Promise<B10Figures[]> {
  const dir = mkdtempSync(join(tmpdir(), 'segflow-b10-'))
  const schema = `bench_b10_${process.pid}`
  const server = await start(storeEnv(kind, dir, schema))
  const agent = new Agent({ keepAlive: true })
  const db = kind === 'sqlite' ? sqliteDb(join(dir, 'segflow.db')) : await pgDb(schema)
  try {
    // The segment first (live at once over no one), then its members written underneath it.
    const put = await fetch(`${server.url}/api/segments/${KEY}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'B10', rule: { trait: 'b10', eq: true } }),
    })
    if (!put.ok) throw new Error(`publish answered ${put.status}: ${await put.text()}`)
    const t0 = performance.now()
    for (const stmt of fillSql(kind, o.members)) await db.exec(stmt)
    if (kind === 'postgres') await db.exec('ANALYZE')
    console.log(
      `  b10 ${kind}: ${o.members} members written in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    )
    const seg = (await (
      await fetch(`${server.url}/api/segments/${KEY}`, {
        headers: { authorization: `Bearer ${ADMIN}` },
      })
    ).json()) as { size: number; reachable: number }
    const reachable = reachableCount(o.members)
    if (seg.size !== o.members || seg.reachable !== reachable)
      throw new Error(`segment counts ${JSON.stringify(seg)}, expected ${o.members}/${reachable}`)

    const url = `${server.url}/api/segments/${KEY}/members?format=csv`
    const times = { raw: [] as number[], all: [] as number[], reachable: [] as number[] }
    for (let round = 0; round < o.rounds; round++) {
      const r0 = performance.now()
      const rawRows = await db.rawRows()
      times.raw.push(performance.now() - r0)
      const all = await exportCsv(agent, url)
      const only = await exportCsv(agent, `${url}&reachable=true`)
      if (rawRows !== o.members || all.rows !== o.members || only.rows !== reachable)
        throw new Error(`rows: raw ${rawRows}, csv ${all.rows}, reachable ${only.rows}`)
      times.all.push(all.ms)
      times.reachable.push(only.ms)
    }
    const peak = await rssMb(server.child.pid!)

    // The old listing, on a prefix, with the index it had (memberships_profile without
    // segment_key: SQLite then scanned the workspace's memberships for each member).
    await db.exec('DROP INDEX memberships_profile')
    await db.exec('CREATE INDEX memberships_profile ON memberships (workspace_id, profile_id)')
    if (kind === 'postgres') await db.exec('ANALYZE memberships')
    const store: Store =
      kind === 'sqlite'
        ? new SqliteStore({ path: join(dir, 'segflow.db') })
        : new PostgresStore({ connectionString: PG_URL, schema, poolSize: 4 })
    const o0 = performance.now()
    const oldRows = await oldListing(store, o.oldPrefix)
    const oldMs = performance.now() - o0
    await store.close()

    const rawMs = median(times.raw)
    const fig = (target: string, rows: number, ms: number, extra: object = {}): B10Figures => ({
      target,
      store: kind,
      members: o.members,
      rows,
      medianSeconds: Number((ms / 1000).toFixed(3)),
      rowsPerSecond: Math.round((rows / ms) * 1000),
      ...extra,
    })
    const raw = fig('raw SELECT of the same rows (baseline)', o.members, rawMs)
    return [
      raw,
      fig('segflow CSV export, every member', o.members, median(times.all), {
        vsRawSelect: Number((median(times.all) / rawMs).toFixed(2)),
        peakServerRssMb: peak,
      }),
      fig('segflow CSV export, reachable=true', reachable, median(times.reachable), {
        vsRawSelect: Number((median(times.reachable) / rawMs).toFixed(2)),
      }),
      fig(`old per-member listing (first ${oldRows})`, oldRows, oldMs),
    ]
  } finally {
    agent.destroy()
    await db.close()
    server.child.kill('SIGTERM')
    await new Promise((r) => server.child.once('exit', r))
    if (kind === 'postgres') await dropSchema(schema)
    rmSync(dir, { recursive: true, force: true })
  }
}

/** B10 on SQLite, and on PostgreSQL when it answers. */
export async function runB10(o: {
  members: number
  rounds: number
  oldPrefix: number
}): Promise<B10Figures[]> {
  const figures = await once('sqlite', o)
  if (await pgReachable()) figures.push(...(await once('postgres', o)))
  return figures
}
