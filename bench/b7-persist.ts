/**
 * B7 — persistence: segflow's writer (dedupe, identity, profile update and event append in one
 * transaction per 100 messages, durable at commit) on SQLite and PostgreSQL, against
 * better-sqlite3 inserting the same events as rows in 100-row transactions with the same
 * durability (WAL, synchronous=FULL). Alternating rounds. Then recovery: a writer process is
 * killed with SIGKILL mid-stream, and the time to open the store again (WAL recovery,
 * migrations check, engine load) is measured.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import pg from 'pg'
import { Engine } from '../src/engine/engine.js'
import type { Message } from '../src/engine/message.js'
import { Writer } from '../src/engine/writer.js'
import { ManualClock } from '../src/shared/clock.js'
import type { JsonObject } from '../src/shared/json.js'
import { PostgresStore } from '../src/store/postgres/postgres-store.js'
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js'
import type { Store } from '../src/store/store.js'
import { messages, segmentJson } from './gen.js'

export interface B7Figures {
  readonly target: string
  readonly events: number
  readonly eventsPerSecond: number
  readonly ratioVsBaseline?: number
  readonly recoverySeconds?: number
  readonly eventsAtCrash?: number
}

const WS = 'default'

/** Generated messages as the tracking API hands them to the writer. */
export function benchMessages(profiles: number, events: number, seed = 42): Message[] {
  const out: Message[] = []
  let n = 0
  for (const m of messages({ seed, profiles, events })) {
    const payload = segmentJson(m, `b7-${seed}-${n++}`) as JsonObject
    out.push({
      workspaceId: WS,
      type: m.type,
      messageId: payload.messageId as string,
      userId: m.userId,
      anonymousId: null,
      name: m.name,
      properties: m.properties as JsonObject | null,
      traits: m.traits as JsonObject | null,
      groupId: null,
      previousId: null,
      timestamp: m.timestamp,
      receivedAt: m.timestamp,
      payload,
    })
  }
  return out
}

async function writeAll(store: Store, msgs: readonly Message[]): Promise<number> {
  const writer = new Writer(store, new ManualClock(msgs[0]?.timestamp ?? 0))
  const t0 = performance.now()
  for (let i = 0; i < msgs.length; i += 100) await writer.write(msgs.slice(i, i + 100))
  return performance.now() - t0
}

function baseline(path: string, msgs: readonly Message[]): number {
  const db = new Database(path)
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = FULL')
  db.exec(
    `CREATE TABLE IF NOT EXISTS events (message_id TEXT PRIMARY KEY, user_id TEXT, type TEXT, name TEXT, ts INTEGER, properties TEXT, payload TEXT)`,
  )
  const insert = db.prepare(`INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?)`)
  const batch = db.transaction((rows: readonly Message[]) => {
    for (const m of rows)
      insert.run(
        m.messageId,
        m.userId,
        m.type,
        m.name,
        m.timestamp,
        JSON.stringify(m.properties),
        JSON.stringify(m.payload),
      )
  })
  const t0 = performance.now()
  for (let i = 0; i < msgs.length; i += 100) batch(msgs.slice(i, i + 100))
  const ms = performance.now() - t0
  db.close()
  return ms
}

async function pgReachable(url: string): Promise<boolean> {
  const c = new pg.Client({ connectionString: url })
  try {
    await c.connect()
    return true
  } catch {
    return false
  } finally {
    await c.end().catch(() => undefined)
  }
}

/** A child that writes generated batches until killed; prints how many it committed. */
const CRASH_CHILD = fileURLToPath(new URL('./b7-crash-child.ts', import.meta.url))

async function recovery(
  dir: string,
  seconds: number,
): Promise<{ seconds: number; events: number }> {
  const path = join(dir, 'crash.db')
  const child = spawn(process.execPath, ['--import', 'tsx', CRASH_CHILD, path], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  let committed = 0
  child.stdout.on('data', (c: Buffer) => {
    const last = c.toString().trim().split('\n').pop()
    if (last) committed = Number(last)
  })
  await new Promise((r) => setTimeout(r, seconds * 1000))
  child.kill('SIGKILL')
  await new Promise((r) => child.once('exit', r))
  const t0 = performance.now()
  const store = new SqliteStore({ path })
  await store.migrate()
  await new Engine(store, new ManualClock(0)).load()
  const events = await store.countEvents(WS)
  const took = (performance.now() - t0) / 1000
  await store.close()
  if (events < committed)
    throw new Error(`recovery lost events: ${committed} committed, ${events} found`)
  return { seconds: took, events }
}

export async function runB7(o: { quick: boolean }): Promise<B7Figures[]> {
  const profiles = o.quick ? 1_000 : 20_000
  const perRound = o.quick ? 5_000 : 100_000
  const rounds = o.quick ? 1 : 3
  const dir = mkdtempSync(join(tmpdir(), 'segflow-b7-'))
  const pgUrl = process.env.SEGFLOW_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
  const schema = `bench_b7_${process.pid}`
  const withPg = await pgReachable(pgUrl)
  const sqlite = new SqliteStore({ path: join(dir, 'segflow.db') })
  await sqlite.migrate()
  const postgres = withPg ? new PostgresStore({ connectionString: pgUrl, schema }) : null
  await postgres?.migrate()
  const totals = { segflow: 0, postgres: 0, baseline: 0 }
  let n = 0
  try {
    for (let round = 0; round < rounds; round++) {
      // Fresh messages each round (new ids), the same for every target.
      const msgs = benchMessages(profiles, perRound, 100 + round)
      n += msgs.length
      totals.baseline += baseline(join(dir, 'baseline.db'), msgs)
      totals.segflow += await writeAll(sqlite, msgs)
      if (postgres) totals.postgres += await writeAll(postgres, msgs)
    }
    const rate = (ms: number) => Math.round((n / ms) * 1000)
    const figures: B7Figures[] = [
      {
        target: 'better-sqlite3 100-row transactions',
        events: n,
        eventsPerSecond: rate(totals.baseline),
      },
      {
        target: 'segflow writer, sqlite',
        events: n,
        eventsPerSecond: rate(totals.segflow),
        ratioVsBaseline: Number((totals.baseline / totals.segflow).toFixed(3)),
      },
    ]
    if (postgres)
      figures.push({
        target: 'segflow writer, postgres',
        events: n,
        eventsPerSecond: rate(totals.postgres),
        ratioVsBaseline: Number((totals.baseline / totals.postgres).toFixed(3)),
      })
    const r = await recovery(dir, o.quick ? 2 : 10)
    figures.push({
      target: 'segflow recovery after SIGKILL (sqlite)',
      events: r.events,
      eventsPerSecond: 0,
      recoverySeconds: Number(r.seconds.toFixed(3)),
      eventsAtCrash: r.events,
    })
    return figures
  } finally {
    await sqlite.close()
    if (postgres) {
      await postgres.close()
      const c = new pg.Client({ connectionString: pgUrl })
      await c.connect()
      await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
      await c.end()
    }
    rmSync(dir, { recursive: true, force: true })
  }
}
