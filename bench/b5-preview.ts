/**
 * B5 — preview counts: the generator's 50 rules counted by segflow's rule → SQL compiler over
 * everything stored (SQLite; PostgreSQL too when reachable), against DuckDB over the same
 * data in columnar tables (traits as columns). Warm, alternating, every count checked equal.
 *
 * B6 — backfill: publishing a new windowed segment over the stored events, until it is live,
 * against DuckDB computing the same membership with one GROUP BY.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DuckDBInstance } from '@duckdb/node-api'
import type { DuckDBConnection } from '@duckdb/node-api'
import { Engine } from '../src/engine/engine.js'
import { SegmentService } from '../src/engine/segment-service.js'
import { Writer } from '../src/engine/writer.js'
import { desugar } from '../src/rules/desugar.js'
import { parseRule } from '../src/rules/parse.js'
import type { CoreRule } from '../src/rules/types.js'
import { ManualClock } from '../src/shared/clock.js'
import { parseDuration } from '../src/shared/time.js'
import { dialectFor, RuleCompiler } from '../src/sql/index.js'
import { PostgresStore } from '../src/store/postgres/postgres-store.js'
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js'
import type { Store } from '../src/store/store.js'
import { benchMessages } from './b7-persist.js'
import { segments } from './gen.js'
import { dropSchema, PG_URL, pgReachable } from './pg.js'

const WS = 'default'

export interface B5Figures {
  readonly target: string
  readonly profiles: number
  readonly events: number
  readonly rules: number
  readonly medianMs: number
  readonly maxMs: number
  readonly ratioVsDuckdb?: number
  readonly countsAgree?: boolean
}

export interface B6Figures {
  readonly target: string
  readonly profiles: number
  readonly events: number
  readonly seconds: number
  readonly eventsPerSecond: number
  readonly peakRssMb: number
  readonly ratioVsDuckdb?: number
  readonly membersAgree?: boolean
}

type Json = Record<string, unknown>
const quote = (v: unknown) => (typeof v === 'string' ? `'${v.replaceAll("'", "''")}'` : String(v))

/** A generator rule as DuckDB SQL over profiles p(user_id, traits as columns) and events e. */
function duckSql(rule: unknown, now: number, rules: Map<string, unknown>): string {
  const r = rule as Json
  if (r.all) return `(${(r.all as unknown[]).map((x) => duckSql(x, now, rules)).join(' AND ')})`
  if (r.not) return `(NOT ${duckSql(r.not, now, rules)})`
  if (r.segment) return duckSql(rules.get(r.segment as string), now, rules)
  if (r.trait) {
    const col = `p.${r.trait as string}`
    if ('eq' in r) return `COALESCE(${col} = ${quote(r.eq)}, false)`
    if ('in' in r)
      return `COALESCE(${col} IN (${(r.in as unknown[]).map(quote).join(', ')}), false)`
    if ('gte' in r) return `COALESCE(${col} >= ${quote(r.gte)}, false)`
    if ('gt' in r) return `COALESCE(${col} > ${quote(r.gt)}, false)`
  }
  const within = parseDuration(r.within as string)!
  const type = (r.type as string | undefined) ?? 'track'
  return `((SELECT count(*) FROM events e WHERE e.user_id = p.user_id AND e.type = '${type}' AND e.name = ${quote(r.event)} AND e.ts > ${now - within} AND e.ts <= ${now}) >= ${(r.count as { gte: number }).gte})`
}

async function load(store: Store, profiles: number, events: number) {
  const msgs = benchMessages(profiles, events, 5)
  const writer = new Writer(store, new ManualClock(0))
  for (let i = 0; i < msgs.length; i += 1000) await writer.write(msgs.slice(i, i + 1000))
  return msgs
}

