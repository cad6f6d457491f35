import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ManualClock } from '../src/shared/clock.js'
import { newTestApp, WRITE_KEY } from './helpers/runtime.js'
import type { TestApp } from './helpers/runtime.js'
import { testStoreKinds } from './helpers/stores.js'

const NOW = Date.parse('2026-06-01T12:00:00Z')
const DAY = 86_400_000

describe.each(testStoreKinds())('segments API on %s', (kind) => {
  let t: TestApp
  let clock: ManualClock
  const settle = (key: string) => t.rt.segments.settled('default', key)

  beforeEach(async () => {
    clock = new ManualClock(NOW)
    t = await newTestApp(kind, { clock })
    await t.track('/v1/batch', {
      batch: [
        { type: 'identify', userId: 'ann', traits: { plan: 'pro', email: 'ann@example.com' } },
        { type: 'identify', userId: 'bob', traits: { plan: 'free', email: 'bob@example.com' } },
        { type: 'identify', userId: 'cy', traits: { plan: 'team' } },
        {
          type: 'track',
          userId: 'ann',
          event: 'Viewed Pricing',
          timestamp: new Date(NOW - DAY).toISOString(),
        },
        {
          type: 'track',
          userId: 'bob',
          event: 'Viewed Pricing',
          timestamp: new Date(NOW - 3 * DAY).toISOString(),
        },
      ],
    })
  })
  afterEach(async () => {
    await t.close()
  })

  it('publishes a segment, computes it, and lists it with its size', async () => {
    const put = await t.admin('PUT', '/api/segments/pro', {
      name: 'Pro plan',
      rule: { trait: 'plan', eq: 'pro' },
    })
    expect(put.statusCode).toBe(201)
    expect(put.json()).toMatchObject({
      key: 'pro',
      name: 'Pro plan',
      version: 1,
      status: 'computing',
    })
    await settle('pro')
    const one = (await t.admin('GET', '/api/segments/pro')).json()
    expect(one).toMatchObject({
      key: 'pro',
      version: 1,
      liveVersion: 1,
      status: 'live',
      size: 1,
      progress: null,
      rule: { trait: 'plan', eq: 'pro' },
    })
    await t.admin('PUT', '/api/segments/viewers', {
      name: 'Viewers',
      rule: { event: 'Viewed Pricing', within: '7d' },
    })
    await settle('viewers')
    const list = (await t.admin('GET', '/api/segments')).json().items
    expect(list.map((s: { key: string; size: number }) => [s.key, s.size])).toEqual([
      ['pro', 1],
      ['viewers', 2],
    ])
    // Republishing the same rule changes the name, not the version.
    const again = await t.admin('PUT', '/api/segments/pro', {
      name: 'Pro customers',
      rule: { trait: 'plan', eq: 'pro' },
    })
    expect(again.statusCode).toBe(200)
    expect(again.json()).toMatchObject({ name: 'Pro customers', version: 1, status: 'live' })
    // The profile shows its segments.
    const ann = (await t.admin('GET', '/api/profiles/ann')).json()
    expect(ann.segments.map((s: { key: string }) => s.key)).toEqual(['pro', 'viewers'])
  })

  it('refuses bad rules with the path of each problem', async () => {
    const res = await t.admin('PUT', '/api/segments/bad', {
      name: 'Bad',
      rule: { all: [{ trait: 'plan', eq: 'pro' }, { event: 'X', within: '7 days' }, { any: [] }] },
    })
    expect(res.statusCode).toBe(400)
    expect(res.json().error).toMatchObject({
      code: 'invalid_rule',
      issues: [
        { path: 'all[1].within', message: expect.stringMatching(/not a duration/) },
        { path: 'all[2].any', message: 'any must list at least one rule' },
      ],
    })
    const key = await t.admin('PUT', '/api/segments/Bad Key', {
      rule: { trait: 'x', exists: true },
    })
    expect(key.statusCode).toBe(400)
    expect(key.json().error.message).toMatch(/segment key/)
    const missing = await t.admin('PUT', '/api/segments/ok', { name: 'No rule' })
    expect(missing.json().error).toMatchObject({
      code: 'invalid_body',
      message: 'rule is required',
    })
    const ref = await t.admin('PUT', '/api/segments/ghost-ref', { rule: { segment: 'ghost' } })
    expect(ref.json().error.message).toMatch(/refers to segment ghost, which does not exist/)
    expect((await t.admin('GET', '/api/segments/nope')).json().error.code).toBe('segment_not_found')
    // A misspelt field is refused, not silently dropped (and nothing is published).
    const typo = await t.admin('PUT', '/api/segments/typo', {
      name: 'Typo',
      rule: { trait: 'plan', eq: 'pro' },
      descripton: 'pro plans',
    })
    expect(typo.statusCode).toBe(400)
    expect(typo.json().error).toMatchObject({
      code: 'invalid_body',
      message: expect.stringMatching(/unknown field "descripton"; expected name, description/),
    })
    expect((await t.admin('GET', '/api/segments/typo')).statusCode).toBe(404)
    for (const url of ['/api/segments/preview', '/api/segments/paid/diff']) {
      const extra = await t.admin('POST', url, { rule: { trait: 'plan', eq: 'pro' }, limit: 5 })
      expect(extra.statusCode, url).toBe(400)
      expect(extra.json().error.message, url).toMatch(/unknown field "limit"; expected only rule/)
    }
    // A count no store can compare is a rule error, not a 500 (PostgreSQL refused it).
    const huge = await t.admin('POST', '/api/segments/preview', {
      rule: { event: 'Viewed Pricing', count: { gte: 1e300 } },
    })
    expect(huge.statusCode).toBe(400)
    expect(huge.json().error).toMatchObject({
      code: 'invalid_rule',
      issues: [{ path: 'count.gte' }],
    })
  })

  it('previews a rule and diffs a new version before publishing', async () => {
    const preview = await t.admin('POST', '/api/segments/preview', {
      rule: { event: 'Viewed Pricing', within: '2d' },
    })
    expect(preview.json()).toMatchObject({ count: 1, sample: [{ userId: 'ann' }] })
    await t.admin('PUT', '/api/segments/paid', { rule: { trait: 'plan', eq: 'pro' } })
    await settle('paid')
    const diff = await t.admin('POST', '/api/segments/paid/diff', {
      rule: { trait: 'plan', in: ['team', 'pro'] },
    })
    expect(diff.json()).toMatchObject({
      entering: { count: 1, sample: [{ userId: 'cy' }] },
      exiting: { count: 0, sample: [] },
    })
    const bad = await t.admin('POST', '/api/segments/preview', { rule: { trait: 'plan' } })
    expect(bad.json().error.code).toBe('invalid_rule')
  })

  it('pages members as JSON and streams them as CSV', async () => {
    await t.admin('PUT', '/api/segments/everyone', { rule: { trait: 'plan', exists: true } })
    await settle('everyone')
    const first = (await t.admin('GET', '/api/segments/everyone/members?limit=2')).json()
    expect(first.items).toHaveLength(2)
    const second = (
      await t.admin('GET', `/api/segments/everyone/members?limit=2&cursor=${first.nextCursor}`)
    ).json()
    expect(second.nextCursor).toBeNull()
    const users = [...first.items, ...second.items].map((m: { userId: string }) => m.userId).sort()
    expect(users).toEqual(['ann', 'bob', 'cy'])
    const csv = await t.app.inject({
      method: 'GET',
      url: '/api/segments/everyone/members',
      headers: { authorization: 'Bearer test-admin-key-0001', accept: 'text/csv' },
    })
    expect(csv.headers['content-type']).toMatch(/text\/csv/)
    const lines = csv.body.trim().split('\n')
    expect(lines[0]).toBe('id,user_id,email,entered_at')
    expect(
      lines
        .slice(1)
        .map((l) => l.split(',')[1])
        .sort(),
    ).toEqual(['ann', 'bob', 'cy'])
    expect(csv.body).toContain('ann@example.com')
  })

  it('reports entered and exited per day', async () => {
    await t.admin('PUT', '/api/segments/week', { rule: { event: 'Viewed Pricing', within: '7d' } })
    await settle('week')
    // Time passes: bob's view (3 days old) expires in 4 days, ann's in 6.
    for (const d of [4, 6]) {
      clock.set(NOW + d * DAY)
      await t.rt.store.write((tx) => t.rt.engine.fireDue(tx, clock.now()))
    }
    const h = (
      await t.admin('GET', '/api/segments/week/history?from=2026-05-30&to=2026-06-10')
    ).json()
    expect(h.days).toEqual([
      { day: '2026-06-01', entered: 2, exited: 0 },
      { day: '2026-06-05', entered: 0, exited: 1 },
      { day: '2026-06-07', entered: 0, exited: 1 },
    ])
  })

  it('explains why a profile is in a segment, condition by condition', async () => {
    await t.admin('PUT', '/api/segments/hot', {
      rule: {
        all: [
          { trait: 'plan', eq: 'pro' },
          { event: 'Viewed Pricing', within: '7d' },
        ],
      },
    })
    await settle('hot')
    const res = (await t.admin('GET', '/api/profiles/ann/explain/hot')).json()
    expect(res).toMatchObject({
      segment: 'hot',
      member: true,
      since: new Date(NOW).toISOString(),
      explanation: {
        result: true,
        nextChangeAt: new Date(NOW + 6 * DAY).toISOString(),
        children: [
          { rule: 'trait plan eq "pro"', result: true, values: { value: 'pro' } },
          {
            result: true,
            values: { count: 1 },
            nextChangeAt: new Date(NOW + 6 * DAY).toISOString(),
          },
        ],
      },
    })
    const bob = (await t.admin('GET', '/api/profiles/bob/explain/hot')).json()
    expect(bob).toMatchObject({
      member: false,
      explanation: {
        result: false,
        children: [{ result: false, values: { value: 'free' } }, { result: true }],
      },
    })
  })

  it('deletes a segment (its members exit), but not one another segment uses', async () => {
    await t.admin('PUT', '/api/segments/base', { rule: { trait: 'plan', eq: 'pro' } })
    await t.admin('PUT', '/api/segments/top', { rule: { segment: 'base' } })
    await settle('base')
    await settle('top')
    const refused = await t.admin('DELETE', '/api/segments/base')
    expect(refused.statusCode).toBe(409)
    expect(refused.json().error).toMatchObject({ code: 'segment_in_use', usedBy: ['top'] })
    const del = await t.admin('DELETE', '/api/segments/top')
    expect(del.json()).toEqual({ deleted: 'top', exited: 1 })
    expect((await t.admin('GET', '/api/segments/top')).statusCode).toBe(404)
    const last = await t.rt.store.listTransitions('default', { limit: 100, segmentKey: 'top' })
    expect(last.at(-1)).toMatchObject({ type: 'segment.exited', reason: 'deleted' })
    expect((await t.admin('DELETE', '/api/segments/base')).statusCode).toBe(200)
  })

  it('keeps workspaces apart and keeps write keys out', async () => {
    await t.admin('PUT', '/api/segments/pro', { rule: { trait: 'plan', eq: 'pro' } })
    await t.rt.store.ensureWorkspace({ id: 'other', name: 'Other', createdAt: NOW })
    const { key } = await t.rt.keys.create({ workspaceId: 'other', kind: 'admin' })
    const headers = { authorization: `Bearer ${key}` }
    expect((await t.app.inject({ method: 'GET', url: '/api/segments', headers })).json()).toEqual({
      items: [],
    })
    for (const url of [
      '/api/segments/pro',
      '/api/segments/pro/members',
      '/api/segments/pro/history',
      '/api/profiles/ann/explain/pro',
    ]) {
      expect((await t.app.inject({ method: 'GET', url, headers })).statusCode).toBe(404)
    }
    const write = await t.app.inject({
      method: 'GET',
      url: '/api/segments',
      headers: { authorization: `Bearer ${WRITE_KEY}` },
    })
    expect(write.statusCode).toBe(403)
  })
})

