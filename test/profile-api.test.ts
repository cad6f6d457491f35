import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ManualClock } from '../src/shared/clock.js'
import { newTestApp, WRITE_KEY } from './helpers/runtime.js'
import type { TestApp } from './helpers/runtime.js'
import { testStoreKinds } from './helpers/stores.js'

const NOW = Date.parse('2026-06-01T12:00:00Z')

describe.each(testStoreKinds())('profile API on %s', (kind) => {
  let t: TestApp
  let clock: ManualClock
  beforeEach(async () => {
    clock = new ManualClock(NOW)
    t = await newTestApp(kind, { clock })
    await t.track('/v1/track', {
      anonymousId: 'a1',
      event: 'Viewed Pricing',
      timestamp: '2026-06-01T11:00:00Z',
    })
    await t.track('/v1/identify', {
      userId: 'u1',
      anonymousId: 'a1',
      traits: { email: 'Ann@Example.com', plan: 'free' },
    })
  })
  afterEach(async () => {
    await t.close()
  })

  it('finds a profile by userId, anonymousId, email or internal id', async () => {
    const byUser = await t.admin('GET', '/api/profiles/u1')
    expect(byUser.statusCode).toBe(200)
    const p = byUser.json()
    expect(p).toMatchObject({
      userId: 'u1',
      anonymousIds: ['a1'],
      emails: ['ann@example.com'],
      traits: { email: 'Ann@Example.com', plan: 'free' },
      firstSeen: '2026-06-01T11:00:00.000Z',
      lastSeen: '2026-06-01T12:00:00.000Z',
    })
    expect(p.identities.map((i: { type: string }) => i.type).sort()).toEqual([
      'anonymous',
      'email',
      'user',
    ])
    for (const ref of ['a1', 'ann@example.com', 'ANN@example.com', p.id]) {
      const res = await t.admin('GET', `/api/profiles/${encodeURIComponent(ref)}`)
      expect(res.json().id).toBe(p.id)
    }
  })

  it('searches people by the start of a userId, anonymousId or email, one entry per person', async () => {
    await t.track('/v1/identify', { userId: 'u10', traits: { email: 'bob@example.com' } })
    await t.track('/v1/identify', { userId: 'zed', anonymousId: 'anon-ann' })
    const search = async (q: string) => {
      const res = await t.admin('GET', `/api/profiles?q=${encodeURIComponent(q)}`)
      expect(res.statusCode, res.body).toBe(200)
      return res.json().items as { userId: string; matched: { type: string; value: string } }[]
    }
    // An exact userId first, then the others it starts.
    expect((await search('u1')).map((p) => [p.userId, p.matched])).toEqual([
      ['u1', { type: 'user', value: 'u1' }],
      ['u10', { type: 'user', value: 'u10' }],
    ])
    // Emails case-insensitively; the person once, though several identities match.
    expect((await search('ANN@')).map((p) => p.userId)).toEqual(['u1'])
    expect(await search('an')).toEqual([
      expect.objectContaining({
        userId: 'u1',
        email: 'Ann@Example.com',
        anonymousIds: ['a1'],
        matched: { type: 'email', value: 'ann@example.com' },
      }),
      expect.objectContaining({
        userId: 'zed',
        email: null,
        anonymousIds: ['anon-ann'],
        matched: { type: 'anonymous', value: 'anon-ann' },
      }),
    ])
    const id = (await t.admin('GET', '/api/profiles/u1')).json().id
    expect((await search(id)).map((p) => [p.userId, p.matched.type])).toEqual([['u1', 'id']])
    expect(await search('nobody')).toEqual([])
    // A percent sign is a character, not a wildcard.
    expect(await search('%')).toEqual([])
    const missing = await t.admin('GET', '/api/profiles')
    expect(missing.statusCode).toBe(400)
    expect(missing.json().error.issues).toEqual([
      { field: 'q', reason: 'is required: the start of a userId, anonymousId, alias or email' },
    ])
    expect((await t.admin('GET', '/api/profiles?q=u&limt=2')).statusCode).toBe(400)
    expect((await t.admin('GET', '/api/profiles?q=u&limit=1')).json().items).toHaveLength(1)
  })

  it('answers 404 profile_not_found for an unknown id', async () => {
    const res = await t.admin('GET', '/api/profiles/nobody')
    expect(res.statusCode).toBe(404)
    expect(res.json().error).toEqual({
      code: 'profile_not_found',
      message: 'no profile has the id, userId, anonymousId or email "nobody"',
    })
  })

  it('POST merges traits (null removes one); PUT replaces them all', async () => {
    clock.advance(1000)
    const post = await t.admin('POST', '/api/profiles/u1', {
      traits: { plan: 'pro', seats: 5, email: null },
    })
    expect(post.statusCode).toBe(200)
    expect(post.json().traits).toEqual({ plan: 'pro', seats: 5 })
    clock.advance(1000)
    const put = await t.admin('PUT', '/api/profiles/a1', { traits: { tier: 'gold' } })
    expect(put.statusCode).toBe(200)
    expect(put.json().traits).toEqual({ tier: 'gold' })
    // Operator changes are not activity: last seen stays at the last identify.
    expect(put.json().lastSeen).toBe('2026-06-01T12:00:00.000Z')
    // Both updates are kept as events, so history can be replayed.
    const events = (await t.admin('GET', '/api/profiles/u1/events')).json().items
    expect(events.map((e: { type: string }) => e.type)).toEqual([
      'identify',
      'identify',
      'identify',
      'track',
    ])
  })

  it('creates a profile when the id is unknown (201), with it as userId', async () => {
    const res = await t.admin('PUT', '/api/profiles/crm-42', { traits: { plan: 'trial' } })
    expect(res.statusCode).toBe(201)
    expect(res.json()).toMatchObject({
      userId: 'crm-42',
      traits: { plan: 'trial' },
      firstSeen: null,
    })
    expect((await t.admin('GET', '/api/profiles/crm-42')).json().traits).toEqual({ plan: 'trial' })
  })

  it('explains what is wrong with an update body', async () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ traits: 'pro' }, /traits must be an object/],
      [{ trait: { a: 1 } }, /unknown field "trait"/],
      [[1, 2], /body must be a JSON object/],
      [{ traits: { '': 1 } }, /must not be empty/],
      [{ traits: { note: 'a\u0000b' } }, /traits.note contains a NUL character/],
    ]
    for (const [body, message] of cases) {
      const res = await t.admin('POST', '/api/profiles/u1', body)
      expect(res.statusCode).toBe(400)
      expect(res.json().error.code).toBe('invalid_body')
      expect(res.json().error.message).toMatch(message)
    }
    const bad = await t.app.inject({
      method: 'POST',
      url: '/api/profiles/u1',
      headers: { authorization: 'Bearer test-admin-key-0001', 'content-type': 'application/json' },
      payload: '{"traits":',
    })
    expect(bad.statusCode).toBe(400)
    expect(bad.json().error.code).toBe('invalid_json')
  })

  it('pages a profile events with a cursor', async () => {
    for (let i = 0; i < 5; i++)
      await t.track('/v1/track', {
        userId: 'u1',
        event: `E${i}`,
        timestamp: `2026-06-01T10:0${i}:00Z`,
      })
    const first = (await t.admin('GET', '/api/profiles/u1/events?limit=4')).json()
    expect(first.items.map((e: { name: string }) => e.name)).toEqual([
      null,
      'Viewed Pricing',
      'E4',
      'E3',
    ])
    const second = (
      await t.admin('GET', `/api/profiles/u1/events?limit=4&cursor=${first.nextCursor}`)
    ).json()
    expect(second.items.map((e: { name: string }) => e.name)).toEqual(['E2', 'E1', 'E0'])
    expect(second.nextCursor).toBeNull()
    const bad = await t.admin('GET', '/api/profiles/u1/events?limit=0')
    expect(bad.statusCode).toBe(400)
    expect(bad.json().error.message).toMatch(/limit "0" must be a whole number from 1 to 1000/)
  })

  it('refuses write keys, missing keys and other workspaces', async () => {
    const missing = await t.app.inject({ method: 'GET', url: '/api/profiles/u1' })
    expect(missing.statusCode).toBe(401)
    expect(missing.json().error.code).toBe('missing_key')
    const write = await t.app.inject({
      method: 'GET',
      url: '/api/profiles/u1',
      headers: { authorization: `Bearer ${WRITE_KEY}` },
    })
    expect(write.statusCode).toBe(403)
    expect(write.json().error.message).toMatch(/write keys can only ingest/)
    const wrong = await t.app.inject({
      method: 'GET',
      url: '/api/profiles/u1',
      headers: { authorization: 'Bearer not-a-key' },
    })
    expect(wrong.statusCode).toBe(401)

    await t.rt.store.ensureWorkspace({ id: 'other', name: 'Other', createdAt: NOW })
    const { key } = await t.rt.keys.create({ workspaceId: 'other', kind: 'admin' })
    const other = { authorization: `Bearer ${key}` }
    const id = (await t.admin('GET', '/api/profiles/u1')).json().id
    for (const url of ['/api/profiles/u1', `/api/profiles/${id}`, '/api/profiles/u1/events']) {
      const res = await t.app.inject({ method: 'GET', url, headers: other })
      expect(res.statusCode).toBe(404)
      expect(res.body).not.toContain('Ann@Example.com')
    }
    // Updating through another workspace creates a profile there and leaves this one alone.
    const post = await t.app.inject({
      method: 'POST',
      url: '/api/profiles/u1',
      headers: { ...other, 'content-type': 'application/json' },
      payload: { traits: { hijacked: true } },
    })
    expect(post.statusCode).toBe(201)
    expect((await t.admin('GET', '/api/profiles/u1')).json().traits).not.toHaveProperty('hijacked')
  })
})

