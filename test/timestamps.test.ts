/**
 * Every instant the admin API answers with is an ISO-8601 string in UTC: a walk over the
 * responses of the main resources, after a workspace has used each of them once.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ManualClock } from '../src/shared/clock.js'
import { Receiver } from './helpers/receiver.js'
import { newTestApp } from './helpers/runtime.js'
import type { TestApp } from './helpers/runtime.js'
import { SmtpSink } from './helpers/smtp.js'
import { testStoreKinds } from './helpers/stores.js'

const NOW = Date.parse('2026-06-01T12:00:00Z')
const HOUR = 3_600_000
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/
/** Fields that hold an instant without ending in `At`. */
const INSTANTS = new Set(['at', 'since', 'firstSeen', 'lastSeen', 'timestamp'])
/** What people sent (traits, event properties, messages): theirs, in whatever form they chose. */
const THEIRS = new Set(['traits', 'properties', 'payload', 'context', 'evidence', 'definition'])

/** `path: value` for every instant field under `v` that is neither null nor an ISO-8601 string. */
function notIso(v: unknown, path: string, out: string[]): string[] {
  if (Array.isArray(v)) v.forEach((x, i) => notIso(x, `${path}[${i}]`, out))
  else if (v !== null && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      if (THEIRS.has(k)) continue
      const at = `${path}.${k}`
      if ((k.endsWith('At') || INSTANTS.has(k)) && x !== null) {
        if (typeof x !== 'string' || !ISO.test(x)) out.push(`${at}: ${JSON.stringify(x)}`)
      } else notIso(x, at, out)
    }
  }
  return out
}

describe.each(testStoreKinds())('timestamps in API responses on %s', (kind) => {
  let t: TestApp
  let clock: ManualClock
  let smtp: SmtpSink
  let rx: Receiver

  beforeEach(async () => {
    clock = new ManualClock(NOW)
    smtp = await new SmtpSink().start()
    rx = await new Receiver().start()
    t = await newTestApp(kind, {
      clock,
      env: {
        SEGFLOW_SMTP_URL: smtp.url,
        SEGFLOW_PUBLIC_URL: 'http://segflow.test',
        SEGFLOW_WEBHOOK_ALLOW_PRIVATE: 'true',
      },
      delivery: { random: () => 0.5, timeoutMs: 1000 },
      random: () => 0.5,
    })
  })
  afterEach(async () => {
    await t.close()
    await smtp.stop()
    await rx.stop()
  })

  it('answers every *At field (and at, since, firstSeen, lastSeen) as ISO-8601', async () => {
    const ok = async (method: 'GET' | 'PUT' | 'POST', url: string, body?: unknown) => {
      const res = await t.admin(method, url, body)
      expect(res.statusCode, `${method} ${url}: ${res.body}`).toBeLessThan(300)
      return res.json() as unknown
    }
    const seen: Record<string, unknown> = {}
    const keep = async (method: 'GET' | 'PUT' | 'POST', url: string, body?: unknown) => {
      seen[`${method} ${url}`] = await ok(method, url, body)
    }

    await keep('PUT', '/api/email/settings', { from: 'News <news@example.com>' })
    await keep('PUT', '/api/segments/recent', {
      rule: { event: 'Viewed Pricing', within: '7d' },
    })
    await keep('PUT', '/api/segments/pro', { rule: { trait: 'plan', eq: 'pro' } })
    await t.rt.segments.settled('default', 'recent')
    await t.rt.segments.settled('default', 'pro')
    await keep('PUT', '/api/webhooks/crm', { url: rx.url })
    await keep('PUT', '/api/templates/welcome', {
      subject: 'Hi',
      html: '<p>Hi {{ traits.name }}</p>',
    })
    await keep('PUT', '/api/automations/greet', {
      trigger: { segment: 'pro', on: 'entered' },
      actions: [{ type: 'send_email', template: 'welcome', category: 'marketing' }],
    })
    await keep('PUT', '/api/scores/engagement', { preset: 'engagement' })
    await keep('PUT', '/api/lifecycle', { preset: 'default' })

    const context = { consent: { categoryPreferences: { email_marketing: true } } }
    for (const [userId, plan] of [
      ['ann', 'pro'],
      ['bob', 'free'],
    ] as const) {
      const traits = { plan, email: `${userId}@example.com`, name: userId }
      expect((await t.track('/v1/identify', { userId, traits, context })).statusCode).toBe(200)
    }
    expect(
      (
        await t.track('/v1/track', {
          userId: 'ann',
          event: 'Viewed Pricing',
          timestamp: new Date(NOW - HOUR).toISOString(),
        })
      ).statusCode,
    ).toBe(200)
    await t.rt.delivery.runDue()
    await t.rt.automationRunner.runDue()
    rx.answer({ status: 500 })
    await t.admin('PUT', '/api/profiles/bob', { traits: { plan: 'pro', email: 'bob@example.com' } })
    await t.rt.delivery.runDue()

    for (const url of [
      '/api/profiles/ann',
      '/api/profiles/ann/events',
      '/api/profiles/ann/explain/recent',
      '/api/profiles/ann/explain/pro',
      '/api/profiles/ann/scores/engagement',
      '/api/profiles/ann/lifecycle',
      '/api/segments',
      '/api/segments/recent',
      '/api/segments/recent/members',
      '/api/segments/recent/history',
      '/api/webhooks',
      '/api/webhooks/crm',
      '/api/webhooks/crm/deliveries',
      '/api/templates',
      '/api/templates/welcome',
      '/api/email/settings',
      '/api/email/status/ann',
      '/api/email/sends',
      '/api/automations',
      '/api/automations/greet',
      '/api/automations/greet/runs',
      '/api/scores',
      '/api/scores/engagement',
      '/api/lifecycle',
      '/api/schema',
      '/api/audit',
    ])
      await keep('GET', url)
    await keep('PUT', '/api/profiles/ann/consent', { email_marketing: true })
    await keep('POST', '/api/segments/preview', { rule: { trait: 'plan', eq: 'pro' } })
    await keep('POST', '/api/privacy/requests', { type: 'export', profile: 'ann' })
    await keep('POST', '/api/privacy/requests', { type: 'erasure', profile: 'bob' })
    await keep('GET', '/api/privacy/requests')

    // Each resource was there to be walked (an empty list would prove nothing).
    expect(seen['GET /api/webhooks/crm/deliveries']).toMatchObject({
      items: expect.arrayContaining([expect.objectContaining({ status: 'pending' })]),
    })
    expect((seen['GET /api/automations/greet/runs'] as { items: unknown[] }).items).not.toEqual([])
    expect((seen['GET /api/email/sends'] as { items: unknown[] }).items).not.toEqual([])
    expect(seen['GET /api/profiles/ann/explain/recent']).toMatchObject({ member: true })

    const bad = Object.entries(seen).flatMap(([route, body]) => notIso(body, route, []))
    expect(bad).toEqual([])
  })
})
