/**
 * `/api/keys`: admins list the workspace's keys (never the keys) and make write keys, which
 * then ingest; editors and viewers are refused, and nothing else is accepted.
 */
import type { InjectOptions } from 'fastify'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { hashKey } from '../src/keys/key-service.js'
import { ManualClock } from '../src/shared/clock.js'
import { ADMIN_KEY, basic, newTestApp, WRITE_KEY } from './helpers/runtime.js'
import type { TestApp } from './helpers/runtime.js'
import { testStoreKinds } from './helpers/stores.js'

const NOW = Date.parse('2026-06-01T12:00:00Z')
const PASSWORD = 'correct horse battery'

describe.each(testStoreKinds())('/api/keys on %s', (kind) => {
  let t: TestApp

  beforeEach(async () => {
    t = await newTestApp(kind, { clock: new ManualClock(NOW) })
  })
  afterEach(async () => {
    await t.close()
  })

  const post = (url: string, payload: unknown) =>
    t.app.inject({
      method: 'POST',
      url,
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify(payload),
    })

  /** A logged-in user of the default workspace with `role`: their cookie and csrf token. */
  const session = async (email: string, role: string) => {
    const invited = await t.admin('PUT', `/api/users/${email}`, { role })
    const token = new URL(invited.json().setPasswordUrl).searchParams.get('token')
    expect((await post('/auth/set-password', { token, password: PASSWORD })).statusCode).toBe(200)
    const res = await post('/auth/login', { email, password: PASSWORD })
    const cookie = String(res.headers['set-cookie']).split(';')[0]!
    const csrf = res.json().csrfToken as string
    return (method: InjectOptions['method'], url: string, payload?: unknown) =>
      t.app.inject({
        method,
        url,
        headers: {
          cookie,
          'x-csrf-token': csrf,
          ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(payload === undefined ? {} : { payload: JSON.stringify(payload) }),
      })
  }

  it('lists keys without the keys, and makes a write key shown once that then ingests', async () => {
    const as = await session('ada@example.com', 'admin')
    const before = await as('GET', '/api/keys')
    expect(before.statusCode, before.body).toBe(200)
    const items = before.json().items as Array<Record<string, unknown>>
    expect(items.map((k) => k.kind).sort()).toEqual(['admin', 'write'])
    // Neither the keys nor their hashes, only the first characters.
    for (const secret of [WRITE_KEY, ADMIN_KEY, hashKey(WRITE_KEY), hashKey(ADMIN_KEY)])
      expect(before.body).not.toContain(secret)
    expect(items.find((k) => k.kind === 'write')).toMatchObject({
      prefix: WRITE_KEY.slice(0, 8),
      revokedAt: null,
      createdAt: new Date(NOW).toISOString(),
    })
    expect(Object.keys(items[0]!).sort()).toEqual(
      ['createdAt', 'id', 'kind', 'name', 'prefix', 'revokedAt'].sort(),
    )

    const made = await as('POST', '/api/keys', { kind: 'write', name: 'website' })
    expect(made.statusCode, made.body).toBe(201)
    const { key, id } = made.json() as { key: string; id: string }
    expect(key).toMatch(/^sfw_[A-Za-z0-9_-]{32}$/)
    expect(made.json()).toMatchObject({ kind: 'write', name: 'website', prefix: key.slice(0, 8) })
    const after = await as('GET', '/api/keys')
    expect(after.json().items.map((k: { id: string }) => k.id)).toContain(id)
    expect(after.body).not.toContain(key)
    // The new key ingests.
    const tracked = await t.app.inject({
      method: 'POST',
      url: '/v1/identify',
      headers: { authorization: basic(key), 'content-type': 'application/json' },
      payload: JSON.stringify({ userId: 'ann', traits: { plan: 'pro' } }),
    })
    expect(tracked.statusCode, tracked.body).toBe(200)
    // The audit log names who made it.
    const audit = (await t.admin('GET', '/api/audit')).json().items as Array<{
      actor: string
      action: string
      target: string | null
    }>
    expect(audit).toContainEqual(
      expect.objectContaining({
        actor: 'user:ada@example.com',
        action: 'key.create write',
        target: id,
      }),
    )
    // Without a body, a write key too.
    expect((await as('POST', '/api/keys', {})).json()).toMatchObject({ kind: 'write' })
  })

  it('refuses editors and viewers, admin keys, and unknown fields', async () => {
    for (const role of ['editor', 'viewer']) {
      const as = await session(`${role}@example.com`, role)
      for (const [method, payload] of [['GET'], ['POST', { kind: 'write' }]] as const) {
        const res = await as(method, '/api/keys', payload)
        expect(res.statusCode, res.body).toBe(403)
        expect(res.json().error).toMatchObject({ code: 'forbidden' })
        expect(res.json().error.message).toMatch(/needs the admin role/)
      }
    }
    const admin = await session('ada@example.com', 'admin')
    const adminKind = await admin('POST', '/api/keys', { kind: 'admin' })
    expect(adminKind.statusCode).toBe(400)
    expect(adminKind.json().error.message).toBe('kind "admin" must be one of write')
    const unknown = await admin('POST', '/api/keys', { kind: 'write', secret: 'x' })
    expect(unknown.statusCode).toBe(400)
    expect(unknown.json().error.message).toMatch(/unknown field "secret"/)
    expect((await admin('GET', '/api/keys?all=1')).statusCode).toBe(400)
    // With the admin key itself it works too (an admin key may do everything).
    expect((await t.admin('GET', '/api/keys')).statusCode).toBe(200)
  })
})