describe.each(testStoreKinds())('health and metrics on %s', (kind) => {
  it('reports health and counts ingested, duplicate and rejected messages', async () => {
    const t = await newTestApp(kind)
    try {
      const health = await t.app.inject({ method: 'GET', url: '/healthz' })
      expect(health.json()).toMatchObject({ status: 'ok', store: kind, database: 'up' })
      const ready = await t.app.inject({ method: 'GET', url: '/readyz' })
      expect([ready.statusCode, ready.json()]).toMatchObject([200, { status: 'ok', store: kind }])
      expect((await t.app.inject({ method: 'GET', url: '/livez' })).json()).toEqual({
        status: 'ok',
      })
      await t.track('/v1/track', { userId: 'u', event: 'E', messageId: 'x' })
      await t.track('/v1/track', { userId: 'u', event: 'E', messageId: 'x' })
      await t.track('/v1/batch', {
        batch: [
          { type: 'page', userId: 'u' },
          { type: 'track', userId: 'u' },
        ],
      })
      await t.track('/v1/track', '{oops')
      const text = (await t.app.inject({ method: 'GET', url: '/metrics' })).body
      expect(text).toMatch(/segflow_ingested_messages_total\{type="track"\} 1/)
      expect(text).toMatch(/segflow_ingested_messages_total\{type="page"\} 1/)
      expect(text).toMatch(/segflow_duplicate_messages_total 1/)
      expect(text).toMatch(/segflow_rejected_messages_total\{reason="invalid_message"\} 1/)
      expect(text).toMatch(/segflow_rejected_messages_total\{reason="invalid_json"\} 1/)
      expect(text).toMatch(/segflow_ingest_queue_depth 0/)
      expect(text).toMatch(/segflow_commit_duration_seconds_count 3/)
    } finally {
      await t.close()
    }
  })
})
