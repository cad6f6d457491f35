import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { gzipSync } from 'node:zlib'
import { ManualClock } from '../src/shared/clock.js'
import { basic, newTestApp, WRITE_KEY } from './helpers/runtime.js'
import type { TestApp } from './helpers/runtime.js'
import { testStoreKinds } from './helpers/stores.js'

const NOW = Date.parse('2026-06-01T12:00:00Z')

describe.each(testStoreKinds())('tracking API on %s', (kind) => {
  let t: TestApp
  let clock: ManualClock
  beforeEach(async () => {
    clock = new ManualClock(NOW)
    t = await newTestApp(kind, { clock })
  })
  afterEach(async () => {
    await t.close()
  })

  const events = async (ref: string) => {
    const id = await t.rt.store.resolveProfileId('default', ref)
    if (id === null) return []
    return (await t.rt.store.listEvents('default', { profileId: id, limit: 100 })).items
  }

  const bodies: Record<string, object> = {
    track: { userId: 'u1', event: 'Signed Up', properties: { plan: 'pro' } },
    identify: { userId: 'u1', traits: { email: 'a@b.c' } },
    page: { userId: 'u1', name: 'Pricing', properties: { path: '/pricing' } },
    screen: { userId: 'u1', name: 'Home' },
    group: { userId: 'u1', groupId: 'acme', traits: { employees: 30 } },
    alias: { userId: 'u1', previousId: 'anon-7' },
  }
  const short: Record<string, string> = {
    track: 't',
    identify: 'i',
    page: 'p',
    screen: 's',
    group: 'g',
    alias: 'a',
  }

  for (const [type, body] of Object.entries(bodies)) {
    it(`stores ${type} from /v1/${type} and /v1/${short[type]}`, async () => {
      const a = await t.track(`/v1/${type}`, body)
      expect(a.statusCode).toBe(200)
      expect(a.json()).toEqual({ success: true })
      const b = await t.track(`/v1/${short[type]}`, body)
      expect(b.statusCode).toBe(200)
      const stored = await events('u1')
      expect(stored.map((e) => e.type)).toEqual([type, type])
      const name =
        type === 'track'
          ? 'Signed Up'
          : type === 'page'
            ? 'Pricing'
            : type === 'screen'
              ? 'Home'
              : null
      expect(stored[0]!.name).toBe(name)
    })
  }

  it('takes text/plain and gzip bodies, and the write key in the body', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/v1/track',
      headers: { 'content-type': 'text/plain;charset=UTF-8' },
      payload: JSON.stringify({ writeKey: WRITE_KEY, anonymousId: 'a1', event: 'Plain' }),
    })
    expect(res.statusCode).toBe(200)
    const zipped = await t.app.inject({
      method: 'POST',
      url: '/v1/batch',
      headers: {
        authorization: basic(WRITE_KEY),
        'content-type': 'application/json',
        'content-encoding': 'gzip',
      },
      payload: gzipSync(
        JSON.stringify({ batch: [{ type: 'track', anonymousId: 'a1', event: 'Zipped' }] }),
      ),
    })
    expect(zipped.statusCode).toBe(200)
    expect((await events('a1')).map((e) => e.name).sort()).toEqual(['Plain', 'Zipped'])
  })

  it('answers CORS preflights and tags responses for browsers', async () => {
    const pre = await t.app.inject({
      method: 'OPTIONS',
      url: '/v1/t',
      headers: {
        origin: 'https://shop.example',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type',
      },
    })
    expect(pre.statusCode).toBe(204)
    expect(pre.headers['access-control-allow-origin']).toBe('https://shop.example')
    expect(String(pre.headers['access-control-allow-methods'])).toContain('POST')
    const res = await t.track(
      '/v1/t',
      { anonymousId: 'a', event: 'E' },
      { origin: 'https://shop.example' },
    )
    expect(res.headers['access-control-allow-origin']).toBe('https://shop.example')
  })

  it('serves analytics.js settings for a valid write key only', async () => {
    const ok = await t.app.inject({
      method: 'GET',
      url: `/v1/projects/${WRITE_KEY}/settings`,
      headers: { host: 'cdp.example:8787' },
    })
    expect(ok.statusCode).toBe(200)
    expect(ok.json().integrations['Segment.io']).toMatchObject({
      apiKey: WRITE_KEY,
      apiHost: 'cdp.example:8787/v1',
    })
    const bad = await t.app.inject({ method: 'GET', url: '/v1/projects/nope/settings' })
    expect(bad.statusCode).toBe(401)
    expect(bad.json().error.code).toBe('invalid_key')
  })

  it('corrects client clock skew with sentAt and clamps future timestamps', async () => {
    // The client's clock runs 1 h fast: it says it sent at 13:00 an event from 12:59.
    await t.track('/v1/track', {
      userId: 'u1',
      event: 'Skewed',
      timestamp: '2026-06-01T12:59:00Z',
      sentAt: '2026-06-01T13:00:00Z',
    })
    // No sentAt and a timestamp a day ahead: clamped to the receive time.
    await t.track('/v1/track', { userId: 'u1', event: 'Future', timestamp: '2026-06-02T12:00:00Z' })
    // A batch's sentAt applies to messages without their own.
    await t.track('/v1/batch', {
      sentAt: '2026-06-01T11:00:10Z',
      batch: [{ type: 'track', userId: 'u1', event: 'Batched', timestamp: '2026-06-01T11:00:00Z' }],
    })
    const byName = Object.fromEntries((await events('u1')).map((e) => [e.name, e.timestamp]))
    expect(byName.Skewed).toBe(NOW - 60_000)
    expect(byName.Future).toBe(NOW)
    expect(byName.Batched).toBe(NOW - 10_000)
  })

  it('refuses NUL characters by field, and stores lone surrogates as U+FFFD, on every store', async () => {
    const nul = await t.track(
      '/v1/track',
      '{"userId": "u1", "event": "E", "properties": {"note": "a\\u0000b"}}',
    )
    expect(nul.statusCode).toBe(400)
    expect(nul.json().error).toMatchObject({
      code: 'invalid_message',
      issues: [{ field: 'properties.note', reason: expect.stringMatching(/NUL character/) }],
    })
    const batch = await t.track(
      '/v1/batch',
      '{"batch": [{"type": "track", "userId": "u1", "event": "Bad\\u0000"}, {"type": "track", "userId": "u1", "event": "Half \\ud83d", "properties": {"k\\udc00": "v"}}]}',
    )
    expect(batch.statusCode).toBe(200)
    expect(batch.json().rejected).toMatchObject([{ index: 0, field: 'event' }])
    const [stored] = await events('u1')
    expect(stored!.name).toBe('Half \ufffd')
    expect(stored!.properties).toEqual({ 'k\ufffd': 'v' })
  })

  it('stores one event when a messageId arrives three times', async () => {
    const body = { userId: 'u1', event: 'Once', messageId: 'same-id' }
    for (let i = 0; i < 3; i++) expect((await t.track('/v1/track', body)).statusCode).toBe(200)
    const batch = await t.track('/v1/batch', { batch: [{ type: 'track', ...body }] })
    expect(batch.json()).toMatchObject({ accepted: 0, duplicates: 1 })
    expect((await events('u1')).length).toBe(1)
    expect(await t.rt.store.countEvents('default')).toBe(1)
  })

  it('stores the good messages of a partly bad batch and names each bad one', async () => {
    const res = await t.track('/v1/batch', {
      batch: [
        { type: 'track', userId: 'u1', event: 'Good 1' },
        { type: 'track', userId: 'u1' },
        { type: 'identify', traits: { a: 1 } },
        { type: 'launch', userId: 'u1' },
        { type: 'page', userId: 'u1', name: 'Good 2', timestamp: 'yesterday' },
        { type: 'page', anonymousId: 'a9', name: 'Good 3' },
        'not an object',
      ],
    })
    expect(res.statusCode).toBe(200)
    const body = res.json()
    expect(body).toMatchObject({ success: true, accepted: 2, duplicates: 0 })
    expect(body.rejected).toEqual([
      { index: 1, field: 'event', reason: 'event is required for track' },
      { index: 2, field: 'userId', reason: 'userId or anonymousId is required' },
      {
        index: 3,
        field: 'type',
        reason: 'type "launch" is not one of track, identify, page, screen, group, alias',
      },
      {
        index: 4,
        field: 'timestamp',
        reason: 'timestamp "yesterday" is not an ISO-8601 date-time',
      },
      { index: 6, field: '', reason: 'a message must be a JSON object' },
    ])
    expect((await events('u1')).map((e) => e.name)).toEqual(['Good 1'])
    expect((await events('a9')).map((e) => e.name)).toEqual(['Good 3'])
  })

  it('refuses a message nested too deep with 400 for it alone, storing the rest of its batch', async () => {
    // 16,000 nested arrays fit in 32 KB; walking them recursively overflows the stack.
    const deep = '['.repeat(16_000) + ']'.repeat(16_000)
    const single = await t.track(
      '/v1/track',
      `{"userId":"u1","event":"Deep","properties":{"a":${deep}}}`,
    )
    expect(single.statusCode).toBe(400)
    expect(single.json().error.code).toBe('invalid_message')
    expect(single.json().error.message).toMatch(/properties\.a.* nested more than 64 levels deep/)

    const batch = await t.track(
      '/v1/batch',
      `{"batch":[{"type":"track","userId":"u1","event":"Good"},` +
        `{"type":"track","userId":"u2","event":"Deep","properties":{"a":${deep}}}]}`,
    )
    expect(batch.statusCode).toBe(200)
    expect(batch.json()).toMatchObject({ accepted: 1, rejected: [{ index: 1 }] })
    expect(batch.json().rejected[0].field).toMatch(/^properties\.a\[0\]/)
    expect((await events('u1')).map((e) => e.name)).toEqual(['Good'])
    expect(await events('u2')).toEqual([])

    // A batch-wide context merged into every message counts towards their depth too.
    let ctx: unknown = 1
    for (let i = 0; i < 70; i++) ctx = { c: ctx }
    const shared = await t.track('/v1/batch', {
      context: ctx,
      batch: [{ type: 'track', userId: 'u1', event: 'Good' }],
    })
    expect(shared.statusCode).toBe(400)
    expect(shared.json().error.issues[0].field).toMatch(/^context\.c\.c/)
  })

  it('refuses traits nested deeper than any preview can read, and previews keep answering', async () => {
    let nest: unknown = 'x'
    for (let i = 0; i < 1_100; i++) nest = { a: nest }
    const res = await t.track('/v1/identify', { userId: 'u3', traits: { n: nest } })
    expect(res.statusCode).toBe(400)
    expect(res.json().error.message).toMatch(/traits\.n\.a.* nested more than 64 levels deep/)
    const viaApi = await t.admin('POST', '/api/profiles/u1', { traits: { n: nest } })
    expect(viaApi.statusCode).toBe(400)
    expect(viaApi.json().error.issues[0].field).toMatch(/^traits\.n\.a/)
    // Sixty levels is still fine, and readable by a rule.
    let ok: unknown = 'x'
    for (let i = 0; i < 60; i++) ok = { a: ok }
    expect((await t.track('/v1/identify', { userId: 'u3', traits: { n: ok } })).statusCode).toBe(
      200,
    )
    const preview = await t.admin('POST', '/api/segments/preview', {
      rule: { trait: 'n.a', exists: true },
    })
    expect(preview.statusCode).toBe(200)
    expect(preview.json().count).toBe(1)
  })

  it('refuses a batch in which no message is valid, naming each', async () => {
    const res = await t.track('/v1/batch', { batch: [{ type: 'track', userId: 'u1' }] })
    expect(res.statusCode).toBe(400)
    expect(res.json().error).toMatchObject({
      code: 'invalid_message',
      rejected: [{ index: 0, field: 'event' }],
    })
    expect(await t.rt.store.countEvents('default')).toBe(0)
  })

  describe('error paths', () => {
    const cases: Array<{
      name: string
      url?: string
      body: unknown
      headers?: Record<string, string>
      status: number
      code: string
      message: RegExp
    }> = [
      {
        name: 'malformed JSON',
        body: '{"userId": "u1", "event":',
        status: 400,
        code: 'invalid_json',
        message: /not valid JSON/,
      },
      { name: 'an empty body', body: '', status: 400, code: 'invalid_json', message: /empty/ },
      {
        name: 'a JSON array',
        body: '[1]',
        status: 400,
        code: 'invalid_message',
        message: /JSON object/,
      },
      {
        name: 'no userId or anonymousId',
        body: { event: 'E' },
        status: 400,
        code: 'invalid_message',
        message: /userId or anonymousId is required/,
      },
      {
        name: 'a track without event',
        body: { userId: 'u1' },
        status: 400,
        code: 'invalid_message',
        message: /event is required for track/,
      },
      {
        name: 'an object as userId',
        body: { userId: { id: 1 }, event: 'E' },
        status: 400,
        code: 'invalid_message',
        message: /userId must be a string, not an object/,
      },
      {
        name: 'properties that are not an object',
        body: { userId: 'u', event: 'E', properties: [1] },
        status: 400,
        code: 'invalid_message',
        message: /properties must be an object, not an array/,
      },
      {
        name: 'an alias without previousId',
        url: '/v1/alias',
        body: { userId: 'u1' },
        status: 400,
        code: 'invalid_message',
        message: /previousId is required for alias/,
      },
      {
        name: 'a group without groupId',
        url: '/v1/group',
        body: { userId: 'u1' },
        status: 400,
        code: 'invalid_message',
        message: /groupId is required for group/,
      },
      {
        name: 'a message over 32 KB',
        body: { userId: 'u1', event: 'E', properties: { blob: 'x'.repeat(33 * 1024) } },
        status: 413,
        code: 'payload_too_large',
        message: /32 KB limit of POST \/v1\/track.*\/v1\/batch/,
      },
      {
        name: 'a batch over 500 KB',
        url: '/v1/batch',
        body: {
          batch: Array.from({ length: 20 }, () => ({
            type: 'track',
            userId: 'u',
            event: 'E',
            properties: { blob: 'x'.repeat(30 * 1024) },
          })),
        },
        status: 413,
        code: 'payload_too_large',
        message: /500 KB limit/,
      },
      {
        name: 'a batch of 2,501 messages',
        url: '/v1/batch',
        body: {
          batch: Array.from({ length: 2501 }, () => ({ type: 'track', userId: 'u', event: 'E' })),
        },
        status: 413,
        code: 'batch_too_large',
        message: /2501 messages; at most 2500/,
      },
      {
        name: 'a batch that is not an array',
        url: '/v1/batch',
        body: { batch: { type: 'track' } },
        status: 400,
        code: 'invalid_body',
        message: /batch must be an array/,
      },
      {
        name: 'no write key',
        body: { userId: 'u1', event: 'E' },
        headers: { authorization: '' },
        status: 401,
        code: 'missing_key',
        message: /no write key/,
      },
      {
        name: 'an unknown write key',
        body: { userId: 'u1', event: 'E' },
        headers: { authorization: basic('wrong-key') },
        status: 401,
        code: 'invalid_key',
        message: /not valid/,
      },
      {
        name: 'an admin key',
        body: { userId: 'u1', event: 'E' },
        headers: { authorization: basic('test-admin-key-0001') },
        status: 403,
        code: 'forbidden',
        message: /admin key/,
      },
      {
        name: 'an unsupported encoding',
        body: { userId: 'u1', event: 'E' },
        headers: { 'content-encoding': 'br' },
        status: 415,
        code: 'unsupported_encoding',
        message: /br/,
      },
      {
        name: 'a corrupt gzip body',
        body: 'definitely not gzip',
        headers: { 'content-encoding': 'gzip' },
        status: 400,
        code: 'invalid_encoding',
        message: /decompressed/,
      },
    ]
    for (const c of cases) {
      it(`answers ${c.status} ${c.code} to ${c.name}`, async () => {
        const res = await t.track(c.url ?? '/v1/track', c.body, c.headers)
        expect(res.statusCode).toBe(c.status)
        const { error } = res.json()
        expect(error.code).toBe(c.code)
        expect(error.message).toMatch(c.message)
        expect(await t.rt.store.countEvents('default')).toBe(0)
      })
    }

    it('rejects a message over 32 KB inside a batch and keeps the rest', async () => {
      const res = await t.track('/v1/batch', {
        batch: [
          {
            type: 'track',
            userId: 'u1',
            event: 'Big',
            properties: { blob: 'x'.repeat(33 * 1024) },
          },
          { type: 'track', userId: 'u1', event: 'Small' },
        ],
      })
      expect(res.statusCode).toBe(200)
      expect(res.json().rejected).toEqual([
        { index: 0, field: '', reason: expect.stringMatching(/bytes; at most 32768/) },
      ])
      expect((await events('u1')).map((e) => e.name)).toEqual(['Small'])
    })

    it("sends another workspace's write key's messages to that workspace only", async () => {
      await t.rt.store.ensureWorkspace({ id: 'other', name: 'Other', createdAt: NOW })
      const { key } = await t.rt.keys.create({ workspaceId: 'other', kind: 'write' })
      const res = await t.track(
        '/v1/track',
        { userId: 'u1', event: 'Elsewhere' },
        { authorization: basic(key) },
      )
      expect(res.statusCode).toBe(200)
      expect(await t.rt.store.countEvents('other')).toBe(1)
      expect(await t.rt.store.countEvents('default')).toBe(0)
    })

    it('stops accepting a revoked key at once', async () => {
      const [record] = (await t.rt.keys.list('default')).filter((k) => k.kind === 'write')
      expect((await t.track('/v1/track', { userId: 'u1', event: 'E' })).statusCode).toBe(200)
      await t.rt.keys.revoke(record!.id)
      const res = await t.track('/v1/track', { userId: 'u1', event: 'E' })
      expect(res.statusCode).toBe(401)
    })
  })
})