describe.each(testStoreKinds())('segment computation on %s', (kind) => {
  it('shows progress while a backfill runs, ingestion going on meanwhile', async () => {
    const t = await newTestApp(kind, { backfillPageSize: 2 })
    try {
      await t.track('/v1/batch', {
        batch: Array.from({ length: 7 }, (_, i) => ({
          type: 'identify',
          userId: `u${i}`,
          traits: { n: i },
        })),
      })
      // Hold the writer so the first page cannot run yet.
      let release!: () => void
      const gate = new Promise<void>((r) => (release = r))
      const held = t.rt.store.write(() => gate)
      const put = t.admin('PUT', '/api/segments/even', { rule: { trait: 'n', in: [0, 2, 4, 6] } })
      await new Promise((r) => setTimeout(r, 20))
      release()
      await held
      const published = (await put).json()
      expect(published).toMatchObject({ status: 'computing', progress: { done: 0, total: 7 } })
      const seen: number[] = []
      for (;;) {
        const s = (await t.admin('GET', '/api/segments/even')).json()
        if (s.status === 'live') break
        seen.push(s.progress.done)
        // A message arriving mid-backfill is stored and evaluated like any other.
        await t.track('/v1/track', { userId: 'late', event: 'Signed Up' })
        await new Promise((r) => setImmediate(r))
      }
      expect(seen.some((d) => d > 0 && d < 7)).toBe(true)
      expect((await t.admin('GET', '/api/segments/even')).json()).toMatchObject({
        status: 'live',
        size: 4,
        progress: null,
      })
      const metrics = (await t.app.inject({ method: 'GET', url: '/metrics' })).body
      expect(metrics).toMatch(/segflow_transitions_total 4/)
      expect(metrics).toMatch(/segflow_segment_evaluations_total \d+/)
    } finally {
      await t.close()
    }
  })
})