async function duckLoad(msgs: ReturnType<typeof benchMessages>): Promise<DuckDBConnection> {
  const db = await DuckDBInstance.create(':memory:')
  const c = await db.connect()
  await c.run(
    `CREATE TABLE profiles (user_id VARCHAR, plan VARCHAR, country VARCHAR, age INTEGER, vip BOOLEAN, orders INTEGER)`,
  )
  await c.run(`CREATE TABLE events (user_id VARCHAR, type VARCHAR, name VARCHAR, ts BIGINT)`)
  const traits = new Map<string, Record<string, unknown>>()
  const ev = await c.createAppender('events')
  for (const m of msgs) {
    if (m.traits) traits.set(m.userId!, { ...traits.get(m.userId!), ...m.traits })
    if (m.type === 'identify') continue
    ev.appendVarchar(m.userId!)
    ev.appendVarchar(m.type)
    ev.appendVarchar(m.name ?? '')
    ev.appendBigInt(BigInt(m.timestamp))
    ev.endRow()
  }
  ev.closeSync()
  const pr = await c.createAppender('profiles')
  for (const [id, t] of traits) {
    pr.appendVarchar(id)
    pr.appendVarchar(String(t.plan))
    pr.appendVarchar(String(t.country))
    pr.appendInteger(Number(t.age))
    pr.appendBoolean(Boolean(t.vip))
    pr.appendInteger(Number(t.orders))
    pr.endRow()
  }
  pr.closeSync()
  return c
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now()
  const v = await fn()
  return [v, performance.now() - t0]
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0

async function pgStore(schema: string): Promise<PostgresStore | null> {
  if (!(await pgReachable())) return null
  return new PostgresStore({ connectionString: PG_URL, schema })
}

/** B5 and B6 at one size, on SQLite (and PostgreSQL when `withPg`). */
export async function runB5B6(o: {
  profiles: number
  events: number
  rounds: number
  withPg: boolean
}): Promise<{ b5: B5Figures[]; b6: B6Figures[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'segflow-b5-'))
  const schema = `bench_b5_${process.pid}`
  const stores: { name: string; store: Store }[] = [
    { name: 'sqlite', store: new SqliteStore({ path: join(dir, 'segflow.db') }) },
  ]
  const pgS = o.withPg ? await pgStore(schema) : null
  if (pgS) stores.push({ name: 'postgres', store: pgS })
  try {
    let msgs: ReturnType<typeof benchMessages> = []
    for (const s of stores) {
      await s.store.migrate()
      msgs = await load(s.store, o.profiles, o.events)
    }
    const now = msgs.reduce((max, m) => Math.max(max, m.timestamp), 0)
    const duck = await duckLoad(msgs)
    const defs = segments(50, 11)
    const byKey = new Map(defs.map((d) => [d.key, d.rule]))
    const core = new Map<string, CoreRule>()
    for (const d of defs) {
      const p = parseRule(d.rule)
      if (!p.ok) throw new Error(`generated rule ${d.key} does not parse`)
      core.set(d.key, desugar(p.rule))
    }
    const times = new Map<string, number[]>(stores.map((s) => [s.name, []]))
    times.set('duckdb', [])
    let agree = true
    for (let round = 0; round < o.rounds; round++) {
      for (const d of defs) {
        const [dc, dms] = await timed(async () => {
          const r = await duck.runAndReadAll(
            `SELECT count(*) AS n FROM profiles p WHERE ${duckSql(d.rule, now, byKey)}`,
          )
          return Number(r.getRowObjects()[0]!.n)
        })
        // The first round warms caches; only later rounds are timed.
        if (round > 0 || o.rounds === 1) times.get('duckdb')!.push(dms)
        for (const s of stores) {
          const compiler = new RuleCompiler(dialectFor(s.store.kind), (k) => core.get(k))
          const q = compiler.count(core.get(d.key)!, { workspaceId: WS, now })
          const [n, ms] = await timed(async () =>
            Number((await s.store.query(q.sql, q.params))[0]!.n),
          )
          if (round > 0 || o.rounds === 1) times.get(s.name)!.push(ms)
          if (n !== dc) agree = false
        }
      }
    }
    const duckMedian = median(times.get('duckdb')!)
    const b5: B5Figures[] = [
      {
        target: 'duckdb (columnar, in memory)',
        profiles: o.profiles,
        events: o.events,
        rules: defs.length,
        medianMs: Number(duckMedian.toFixed(2)),
        maxMs: Number(Math.max(...times.get('duckdb')!).toFixed(2)),
      },
    ]
    for (const s of stores) {
      const t = times.get(s.name)!
      b5.push({
        target: `segflow ${s.name}`,
        profiles: o.profiles,
        events: o.events,
        rules: defs.length,
        medianMs: Number(median(t).toFixed(2)),
        maxMs: Number(Math.max(...t).toFixed(2)),
        ratioVsDuckdb: Number((median(t) / duckMedian).toFixed(2)),
        countsAgree: agree,
      })
    }

    // ---- B6: a new windowed segment, backfilled until live ----
    const rule = { event: 'Product Viewed', within: '30d', count: { gte: 2 } }
    const [duckMembers, duckMs] = await timed(async () => {
      const r = await duck.runAndReadAll(
        `SELECT count(*) AS n FROM (SELECT user_id FROM events WHERE type = 'track' AND name = 'Product Viewed' AND ts > ${now - 30 * 86_400_000} AND ts <= ${now} GROUP BY user_id HAVING count(*) >= 2)`,
      )
      return Number(r.getRowObjects()[0]!.n)
    })
    const b6: B6Figures[] = [
      {
        target: 'duckdb GROUP BY',
        profiles: o.profiles,
        events: o.events,
        seconds: Number((duckMs / 1000).toFixed(3)),
        eventsPerSecond: Math.round((o.events / duckMs) * 1000),
        peakRssMb: Math.round(process.memoryUsage().rss / 1e6),
      },
    ]
    for (const s of stores) {
      const clock = new ManualClock(now)
      const engine = new Engine(s.store, clock, { backfillPageSize: 2000 })
      await engine.load()
      const service = new SegmentService(s.store, engine, clock)
      let peak = process.memoryUsage().rss
      const sampler = setInterval(() => {
        peak = Math.max(peak, process.memoryUsage().rss)
      }, 50)
      const [, ms] = await timed(async () => {
        await service.publish(WS, 'b6', { rule })
        await service.settled(WS, 'b6')
      })
      clearInterval(sampler)
      const size = (await s.store.segmentSizes(WS)).get('b6') ?? 0
      b6.push({
        target: `segflow backfill, ${s.name}`,
        profiles: o.profiles,
        events: o.events,
        seconds: Number((ms / 1000).toFixed(3)),
        eventsPerSecond: Math.round((o.events / ms) * 1000),
        peakRssMb: Math.round(peak / 1e6),
        ratioVsDuckdb: Number((ms / duckMs).toFixed(1)),
        membersAgree: size === duckMembers,
      })
    }
    duck.closeSync()
    return { b5, b6 }
  } finally {
    for (const s of stores) await s.store.close()
    if (pgS) await dropSchema(schema)
    rmSync(dir, { recursive: true, force: true })
  }
}
