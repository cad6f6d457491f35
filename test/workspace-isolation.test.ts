import type { InjectOptions } from 'fastify'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { buildApp } from '../src/http/app.js'
import { ManualClock } from '../src/shared/clock.js'
import { ADMIN_KEY, basic, newTestApp, WRITE_KEY } from './helpers/runtime.js'
import type { TestApp } from './helpers/runtime.js'
import { testStoreKinds } from './helpers/stores.js'

const NOW = Date.parse('2026-06-01T12:00:00Z')
const OTHER_ADMIN = 'other-admin-key-0001'
const OTHER_WRITE = 'other-write-key-0001'

/** Every admin route the app serves, as registered (so a new route is covered by itself). */
async function adminRoutes(t: TestApp): Promise<{ method: string; url: string }[]> {
  const routes: { method: string; url: string }[] = []
  const app = await buildApp({
    ...t.rt,
    onRoute: (method, url) => {
      if (url.startsWith('/api/') && method !== 'HEAD' && method !== 'OPTIONS')
        routes.push({ method, url })
    },
  })
  await app.close()
  return routes
}

describe.each(testStoreKinds())('workspace isolation on %s', (kind) => {
  let t: TestApp
  /** Identifiers of workspace A's things; what another workspace must never see. */
  let ids: { profile: string; webhookSecret: string }
  let markers: string[]

  const as = (auth: string, method: InjectOptions['method'], url: string, payload?: unknown) =>
    t.app.inject({
      method,
      url,
      headers: { authorization: auth, 'content-type': 'application/json' },
      ...(payload === undefined ? {} : { payload: JSON.stringify(payload) }),
    })

  beforeEach(async () => {
    t = await newTestApp(kind, {
      clock: new ManualClock(NOW),
      env: { SEGFLOW_WEBHOOK_ALLOW_PRIVATE: 'true' },
    })
    await t.rt.store.ensureWorkspace({ id: 'other', name: 'Other', createdAt: NOW })
    await t.rt.keys.create({ workspaceId: 'other', kind: 'admin', key: OTHER_ADMIN })
    await t.rt.keys.create({ workspaceId: 'other', kind: 'write', key: OTHER_WRITE })

    // Workspace A (the default) with one of everything.
    const ok = async (method: InjectOptions['method'], url: string, body?: unknown) => {
      const res = await t.admin(method, url, body)
      expect(res.statusCode, `${method} ${url}: ${res.body}`).toBeLessThan(300)
      return res.json()
    }
    await t.track('/v1/identify', {
      userId: 'ann-a',
      traits: { email: 'ann@a.example', plan: 'A-secret-plan' },
      context: { consent: { categoryPreferences: { email_marketing: true } } },
    })
    await ok('PUT', '/api/segments/a-vip', { rule: { trait: 'plan', eq: 'A-secret-plan' } })
    await t.rt.segments.settled('default', 'a-vip')
    const hook = await ok('PUT', '/api/webhooks/a-crm', {
      url: 'http://127.0.0.1:9/a-hook',
      segments: ['a-vip'],
    })
    await ok('PUT', '/api/templates/a-welcome', {
      subject: 'A-subject {{ traits.plan }}',
      html: '<p>A-body</p>',
    })
    await ok('PUT', '/api/automations/a-auto', {
      name: 'A-automation',
      trigger: { segment: 'a-vip', on: 'entered' },
      actions: [{ type: 'webhook', webhook: 'a-crm' }],
    })
    await ok('PUT', '/api/scores/a_model', {
      criteria: [{ name: 'A-criterion', event: 'A Event', points: 3 }],
    })
    await ok('PUT', '/api/lifecycle', { preset: 'default' })
    await ok('PUT', '/api/email/settings', { from: 'A News <a-news@a.example>' })
    await ok('PUT', '/api/users/a-user@a.example', { role: 'editor' })
    // Lifecycle stages are segments being computed: let every segment settle first.
    for (const s of (await ok('GET', '/api/segments')).items as { key: string }[])
      await t.rt.segments.settled('default', s.key)
    const profile = (await ok('GET', '/api/profiles/ann-a')).id as string
    ids = { profile, webhookSecret: hook.secret as string }
    markers = [
      profile,
      'ann-a',
      'ann@a.example',
      'A-secret-plan',
      'a-hook',
      hook.secret as string,
      'A-subject',
      'A-body',
      'A-automation',
      'A-criterion',
      'a-news@a.example',
      'a-user@a.example',
    ]
    expect(markers.every((m) => typeof m === 'string' && m.length > 3)).toBe(true)
  })
  afterEach(async () => {
    await t.close()
  })

  /** A's route with its parameters naming A's things. */
  const concrete = (url: string) =>
    url
      .replace('/profiles/:id', `/profiles/${ids.profile}`)
      .replace('/email/status/:id', `/email/status/${ids.profile}`)
      .replace('/segments/:key', '/segments/a-vip')
      .replace('/webhooks/:id', '/webhooks/a-crm')
      .replace('/templates/:key', '/templates/a-welcome')
      .replace('/automations/:key', '/automations/a-auto')
      .replace('/scores/:key', '/scores/a_model')
      .replace('/explain/:key', '/explain/a-vip')
      .replace('/users/:email', '/users/a-user@a.example')

  /** What A can see of its own things, to check that nothing of it changed. */
  const snapshot = async () => {
    const out: Record<string, unknown> = {}
    for (const url of [
      `/api/profiles/${ids.profile}`,
      `/api/profiles/${ids.profile}/events`,
      '/api/segments',
      '/api/segments/a-vip/members',
      '/api/webhooks',
      '/api/templates',
      '/api/automations',
      '/api/scores',
      '/api/lifecycle',
      '/api/email/settings',
      `/api/email/status/${ids.profile}`,
      '/api/users',
    ]) {
      const res = await t.admin('GET', url)
      expect(res.statusCode, url).toBe(200)
      out[url] = res.json()
    }
    return out
  }

  /** A's markers in a response, other than those the caller sent itself (echoed in errors). */
  const leaks = (body: string, sent: string) =>
    markers.filter((m) => body.includes(m) && !sent.includes(m))

  it("answers every admin route called with another workspace's admin key with nothing of this one", async () => {
    const routes = await adminRoutes(t)
    expect(routes.length).toBeGreaterThan(40)
    const before = await snapshot()
    const otherAdmin = `Bearer ${OTHER_ADMIN}`
    for (const r of routes) {
      // A stream never ends by itself: its isolation is tested in dashboard-api.test.ts.
      if (r.url === '/api/stream') continue
      const url = concrete(r.url)
      const res = await as(otherAdmin, r.method, url, r.method === 'GET' ? undefined : {})
      const what = `${r.method} ${url} → ${res.statusCode} ${res.body.slice(0, 200)}`
      expect(leaks(res.body, url), what).toEqual([])
      expect(res.statusCode, what).toBeLessThan(500)
      // Naming one of A's things: not found (lists answer with the other workspace's own).
      if (r.method === 'GET' && r.url.includes(':')) expect(res.statusCode, what).toBe(404)
    }
    // Well-formed writes aimed at A's names create or change the other workspace's own things.
    const writes: [InjectOptions['method'], string, unknown][] = [
      ['PUT', '/api/segments/a-vip', { rule: { trait: 'plan', eq: 'B' } }],
      ['PUT', '/api/templates/a-welcome', { subject: 'B', html: '<p>B</p>' }],
      ['PUT', '/api/webhooks/a-crm', { url: 'http://127.0.0.1:9/b-hook' }],
      ['POST', '/api/webhooks/a-crm/rotate', undefined],
      ['PUT', '/api/scores/a_model', { criteria: [{ event: 'B Event', points: 1 }] }],
      ['PUT', '/api/email/settings', { from: 'b@b.example' }],
      ['DELETE', '/api/lifecycle', undefined],
      ['PUT', `/api/profiles/${ids.profile}/consent`, { email_marketing: false }],
      ['POST', `/api/profiles/${ids.profile}`, { traits: { plan: 'B' } }],
      ['PUT', `/api/email/status/${ids.profile}`, { status: 'unsubscribed' }],
      ['DELETE', '/api/automations/a-auto', undefined],
      ['DELETE', '/api/segments/a-vip', undefined],
      ['POST', '/api/templates/a-welcome/send', { profile: ids.profile }],
      ['POST', '/api/segments/preview', { rule: { trait: 'plan', eq: 'A-secret-plan' } }],
    ]
    for (const [method, url, body] of writes) {
      const res = await as(otherAdmin, method, url, body)
      const what = `${method} ${url} → ${res.statusCode} ${res.body.slice(0, 200)}`
      expect(res.statusCode, what).toBeLessThan(500)
      expect(leaks(res.body, url + JSON.stringify(body ?? null)), what).toEqual([])
    }
    // The preview counted the other workspace's people: none has A's plan.
    const preview = await as(otherAdmin, 'POST', '/api/segments/preview', {
      rule: { trait: 'plan', eq: 'A-secret-plan' },
    })
    expect(preview.json().count).toBe(0)
    await t.rt.segments.settled('other', 'a-vip')
    expect(await snapshot()).toEqual(before)
  })

  it('refuses every admin route to a write key, to no key, and the tracking API to an admin key', async () => {
    const routes = await adminRoutes(t)
    const before = await snapshot()
    for (const auth of [`Bearer ${WRITE_KEY}`, `Bearer ${OTHER_WRITE}`, basic(WRITE_KEY), '']) {
      for (const r of routes) {
        const url = concrete(r.url)
        const res = await as(auth, r.method, url, r.method === 'GET' ? undefined : {})
        const what = `${auth || 'no key'}: ${r.method} ${url} → ${res.statusCode}`
        expect([401, 403], what).toContain(res.statusCode)
        expect(leaks(res.body, url), what).toEqual([])
      }
    }
    for (const key of [ADMIN_KEY, OTHER_ADMIN]) {
      const res = await t.app.inject({
        method: 'POST',
        url: '/v1/track',
        headers: { authorization: basic(key), 'content-type': 'application/json' },
        payload: JSON.stringify({ userId: 'ann-a', event: 'Sneaky' }),
      })
      expect([401, 403]).toContain(res.statusCode)
    }
    // A write key of the other workspace writes there: A's person is untouched.
    const res = await t.app.inject({
      method: 'POST',
      url: '/v1/identify',
      headers: { authorization: basic(OTHER_WRITE), 'content-type': 'application/json' },
      payload: JSON.stringify({ userId: 'ann-a', traits: { plan: 'B' } }),
    })
    expect(res.statusCode).toBe(200)
    expect(await snapshot()).toEqual(before)
  })
})

