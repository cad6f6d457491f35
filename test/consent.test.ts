import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ManualClock } from '../src/shared/clock.js'
import { newTestApp } from './helpers/runtime.js'
import type { TestApp } from './helpers/runtime.js'
import { SmtpSink } from './helpers/smtp.js'
import { testStoreKinds } from './helpers/stores.js'

const NOW = Date.parse('2026-06-01T12:00:00Z')
const HOUR = 3_600_000

interface ConsentView {
  state: 'granted' | 'denied'
  at: string
  source: string
  evidence: Record<string, unknown>
  messageId: string | null
}

describe.each(testStoreKinds())('consent on %s', (kind) => {
  let t: TestApp
  let clock: ManualClock
  let smtp: SmtpSink

  beforeEach(async () => {
    clock = new ManualClock(NOW)
    smtp = await new SmtpSink().start()
    t = await newTestApp(kind, {
      clock,
      env: { SEGFLOW_SMTP_URL: smtp.url, SEGFLOW_PUBLIC_URL: 'http://segflow.test' },
    })
  })
  afterEach(async () => {
    await t.close()
    await smtp.stop()
  })

  const consentOf = async (id: string) =>
    (await t.admin('GET', `/api/profiles/${id}`)).json().consent as Record<
      string,
      ConsentView | null
    >

  it('records consent by purpose from events, consent-manager categories and Sec-GPC', async () => {
    const at = '2026-05-30T10:00:00.000Z'
    // A Consent Updated event, purposes nested; its properties are the evidence.
    let res = await t.track('/v1/track', {
      userId: 'ann',
      event: 'Consent Updated',
      timestamp: at,
      properties: { purposes: { email_marketing: 'granted', analytics: false }, form: 'footer' },
    })
    expect(res.statusCode).toBe(200)
    let consent = await consentOf('ann')
    expect(consent.email_marketing).toMatchObject({
      state: 'granted',
      at,
      source: 'event',
      evidence: { purposes: { email_marketing: 'granted', analytics: false }, form: 'footer' },
    })
    expect(consent.analytics).toMatchObject({ state: 'denied', source: 'event' })
    expect(consent.personalization).toBeNull()
    expect(consent.sale_sharing).toBeNull()

    // Segment's consent wrapper puts category preferences on every message: the usual
    // category names map to purposes, unknown ones (vendor ids) are left alone.
    res = await t.track('/v1/page', {
      userId: 'ann',
      name: 'Home',
      context: {
        consent: {
          categoryPreferences: {
            Advertising: true,
            Functional: true,
            C0004: false,
            'Strictly Necessary': true,
          },
        },
      },
    })
    expect(res.statusCode).toBe(200)
    consent = await consentOf('ann')
    expect(consent.sale_sharing).toMatchObject({
      state: 'granted',
      source: 'context',
      at: new Date(NOW).toISOString(),
      evidence: { categoryPreferences: { Advertising: true, C0004: false } },
    })
    expect(consent.personalization).toMatchObject({ state: 'granted', source: 'context' })
    // Untouched by a message that says nothing about it.
    expect(consent.email_marketing).toMatchObject({ state: 'granted', source: 'event', at })

    // Global Privacy Control: the browser's header is an opt-out of sale/sharing, whatever the
    // page's consent manager says in the same message.
    clock.advance(1000)
    res = await t.track(
      '/v1/batch',
      {
        batch: [
          {
            type: 'track',
            userId: 'ann',
            event: 'Viewed',
            context: { consent: { categoryPreferences: { Advertising: true } } },
          },
          { type: 'identify', anonymousId: 'anon-gpc', traits: { plan: 'free' } },
        ],
      },
      { 'sec-gpc': '1' },
    )
    expect(res.statusCode).toBe(200)
    consent = await consentOf('ann')
    expect(consent.sale_sharing).toEqual({
      state: 'denied',
      at: new Date(NOW + 1000).toISOString(),
      source: 'gpc',
      evidence: { header: 'Sec-GPC: 1' },
      messageId: expect.any(String),
    })
    expect((await consentOf('anon-gpc')).sale_sharing).toMatchObject({
      state: 'denied',
      source: 'gpc',
    })
    // Without the header nothing is recorded for sale/sharing.
    await t.track('/v1/identify', { userId: 'bob', traits: { plan: 'pro' } })
    expect((await consentOf('bob')).sale_sharing).toBeNull()
  })

  it('lets a denial win when two consent-manager categories name one purpose', async () => {
    for (const [userId, prefs] of [
      ['fay', { Analytics: true, Statistics: false }],
      ['gus', { Statistics: false, Performance: true }],
      ['hal', { Email: true, email_marketing: true }],
    ] as const) {
      const res = await t.track('/v1/identify', {
        userId,
        context: { consent: { categoryPreferences: prefs } },
      })
      expect(res.statusCode).toBe(200)
    }
    expect((await consentOf('fay')).analytics).toMatchObject({ state: 'denied' })
    expect((await consentOf('gus')).analytics).toMatchObject({ state: 'denied' })
    expect((await consentOf('hal')).email_marketing).toMatchObject({ state: 'granted' })
  })

  it('keeps the latest statement per purpose, whatever order messages arrive in, and across merges', async () => {
    const track = (body: Record<string, unknown>) =>
      t.track('/v1/track', { event: 'Consent Updated', ...body })
    expect(
      (
        await track({
          userId: 'cat',
          timestamp: '2026-05-31T12:00:00Z',
          properties: { email_marketing: false },
        })
      ).statusCode,
    ).toBe(200)
    // Sent earlier, delivered later: it does not undo the newer refusal.
    await track({
      userId: 'cat',
      timestamp: '2026-05-20T12:00:00Z',
      properties: { email_marketing: true },
    })
    expect((await consentOf('cat')).email_marketing).toMatchObject({
      state: 'denied',
      at: '2026-05-31T12:00:00.000Z',
    })
    // Two statements in one batch: the later one holds.
    await t.track('/v1/batch', {
      batch: [
        {
          type: 'track',
          userId: 'cat',
          event: 'Consent Updated',
          timestamp: '2026-06-01T10:00:00Z',
          properties: { analytics: true },
        },
        {
          type: 'track',
          userId: 'cat',
          event: 'Consent Updated',
          timestamp: '2026-06-01T09:00:00Z',
          properties: { analytics: false },
        },
      ],
    })
    expect((await consentOf('cat')).analytics).toMatchObject({ state: 'granted' })

    // An anonymous visitor granted email marketing later than Cat refused it; when the visitor
    // turns out to be Cat, the newer statement holds for the one person.
    await track({
      anonymousId: 'anon-cat',
      timestamp: '2026-06-01T11:00:00Z',
      properties: { email_marketing: true },
    })
    await t.track('/v1/identify', { userId: 'cat', anonymousId: 'anon-cat' })
    const merged = (await t.admin('GET', '/api/profiles/anon-cat')).json()
    expect(merged.userId).toBe('cat')
    expect(merged.consent.email_marketing).toMatchObject({
      state: 'granted',
      at: '2026-06-01T11:00:00.000Z',
    })
    expect(merged.consent.analytics).toMatchObject({ state: 'granted' })
  })

  it('sets consent through the admin API as an event that is not activity', async () => {
    await t.track('/v1/identify', { userId: 'dan', traits: { email: 'dan@x.io' } })
    const before = (await t.admin('GET', '/api/profiles/dan')).json()
    clock.advance(HOUR)
    const res = await t.admin('PUT', '/api/profiles/dan/consent', {
      email_marketing: true,
      sale_sharing: 'denied',
      evidence: { form: 'preferences', ip: '203.0.113.9' },
    })
    expect(res.statusCode, res.body).toBe(200)
    const view = res.json()
    expect(view.consent.email_marketing).toMatchObject({
      state: 'granted',
      source: 'api',
      at: new Date(NOW + HOUR).toISOString(),
      evidence: { evidence: { form: 'preferences', ip: '203.0.113.9' } },
    })
    expect(view.consent.sale_sharing).toMatchObject({ state: 'denied', source: 'api' })
    // Kept in the person's history, but an operator's change is not the person's activity.
    expect(view.lastSeen).toBe(before.lastSeen)
    const events = (await t.admin('GET', '/api/profiles/dan/events')).json().items
    expect(events.map((e: { name: string | null }) => e.name)).toContain('Consent Updated')

    for (const [body, field, message] of [
      [{ email_marketing: 'yes' }, 'email_marketing', 'must be true, false'],
      [{ newsletters: true }, 'newsletters', 'unknown field "newsletters"'],
      [{ evidence: 'form' }, 'evidence', 'evidence must be an object'],
      [{}, '', 'names no purpose'],
      [[true], '', 'body must be a JSON object'],
    ] as const) {
      const bad = await t.admin('PUT', '/api/profiles/dan/consent', body)
      expect(bad.statusCode, JSON.stringify(body)).toBe(400)
      expect(bad.json().error.message).toContain(message)
      expect(bad.json().error.issues.map((i: { field: string }) => i.field)).toContain(field)
    }
    expect(
      (await t.admin('PUT', '/api/profiles/nobody/consent', { analytics: true })).statusCode,
    ).toBe(404)
    // Nothing was changed by the refused requests.
    expect((await consentOf('dan')).email_marketing).toMatchObject({ state: 'granted' })
  })

  it('refuses a Consent Updated event it cannot read, naming the field, and keeps the good messages', async () => {
    const single = await t.track('/v1/track', {
      userId: 'eve',
      event: 'Consent Updated',
      properties: { purposes: { email_marketing: true, newsletters: true } },
    })
    expect(single.statusCode).toBe(400)
    expect(single.json().error.message).toContain('unknown consent purpose "newsletters"')
    expect(single.json().error.issues).toEqual([
      {
        field: 'properties.purposes.newsletters',
        reason: expect.stringContaining('expected one of'),
      },
    ])
    const batch = await t.track('/v1/batch', {
      batch: [
        { type: 'track', userId: 'eve', event: 'Consent Updated', properties: { analytics: 2 } },
        { type: 'identify', userId: 'eve', traits: { plan: 'pro' } },
      ],
    })
    expect(batch.statusCode).toBe(200)
    expect(batch.json().rejected).toEqual([
      expect.objectContaining({ index: 0, field: 'properties.analytics' }),
    ])
    // A misspelt purpose at the top level holds a consent value: it is a purpose, refused
    // with a suggestion, not kept as evidence (the rest of the statement is not applied).
    const typo = await t.track('/v1/track', {
      userId: 'eve',
      event: 'Consent Updated',
      properties: { email_marketing: true, analytic: false, form: 'signup', version: 3 },
    })
    expect(typo.statusCode).toBe(400)
    expect(typo.json().error.issues).toEqual([
      {
        field: 'properties.analytic',
        reason: expect.stringMatching(
          /^unknown consent purpose "analytic" \(did you mean analytics\?\); expected one of/,
        ),
      },
    ])
    const eve = (await t.admin('GET', '/api/profiles/eve')).json()
    expect(eve.traits.plan).toBe('pro')
    expect(Object.values(eve.consent).every((c) => c === null)).toBe(true)
    // Evidence that is not a consent value is still just evidence.
    const good = await t.track('/v1/track', {
      userId: 'eve',
      event: 'Consent Updated',
      properties: { email_marketing: true, form: 'signup', version: 3 },
    })
    expect(good.statusCode).toBe(200)
    expect(
      (await t.admin('GET', '/api/profiles/eve')).json().consent.email_marketing,
    ).toMatchObject({
      state: 'granted',
    })
  })

  it('sends automated marketing email only to people with consent, and reports reachable sizes', async () => {
    expect(
      (await t.admin('PUT', '/api/segments/trial', { rule: { trait: 'plan', eq: 'trial' } }))
        .statusCode,
    ).toBe(201)
    await t.rt.segments.settled('default', 'trial')
    await t.admin('PUT', '/api/templates/welcome', {
      subject: 'Welcome {{ traits.name }}',
      html: '<p>Hello {{ traits.name }}</p>',
    })
    await t.admin('PUT', '/api/email/settings', { from: 'news@shop.example' })
    const auto = await t.admin('PUT', '/api/automations/welcome', {
      trigger: { segment: 'trial', on: 'entered' },
      actions: [{ type: 'send_email', template: 'welcome' }],
    })
    expect(auto.statusCode, auto.body).toBe(201)
    const person = (userId: string, traits: Record<string, unknown>, email?: boolean) =>
      t.track('/v1/identify', {
        userId,
        traits: { plan: 'trial', ...traits },
        ...(email === undefined
          ? {}
          : { context: { consent: { categoryPreferences: { email_marketing: email } } } }),
      })
    await person('ann', { name: 'Ann', email: 'ann@x.io' }, true)
    await person('bob', { name: 'Bob', email: 'bob@x.io' }, false)
    await person('cat', { name: 'Cat', email: 'cat@x.io' })
    await person('dan', { name: 'Dan' }, true) // no address
    await person('eve', { name: 'Eve', email: 'eve@x.io' }, true)
    await t.admin('PUT', '/api/email/status/eve', { status: 'unsubscribed' })

    expect(await t.rt.automationRunner.runDue()).toBe(5)
    expect(smtp.received.map((m) => m.envelopeTo)).toEqual([['ann@x.io']])
    const runs = (await t.admin('GET', '/api/automations/welcome/runs')).json().items as {
      profileId: string
      detail: string
    }[]
    const detail = async (userId: string) => {
      const id = (await t.admin('GET', `/api/profiles/${userId}`)).json().id
      return runs.find((r) => r.profileId === id)?.detail
    }
    expect(await detail('bob')).toMatch(/^email skipped: email_marketing consent refused \(context/)
    expect(await detail('cat')).toBe('email skipped: no email_marketing consent (opt_in)')
    expect(await detail('dan')).toBe('email skipped: no email address')
    expect(await detail('eve')).toBe('email skipped: the person is unsubscribed')

    // The segment has five members; marketing email reaches one (Ann).
    let seg = (await t.admin('GET', '/api/segments/trial')).json()
    expect(seg).toMatchObject({ size: 5, reachable: 1 })
    // Opt-out: everyone with an address who is subscribed and did not refuse (Ann and Cat).
    await t.admin('PUT', '/api/email/settings', {
      from: 'news@shop.example',
      consent: { mode: 'opt_out' },
    })
    seg = (await t.admin('GET', '/api/segments'))
      .json()
      .items.find((s: { key: string }) => s.key === 'trial')
    expect(seg).toMatchObject({ size: 5, reachable: 2 })
  })
})
