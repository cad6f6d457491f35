import Database from 'better-sqlite3'
import { join } from 'node:path'
import pg from 'pg'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { DUE_DELIVERIES_SQL } from '../src/store/sql-delivery.js'
import { ManualClock } from '../src/shared/clock.js'
import { newTestApp } from './helpers/runtime.js'
import type { TestApp } from './helpers/runtime.js'
import { PG_URL, testStoreKinds } from './helpers/stores.js'

const NOW = Date.parse('2026-06-01T12:00:00Z')
const HOUR = 3_600_000
const PEOPLE = 50_000
/** Per person: the first delivery is backing off (due in an hour), the others wait behind it. */
const PER_PERSON = 4

/**
 * A large backlog to a dead endpoint: picking what is due reads an index range bounded by its
 * limit, never the whole backlog, and never inside the store's write transactions.
 */
describe.each(testStoreKinds())('a delivery backlog on %s', (kind) => {
  let t: TestApp
  let clock: ManualClock

  beforeEach(async () => {
    clock = new ManualClock(NOW)
    t = await newTestApp(kind, { clock, env: { SEGFLOW_WEBHOOK_ALLOW_PRIVATE: 'true' } })
    expect(
      (await t.admin('PUT', '/api/webhooks/dead', { url: 'http://127.0.0.1:9/hook' })).statusCode,
    ).toBe(201)
    await seed()
  }, 120_000)
  afterEach(async () => {
    await t.close()
  })

  /** Raw SQL on the test's database, beside the store (the seed is no part of segflow). */
  async function sql(statements: string[]): Promise<void> {
    const env = t.testStore.location.env
    if (kind === 'sqlite') {
      const db = new Database(join(env.SEGFLOW_DATA_DIR!, 'segflow.db'))
      try {
        for (const s of statements) db.exec(s)
      } finally {
        db.close()
      }
      return
    }
    const c = new pg.Client({
      connectionString: PG_URL,
      options: `-c search_path=${env.SEGFLOW_DATABASE_SCHEMA}`,
    })
    await c.connect()
    try {
      for (const s of statements) await c.query(s)
    } finally {
      await c.end()
    }
  }

  async function seed(): Promise<void> {
    const n = PEOPLE * PER_PERSON
    // g = 1..n; person (g-1) % PEOPLE, so a person's deliveries are g, g+PEOPLE, … in seq order.
    const rows = `SELECT 'default', 'd' || g, 'webhook:dead', 'p' || ((g - 1) % ${PEOPLE}), g,
        '{"type":"segment.entered"}', 'pending',
        CASE WHEN g <= ${PEOPLE} THEN 3 ELSE 0 END,
        CASE WHEN g <= ${PEOPLE} THEN ${NOW + HOUR} ELSE ${NOW - HOUR} END,
        NULL, NULL, ${NOW - HOUR}, ${NOW - HOUR}`
    const insert = `INSERT INTO deliveries (workspace_id, id, destination, profile_id, transition_seq,
        payload, status, attempts, next_attempt_at, last_status, last_error, created_at, updated_at)`
    await sql(
      kind === 'sqlite'
        ? [
            `${insert} WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < ${n})
             ${rows} FROM s`,
            `ANALYZE`,
          ]
        : [`${insert} ${rows} FROM generate_series(1, ${n}) g`, `ANALYZE deliveries`],
    )
  }

  const due = () => t.rt.store.delivery.dueDeliveries(clock.now(), 500)

  it('picks due deliveries from an index range, not a scan of the backlog', async () => {
    const params = ['default', 'webhook:dead', clock.now(), 500]
    if (kind === 'sqlite') {
      const plan = (await t.rt.store.query(`EXPLAIN QUERY PLAN ${DUE_DELIVERIES_SQL}`, params))
        .map((r) => String(r.detail))
        .join('\n')
      expect(plan).toMatch(/SEARCH deliveries USING INDEX deliveries_pending_due/)
      expect(plan).toMatch(/SEARCH e USING INDEX deliveries_pending_order/)
      expect(plan).not.toMatch(/\bSCAN (deliveries|e)\b/)
    } else {
      const plan = (await t.rt.store.query(`EXPLAIN ${DUE_DELIVERIES_SQL}`, params))
        .map((r) => String(r['QUERY PLAN']))
        .join('\n')
      expect(plan).toMatch(/Index Scan using deliveries_pending_due on deliveries/)
      expect(plan).toMatch(/deliveries_pending_order on deliveries e/)
      expect(plan).not.toMatch(/Seq Scan/)
    }
  })

  it('picks with a plain read: a write transaction held open does not stop it', async () => {
    let release!: () => void
    const gate = new Promise<void>((r) => (release = r))
    let entered!: () => void
    const inside = new Promise<void>((r) => (entered = r))
    // Holds the store's write serialisation, as a slow ingest commit would.
    const held = t.rt.store.write(async () => {
      entered()
      await gate
    })
    await inside
    try {
      // Were the pick a store.write, this would wait for `held` forever.
      const picked = await due()
      expect(picked.due).toEqual([])
      expect(picked.waiting).toHaveLength(500)
    } finally {
      release()
      await held
    }
  })

  it('defers the deliveries waiting behind a backing-off one, so the due range empties', async () => {
    // Everything due is waiting behind a first delivery that is due in an hour: nothing to send.
    expect(await t.rt.delivery.runDue()).toBe(0)
    const left = await t.rt.store.query(
      `SELECT COUNT(*) AS n FROM deliveries WHERE status = 'pending' AND next_attempt_at <= ?`,
      [clock.now()],
    )
    // The next pick reads an empty index range, whatever the size of the backlog.
    expect(Number(left[0]!.n)).toBe(0)
    expect(await due()).toEqual({ due: [], waiting: [] })
    // When the first ones fall due they are the ones picked, in order, and only they.
    clock.advance(HOUR)
    const picked = await due()
    expect(picked.due).toHaveLength(500)
    expect(picked.due.every((d) => d.transitionSeq <= PEOPLE)).toBe(true)
    expect(await t.rt.store.delivery.nextDeliveryDue()).toBe(NOW + HOUR)
  }, 120_000)
})