describe('body size limits', () => {
  it('refuses an oversized body on every route that takes one with 413, naming the limit', async () => {
    const t = await newTestApp('sqlite')
    try {
      const routes: { method: string; url: string }[] = []
      const app = await buildApp({
        ...t.rt,
        onRoute: (method, url) => {
          if (method === 'POST' || method === 'PUT') routes.push({ method, url })
        },
      })
      await app.close()
      expect(routes.length).toBeGreaterThan(25)
      // 2 MB of JSON: over every route's limit (the largest is 1 MB).
      const big = JSON.stringify({ pad: 'x'.repeat(2 * 1024 * 1024) })
      for (const r of routes) {
        const url = r.url.replace(/:\w+/g, 'x')
        const ingest = url.startsWith('/v1/') || url.startsWith('/e/')
        const res = await t.app.inject({
          method: r.method as 'POST' | 'PUT',
          url,
          headers: {
            authorization: ingest ? basic(WRITE_KEY) : `Bearer ${ADMIN_KEY}`,
            'content-type': url.startsWith('/e/')
              ? 'application/x-www-form-urlencoded'
              : 'application/json',
          },
          payload: big,
        })
        expect(res.statusCode, `${r.method} ${url}: ${res.body.slice(0, 200)}`).toBe(413)
        expect(res.json().error.message, url).toMatch(/\d+ (bytes|KB|MB)/)
      }
    } finally {
      await t.close()
    }
  })
})
