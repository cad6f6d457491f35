/**
 * The segment size counters (sql-segment-counts.ts) against counting the memberships: after
 * every step of a seeded random run of the things that move people in and out of segments
 * or change whether they can be emailed — identifies with and without an address, an address
 * moved to someone else, consent granted and refused, unsubscribes and resubscribes, merges,
 * erasures, time exits, a rule change, a deleted segment, a new consent mode — each segment's
 * size and reachable size, and the workspace's reachable audience, equal a direct count, on both
 * stores.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { ConsentMode } from '../src/privacy/index.js'
import { ManualClock } from '../src/shared/clock.js'
import { reachableSql } from '../src/store/sql-members.js'
import { newTestApp } from './helpers/runtime.js'
import type { TestApp } from './helpers/runtime.js'
import { testStoreKinds } from './helpers/stores.js'

const START = Date.parse('2026-06-01T00:00:00Z')
const HOUR = 3_600_000

function prng(seed: number) {
  let a = seed
  return () => {
    a = (a + 0x6d2b79f5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

describe.each(testStoreKinds())('segment counters on %s', (kind) => {
  let t: TestApp
  let clock: ManualClock
  beforeEach(async () => {
    clock = new ManualClock(START)
    t = await newTestApp(kind, { clock })
  })
  afterEach(async () => {
    await t.close()
  })

  const ok = async (method: 'GET' | 'PUT' | 'POST' | 'DELETE', url: string, body?: unknown) => {
    const res = await t.admin(method, url, body)
    expect(res.statusCode, `${method} ${url}: ${res.body}`).toBeLessThan(300)
    return res.json()
  }
  const track = async (path: string, body: Record<string, unknown>) => {
    const res = await t.track(path, body)
    expect(res.statusCode, res.body).toBe(200)
  }
  /** Sizes and reachable sizes counted from the memberships, by the one definition. */
  const counted = async (mode: ConsentMode) => {
    const rows = await t.rt.store.query(
      `SELECT m.segment_key AS k, COUNT(*) AS n,
         SUM(CASE WHEN ${reachableSql(mode)} THEN 1 ELSE 0 END) AS r
       FROM memberships m WHERE m.workspace_id = ? GROUP BY m.segment_key`,
      ['default'],
    )
    return Object.fromEntries(
      rows.map((r) => [String(r.k), { size: Number(r.n), reachable: Number(r.r) }]),
    )
  }
  /** The workspace's reachable audience counted from the profiles, by the same definition. */
  const audience = async (mode: ConsentMode) =>
    Number(
      (
        await t.rt.store.query(
          `SELECT COUNT(*) AS n FROM profiles m WHERE m.workspace_id = ? AND m.merged_into IS NULL
             AND ${reachableSql(mode, 'm', '', 'id')}`,
          ['default'],
        )
      )[0]!.n,
    )
  const listed = async () => {
    const items = (await ok('GET', '/api/segments')).items as {
      key: string
      size: number
      reachable: number
    }[]
    return Object.fromEntries(
      items.filter((s) => s.size > 0).map((s) => [s.key, { size: s.size, reachable: s.reachable }]),
    )
  }

  it('equal counting the memberships after every step of a random run', async () => {
    const random = prng(kind === 'sqlite' ? 3 : 5)
    const pick = <T>(xs: readonly T[]) => xs[Math.floor(random() * xs.length)]!
    await ok('PUT', '/api/segments/pro', { rule: { trait: 'plan', eq: 'pro' } })
    await ok('PUT', '/api/segments/active', { rule: { event: 'Viewed', within: '2h' } })
    await ok('PUT', '/api/segments/anyone', { rule: { trait: 'plan', exists: true } })
    for (const key of ['pro', 'active', 'anyone']) await t.rt.segments.settled('default', key)
    // The counters are in use: the listing must not be the direct count itself.
    expect(await t.rt.store.query(`SELECT mode FROM segment_reach`, [])).toEqual([
      { mode: 'opt_in' },
    ])
    let mode: ConsentMode = 'opt_in'
    const users = Array.from({ length: 10 }, (_, i) => `u${i}`)
    let steps = 0
    let nonZeroReachable = 0
    for (let step = 0; step < 120; step++) {
      clock.advance(Math.floor(random() * 20) * 60_000)
      await t.rt.store.write((tx) => t.rt.engine.fireDue(tx, clock.now()))
      const u = pick(users)
      const r = random()
      if (r < 0.25) {
        await track('/v1/identify', {
          userId: u,
          traits: {
            plan: pick(['pro', 'free']),
            ...(random() < 0.7 ? { email: `${pick(users)}@example.com` } : {}),
          },
        })
      } else if (r < 0.45) {
        await track('/v1/track', { userId: u, event: 'Viewed' })
      } else if (r < 0.6) {
        await track('/v1/track', {
          userId: u,
          event: 'Consent Updated',
          properties: { email_marketing: random() < 0.7 },
        })
      } else if (r < 0.7) {
        const res = await t.admin('PUT', `/api/email/status/${u}`, {
          status: pick(['unsubscribed', 'subscribed']),
        })
        expect([200, 404]).toContain(res.statusCode)
      } else if (r < 0.8) {
        // An anonymous visitor who logs in as u: the two merge.
        const anon = `anon-${step}`
        await track('/v1/identify', {
          anonymousId: anon,
          traits: { plan: 'pro', email: `${anon}@example.com` },
        })
        await track('/v1/track', {
          anonymousId: anon,
          event: 'Consent Updated',
          properties: { email_marketing: true },
        })
        await track('/v1/identify', { anonymousId: anon, userId: u })
      } else if (r < 0.84) {
        const res = await t.admin('POST', '/api/privacy/requests', {
          type: 'erasure',
          profile: u,
          regulation: 'gdpr',
        })
        expect([201, 404, 409]).toContain(res.statusCode)
      } else if (r < 0.88) {
        mode = mode === 'opt_in' ? 'opt_out' : 'opt_in'
        await ok('PUT', '/api/email/settings', {
          from: 'News <news@example.com>',
          consent: { mode },
        })
      } else if (r < 0.91) {
        await ok('PUT', '/api/segments/pro', {
          rule:
            random() < 0.5 ? { trait: 'plan', in: ['pro', 'team'] } : { trait: 'plan', eq: 'pro' },
        })
      } else if (r < 0.93) {
        await ok('DELETE', '/api/segments/active')
        await ok('PUT', '/api/segments/active', { rule: { event: 'Viewed', within: '2h' } })
      } else {
        clock.advance(3 * HOUR)
        await t.rt.store.write((tx) => t.rt.engine.fireDue(tx, clock.now()))
      }
      for (const key of ['pro', 'active', 'anyone']) await t.rt.segments.settled('default', key)
      const want = await counted(mode)
      expect(await listed(), `step ${step}`).toEqual(want)
      expect((await ok('GET', '/api/overview')).reachable, `step ${step}`).toBe(
        await audience(mode),
      )
      steps++
      if (Object.values(want).some((c) => c.reachable > 0)) nonZeroReachable++
    }
    expect(steps).toBe(120)
    // A reachable person erased: the counters lose them with their rows.
    await ok('PUT', '/api/email/settings', {
      from: 'News <news@example.com>',
      consent: { mode: 'opt_out' },
    })
    mode = 'opt_out'
    await track('/v1/identify', {
      userId: 'zed',
      traits: { plan: 'pro', email: 'zed@example.com' },
    })
    for (const key of ['pro', 'active', 'anyone']) await t.rt.segments.settled('default', key)
    const before = await audience(mode)
    expect((await ok('GET', '/api/overview')).reachable).toBe(before)
    expect(
      (
        await t.admin('POST', '/api/privacy/requests', {
          type: 'erasure',
          profile: 'zed',
          regulation: 'gdpr',
        })
      ).statusCode,
    ).toBe(201)
    expect(await audience(mode)).toBe(before - 1)
    expect((await ok('GET', '/api/overview')).reachable).toBe(before - 1)
    expect(await listed()).toEqual(await counted(mode))
    // The run reached people: the counters were tested on something.
    expect(nonZeroReachable).toBeGreaterThan(20)
  })
})
