import { join } from 'node:path'
import Database from 'better-sqlite3'
import pg from 'pg'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ManualClock } from '../src/shared/clock.js'
import { MIGRATIONS, migrationStatements } from '../src/store/migrations.js'
import type { StoreLocation } from './helpers/stores.js'
import { newTestApp } from './helpers/runtime.js'
import type { TestApp } from './helpers/runtime.js'
import { PG_URL, testStoreKinds } from './helpers/stores.js'

const HOUR = 3_600_000
const START = Date.parse('2026-06-01T00:00:00Z')
const MINUTE = 60_000

interface Point {
  start: string
  end: string
  size: number
  entered: number
  exited: number
  partial?: boolean
}

/** A small deterministic PRNG (mulberry32), so a failure can be replayed. */
function prng(seed: number) {
  let a = seed
  return () => {
    a = (a + 0x6d2b79f5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Runs statements on a store's database directly, as a migration would. */
async function exec(kind: string, location: StoreLocation, statements: string[]): Promise<void> {
  if (kind === 'sqlite') {
    const db = new Database(join(location.env.SEGFLOW_DATA_DIR!, 'segflow.db'))
    try {
      db.transaction(() => statements.forEach((s) => db.exec(s)))()
    } finally {
      db.close()
    }
    return
  }
  const c = new pg.Client({
    connectionString: PG_URL,
    options: `-c search_path=${location.env.SEGFLOW_DATABASE_SCHEMA}`,
  })
  await c.connect()
  try {
    for (const s of statements) await c.query(s)
  } finally {
    await c.end()
  }
}

describe.each(testStoreKinds())('segment size history on %s', (kind) => {
  let t: TestApp
  let clock: ManualClock
  beforeEach(async () => {
    clock = new ManualClock(START + 5 * MINUTE)
    t = await newTestApp(kind, { clock })
  })
  afterEach(async () => {
    await t.close()
  })

  const fire = () => t.rt.store.write((tx) => t.rt.engine.fireDue(tx, clock.now()))
  /** Moves time forward, firing every timer at its own instant on the way. */
  const advanceTo = async (at: number) => {
    for (;;) {
      const next = await t.rt.store.nextTimerDue()
      if (next === null || next > at) break
      clock.set(next)
      await fire()
    }
    clock.set(at)
    await fire()
  }
  const put = async (key: string, rule: unknown) => {
    const res = await t.admin('PUT', `/api/segments/${key}`, { rule })
    expect(res.statusCode, res.body).toBeLessThan(300)
    await t.rt.segments.settled('default', key)
  }
  const size = async (key: string) => {
    const res = await t.admin('GET', `/api/segments/${key}`)
    return res.statusCode === 404 ? null : (res.json().size as number)
  }
  const sizes = async (key: string, query: string) => {
    const res = await t.admin('GET', `/api/segments/${key}/sizes?${query}`)
    expect(res.statusCode, res.body).toBe(200)
    return res.json() as { points: Point[]; current: { size: number; reachable: number } }
  }

  it('equals the members counted at every step boundary, over entries, time exits, merges, rule changes and deletion', async () => {
    const random = prng(kind === 'sqlite' ? 7 : 11)
    await put('pro', { trait: 'plan', eq: 'pro' })
    await put('active', { event: 'Viewed Pricing', within: '6h' })
    const hours = 4 * 24
    /** Members counted at each hour boundary (the instant just before it: transitions before it). */
    const counted: Record<string, (number | null)[]> = { pro: [], active: [] }
    let msg = 0
    for (let h = 0; h < hours; h++) {
      const base = START + h * HOUR
      const ops = Math.floor(random() * 6)
      const minutes = Array.from({ length: ops }, () => 1 + Math.floor(random() * 58)).sort(
        (a, b) => a - b,
      )
      for (const m of minutes) {
        const at = base + m * MINUTE + Math.floor(random() * 59) * 1000
        if (at > clock.now()) await advanceTo(at)
        const user = `u${Math.floor(random() * 12)}`
        const r = random()
        if (r < 0.35) {
          await t.track('/v1/identify', {
            userId: user,
            traits: { plan: random() < 0.6 ? 'pro' : 'free' },
            messageId: `m${msg++}`,
          })
        } else if (r < 0.85) {
          await t.track('/v1/track', {
            userId: user,
            event: 'Viewed Pricing',
            messageId: `m${msg++}`,
          })
        } else {
          // An anonymous visitor who viewed pricing, then logs in: the profiles merge.
          const anon = `anon-${msg}`
          await t.track('/v1/track', {
            anonymousId: anon,
            event: 'Viewed Pricing',
            messageId: `m${msg++}`,
          })
          await t.track('/v1/identify', {
            anonymousId: anon,
            userId: user,
            traits: { plan: 'pro' },
            messageId: `m${msg++}`,
          })
        }
      }
      // A rule change on day 2, and `active` deleted and made again on day 3, each late in
      // its hour (after that hour's messages).
      if ([30, 50, 70, 72].includes(h)) await advanceTo(base + 59 * MINUTE)
      if (h === 30) await put('pro', { trait: 'plan', in: ['pro', 'team'] })
      if (h === 50) await put('pro', { trait: 'plan', eq: 'pro' })
      if (h === 70) {
        expect((await t.admin('DELETE', '/api/segments/active')).statusCode).toBe(200)
      }
      if (h === 72) {
        await put('active', { event: 'Viewed Pricing', within: '3h' })
        // The key goes on from the deleted segment's versions (1) instead of clashing with them.
        expect((await t.admin('GET', '/api/segments/active')).json().version).toBe(2)
      }
      await advanceTo(base + HOUR - 1)
      counted.pro!.push(await size('pro'))
      counted.active!.push(await size('active'))
    }
    clock.set(START + hours * HOUR + 30 * MINUTE)

    const range = `from=${new Date(START).toISOString()}&to=${new Date(START + hours * HOUR).toISOString()}`
    for (const key of ['pro', 'active']) {
      const hourly = await sizes(key, `${range}&step=hour`)
      expect(hourly.points).toHaveLength(hours)
      // The hours `active` did not exist count from its new start: no members then.
      const want = counted[key]!.map((n) => n ?? 0)
      if (key === 'active') for (let h = 0; h < 72; h++) want[h] = 0
      expect(hourly.points.map((p) => p.size)).toEqual(want)
      // Each step's size is the previous one plus who entered minus who left.
      hourly.points.forEach((p, i) => {
        const prev = i === 0 ? 0 : hourly.points[i - 1]!.size
        expect(p.size).toBe(prev + p.entered - p.exited)
      })
      expect(hourly.points.reduce((n, p) => n + p.entered + p.exited, 0)).toBeGreaterThan(20)
      // Days: the size at each day's end is the hourly size at that hour.
      const daily = await sizes(key, `${range}&step=day`)
      expect(daily.points.map((p) => p.size)).toEqual([23, 47, 71, 95].map((h) => want[h]))
      expect(daily.points.map((p) => p.entered)).toEqual(
        [0, 1, 2, 3].map((d) =>
          hourly.points.slice(d * 24, d * 24 + 24).reduce((n, p) => n + p.entered, 0),
        ),
      )
      // Today's size is the last boundary's, as nothing happened since.
      expect(hourly.current.size).toBe(await size(key))
    }
    expect(counted.pro!.some((n) => n! > 0)).toBe(true)

    // A database from before the rollup gets the same counts from its transitions.
    const rollup = () =>
      t.rt.store.query(
        `SELECT segment_key, bucket, entered, exited FROM segment_sizes ORDER BY segment_key, bucket`,
        [],
      )
    const live = await rollup()
    expect(live.length).toBeGreaterThan(50)
    const migration = MIGRATIONS.find((m) => m.name.startsWith('segment sizes per hour'))!
    await exec(kind, t.testStore.location, [
      `DELETE FROM segment_sizes`,
      ...migrationStatements(kind as 'sqlite', migration).filter((s) => s.startsWith('INSERT')),
    ])
    expect(await rollup()).toEqual(live)
  })

  it('answers partial steps, refuses bad ranges and parameters, and 404s an unknown segment', async () => {
    await put('pro', { trait: 'plan', eq: 'pro' })
    await t.track('/v1/identify', { userId: 'ann', traits: { plan: 'pro' }, email: 'a@x.io' })
    clock.set(START + 2 * HOUR + 10 * MINUTE)
    await t.track('/v1/identify', { userId: 'bob', traits: { plan: 'pro' } })
    const r = await sizes('pro', 'step=hour')
    // 30 hours by default, ending with the hour now running.
    expect(r.points).toHaveLength(30)
    expect(r.points.at(-1)).toMatchObject({ size: 2, entered: 1, exited: 0, partial: true })
    expect(r.points.at(-2)).toMatchObject({ size: 1, entered: 0 })
    expect(r.points.at(-2)!.partial).toBeUndefined()
    expect(r.current).toMatchObject({ size: 2 })

    // Now exactly on an hour: that hour has just begun and is the last of the 30.
    clock.set(START + 3 * HOUR)
    const onBoundary = await sizes('pro', 'step=hour')
    expect(onBoundary.points).toHaveLength(30)
    expect(onBoundary.points.at(-1)).toMatchObject({
      start: new Date(START + 3 * HOUR).toISOString(),
      end: new Date(START + 4 * HOUR).toISOString(),
      size: 2,
      entered: 0,
      partial: true,
    })
    expect(onBoundary.points.at(-2)).toMatchObject({ size: 2, entered: 1 })
    expect(onBoundary.points.at(-2)!.partial).toBeUndefined()
    const daily = await sizes('pro', 'step=day')
    expect(daily.points).toHaveLength(30)
    // An explicit `to` on a boundary still ends there.
    const explicit = await sizes('pro', `to=${new Date(START + 3 * HOUR).toISOString()}&step=hour`)
    expect(explicit.points).toHaveLength(30)
    expect(explicit.points.at(-1)!.end).toBe(new Date(START + 3 * HOUR).toISOString())

    const bad = async (query: string, text: RegExp) => {
      const res = await t.admin('GET', `/api/segments/pro/sizes?${query}`)
      expect(res.statusCode).toBe(400)
      expect(res.json().error.message).toMatch(text)
    }
    await bad('step=week', /step "week" must be hour or day/)
    await bad('stpe=day', /unknown query parameter "stpe"/)
    await bad('from=yesterday', /from "yesterday" must be an ISO-8601 date/)
    await bad('from=2026-06-02&to=2026-06-01', /from must be before to/)
    await bad('from=2020-01-01&step=hour', /at most 10000 are answered/)
    expect((await t.admin('GET', '/api/segments/nope/sizes')).statusCode).toBe(404)
  })
})
