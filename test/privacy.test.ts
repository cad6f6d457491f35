import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { dueDate } from '../src/privacy/requests.js'
import { ManualClock } from '../src/shared/clock.js'
import { Receiver } from './helpers/receiver.js'
import { newTestApp } from './helpers/runtime.js'
import type { TestApp } from './helpers/runtime.js'
import { SmtpSink } from './helpers/smtp.js'
import { testStoreKinds } from './helpers/stores.js'

const NOW = Date.parse('2026-01-31T12:00:00Z')
const DAY = 86_400_000

// Distinctive identifiers, so that finding one anywhere in the store means a row about them.
const ANN = { userId: 'ann-7f3q', anon: 'anon-7f3q', email: 'ann.7f3q@x.io' }
const BOB = { userId: 'bob-k2w9', email: 'bob.k2w9@x.io' }

describe('due dates', () => {
  it('gives GDPR one calendar month and CCPA 45 days', () => {
    expect(new Date(dueDate('gdpr', NOW)).toISOString()).toBe('2026-02-28T12:00:00.000Z')
    expect(new Date(dueDate('gdpr', Date.parse('2026-03-15T08:00:00Z'))).toISOString()).toBe(
      '2026-04-15T08:00:00.000Z',
    )
    expect(new Date(dueDate('gdpr', Date.parse('2026-12-31T00:00:00Z'))).toISOString()).toBe(
      '2027-01-31T00:00:00.000Z',
    )
    expect(dueDate('ccpa', NOW)).toBe(NOW + 45 * DAY)
  })
})

describe.each(testStoreKinds())('rights requests on %s', (kind) => {
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
    })
  })
  afterEach(async () => {
    await t.close()
    await smtp.stop()
    await rx.stop()
  })

  const ok = async (method: 'GET' | 'PUT' | 'POST', url: string, body?: unknown) => {
    const res = await t.admin(method, url, body)
    expect(res.statusCode, `${method} ${url}: ${res.body}`).toBeLessThan(300)
    return res.json()
  }

  /** Two people with rows in every table that holds personal data. */
  async function populate() {
    for (const [key, rule] of [
      ['pro', { trait: 'plan', eq: 'pro' }],
      ['viewers', { event: 'Viewed', within: '1d' }],
    ] as const) {
      await ok('PUT', `/api/segments/${key}`, { rule })
      await t.rt.segments.settled('default', key)
    }
    await ok('PUT', '/api/webhooks/crm', { url: rx.url, segments: ['pro'] })
    await ok('PUT', '/api/templates/welcome', {
      subject: 'Hi {{ traits.name }}',
      html: '<p>Hi</p>',
    })
    await ok('PUT', '/api/automations/welcome', {
      trigger: { segment: 'pro', on: 'entered' },
      actions: [{ type: 'send_email', template: 'welcome' }],
    })
    const consent = { consent: { categoryPreferences: { email_marketing: true } } }
    // Ann signs up on one device and browses anonymously on another, then logs in there:
    // two profiles merged into one.
    await t.track('/v1/identify', {
      userId: ANN.userId,
      traits: { name: 'Ann', email: ANN.email, plan: 'pro' },
      context: consent,
    })
    await t.track('/v1/page', { anonymousId: ANN.anon, name: 'Pricing' })
    await t.track('/v1/identify', { userId: ANN.userId, anonymousId: ANN.anon })
    await t.track('/v1/track', { userId: ANN.userId, event: 'Viewed' })
    await t.track('/v1/identify', {
      userId: BOB.userId,
      traits: { name: 'Bob', email: BOB.email, plan: 'pro' },
      context: consent,
    })
    await t.track('/v1/track', { userId: BOB.userId, event: 'Viewed' })
    await ok('POST', `/api/profiles/${ANN.userId}`, { traits: { tier: 'gold' } })
    await ok('PUT', `/api/email/status/${BOB.userId}`, { status: 'subscribed' })
    await ok('PUT', `/api/email/status/${ANN.userId}`, { status: 'subscribed' })
    expect(await t.rt.automationRunner.runDue()).toBe(2)
    expect(await t.rt.delivery.runDue()).toBe(2)
    expect(smtp.received).toHaveLength(2)
    expect(rx.received).toHaveLength(2)
    return (await ok('GET', `/api/profiles/${ANN.userId}`)).id as string
  }

  /** Every row of every table of the store, as text. */
  async function everyRow(): Promise<Map<string, string[]>> {
    const tables =
      kind === 'sqlite'
        ? await t.rt.store.query(`SELECT name FROM sqlite_master WHERE type = 'table'`, [])
        : await t.rt.store.query(
            `SELECT table_name AS name FROM information_schema.tables
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`,
            [],
          )
    const out = new Map<string, string[]>()
    for (const { name } of tables) {
      const rows = await t.rt.store.query(`SELECT * FROM ${String(name)}`, [])
      out.set(
        String(name),
        rows.map((r) =>
          JSON.stringify(r, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)),
        ),
      )
    }
    return out
  }

  it('exports everything held about a person as JSON, with a due date', async () => {
    const annId = await populate()
    const res = await t.admin('POST', '/api/privacy/requests', {
      type: 'export',
      profile: ANN.email,
    })
    expect(res.statusCode, res.body).toBe(201)
    const { request, data } = res.json()
    expect(request).toMatchObject({
      type: 'export',
      regulation: 'gdpr',
      status: 'completed',
      receivedAt: new Date(NOW).toISOString(),
      dueAt: '2026-02-28T12:00:00.000Z',
    })
    expect(data.profileId).toBe(annId)
    expect(data.profiles).toHaveLength(2) // her anonymous profile was merged into her
    const tables = data.tables as Record<string, Record<string, unknown>[]>
    expect(tables.identities!.map((i) => i.value).sort()).toEqual(
      [ANN.anon, ANN.email, ANN.userId].sort(),
    )
    expect(tables.events!.map((e) => e.name ?? e.type)).toEqual(
      expect.arrayContaining(['Pricing', 'Viewed', 'identify']),
    )
    expect(tables.events!.find((e) => e.type === 'identify')!.traits).toMatchObject({
      email: ANN.email,
    })
    expect(tables.consents).toEqual([
      expect.objectContaining({ purpose: 'email_marketing', state: 'granted' }),
    ])
    expect(tables.memberships!.map((m) => m.segment_key).sort()).toEqual(['pro', 'viewers'])
    expect(tables.transitions!.length).toBeGreaterThanOrEqual(2)
    expect(tables.deliveries).toHaveLength(1)
    expect(tables.delivery_attempts).toHaveLength(1)
    expect(tables.email_sends).toEqual([expect.objectContaining({ address: ANN.email })])
    expect(tables.automation_runs).toHaveLength(1)
    expect(tables.merges).toHaveLength(1)
    // Nothing of Bob.
    expect(JSON.stringify(data)).not.toContain(BOB.userId)
    // Recorded, and found again by id.
    expect((await ok('GET', `/api/privacy/requests/${request.id}`)).status).toBe('completed')
    const audit = (await ok('GET', '/api/audit')).items
    expect(
      audit.map((e: { action: string; target: string | null }) => [e.action, e.target]),
    ).toEqual(
      expect.arrayContaining([
        ['privacy.export', request.id],
        ['POST /api/privacy/requests', null],
      ]),
    )
  })

  it('erases a person from every table, tells downstream, and drops their later events until they consent again', async () => {
    const annId = await populate()
    const before = await everyRow()
    const annIds = [annId, ANN.userId, ANN.anon, ANN.email]
    const annAnywhere = (rows: Map<string, string[]>) =>
      [...rows].flatMap(([table, texts]) =>
        texts.filter((s) => annIds.some((id) => s.includes(id))).map((s) => `${table}: ${s}`),
      )
    // She is in many tables before.
    const holding = new Set(annAnywhere(before).map((s) => s.split(':')[0]))
    for (const table of [
      'profiles',
      'identities',
      'events',
      'merges',
      'memberships',
      'trackers',
      'timers',
      'transitions',
      'deliveries',
      'email_sends',
      'email_status',
      'automation_runs',
      'consents',
      'audit_log',
    ])
      expect(holding, table).toContain(table)

    clock.advance(1000)
    const res = await t.admin('POST', '/api/privacy/requests', {
      type: 'erasure',
      profile: ANN.email,
      regulation: 'ccpa',
    })
    expect(res.statusCode, res.body).toBe(201)
    const { request } = res.json()
    expect(request).toMatchObject({
      type: 'erasure',
      regulation: 'ccpa',
      status: 'completed',
      dueAt: new Date(NOW + 1000 + 45 * DAY).toISOString(),
      result: { found: true, exitsSent: 2, notifications: 1 },
    })
    // Three identifies (one an operator's trait change), a page and a track.
    expect(request.result.erased.events).toBe(5)

    // Downstream hears that she left, with the ids it needs to delete her.
    expect(await t.rt.delivery.runDue()).toBe(1)
    expect(rx.received).toHaveLength(3)
    expect(rx.received[2]!.json).toMatchObject({
      type: 'segment.exited',
      data: {
        segment: { key: 'pro' },
        reason: 'erasure',
        profile: { id: annId, userId: ANN.userId, email: ANN.email },
      },
    })

    // Then nothing of her is anywhere, in any table.
    const after = await everyRow()
    expect(annAnywhere(after)).toEqual([])
    // Bob is untouched.
    const bobId = (await ok('GET', `/api/profiles/${BOB.userId}`)).id as string
    for (const table of [
      'profiles',
      'events',
      'memberships',
      'email_sends',
      'consents',
      'deliveries',
    ])
      expect(after.get(table)!.filter((row) => row.includes(bobId)).length, table).toBe(
        before.get(table)!.filter((row) => row.includes(bobId)).length,
      )
    expect((await ok('GET', `/api/profiles/${BOB.userId}`)).segments).toHaveLength(2)
    // Audit entries that named her say [erased]; the erasure itself is recorded.
    const audit = (await ok('GET', '/api/audit')).items as { action: string; target: string }[]
    expect(audit.find((e) => e.action === 'POST /api/profiles/:id')!.target).toBe('[erased]')
    expect(audit.some((e) => e.action === 'privacy.erasure' && e.target === request.id)).toBe(true)
    // The profile API says she was erased (409 suppressed), under any of her ids; an id never
    // known is simply not found.
    for (const ref of [ANN.userId, ANN.anon, ANN.email, ANN.email.toUpperCase()]) {
      for (const path of ['', '/events', '/explain/pro', '/lifecycle']) {
        const res = await t.admin('GET', `/api/profiles/${encodeURIComponent(ref)}${path}`)
        if (path === '/lifecycle') {
          // No stages in this workspace: that is said first, whoever is asked about.
          expect(res.statusCode).toBe(404)
          continue
        }
        expect(res.statusCode, `${ref}${path}`).toBe(409)
        expect(res.json().error.code).toBe('suppressed')
        expect(res.json().error.message).toContain('was erased')
      }
    }
    expect((await t.admin('GET', '/api/profiles/never-seen')).json().error.code).toBe(
      'profile_not_found',
    )

    // Later messages for her are dropped, under any of her ids (and counted).
    clock.advance(1000)
    const later = await t.track('/v1/batch', {
      batch: [
        { type: 'track', userId: ANN.userId, event: 'Viewed' },
        { type: 'page', anonymousId: ANN.anon, name: 'Home' },
        { type: 'identify', userId: 'someone-else', traits: { email: ANN.email } },
        { type: 'track', userId: BOB.userId, event: 'Viewed' },
      ],
    })
    expect(later.json()).toMatchObject({ accepted: 1, suppressed: 3 })
    expect((await t.admin('GET', `/api/profiles/${ANN.userId}`)).statusCode).toBe(409)
    // Dropped because it named her email: that userId itself was never hers.
    expect((await t.admin('GET', '/api/profiles/someone-else')).statusCode).toBe(404)
    expect(annAnywhere(await everyRow())).toEqual([])
    const metrics = await t.app.inject({ method: 'GET', url: '/metrics' })
    expect(metrics.body).toMatch(/segflow_suppressed_messages_total 3/)
    const put = await t.admin('POST', `/api/profiles/${ANN.userId}`, { traits: { a: 1 } })
    expect(put.statusCode).toBe(409)
    expect(put.json().error.message).toContain('was erased')
    const consent = await t.admin('PUT', `/api/profiles/${ANN.userId}/consent`, {
      email_marketing: true,
    })
    expect(consent.statusCode).toBe(409)

    // She comes back and consents: from that message on she is a new person.
    const back = await t.track('/v1/track', {
      userId: ANN.userId,
      event: 'Consent Updated',
      properties: { email_marketing: true },
    })
    expect(back.json()).toMatchObject({ success: true })
    await t.track('/v1/track', { userId: ANN.userId, event: 'Viewed' })
    const again = await ok('GET', `/api/profiles/${ANN.userId}`)
    expect(again.id).not.toBe(annId)
    expect(again.consent.email_marketing).toMatchObject({ state: 'granted' })
    expect(again.segments.map((s: { key: string }) => s.key)).toEqual(['viewers'])
    // Her anonymous id is still suppressed: only the ids that came back are lifted.
    expect(
      (await t.track('/v1/batch', { batch: [{ type: 'page', anonymousId: ANN.anon }] })).json(),
    ).toMatchObject({ suppressed: 1 })

    const list = (await ok('GET', '/api/privacy/requests')).items
    expect(list.map((r: { type: string }) => r.type)).toEqual(['erasure'])
  })

  it('leaves no byte of an erased person in the database files, nor her ids in another letter case', async () => {
    const annId = await populate()
    // A long trait spills into overflow pages; each update leaves an older version behind.
    const long = `ann-notes-7f3q:${'n'.repeat(6000)}`
    for (let i = 0; i < 3; i++)
      await ok('POST', `/api/profiles/${ANN.userId}`, { traits: { notes: `${long}${i}` } })
    // Her rows reach the database file itself, then more of her goes to the log only.
    await t.rt.store.scrubDeleted()
    await t.track('/v1/track', { userId: ANN.userId, event: 'Viewed', properties: { note: long } })
    // An operator names her in capitals: the audit entry is hers all the same.
    await t.admin('POST', `/api/profiles/${ANN.email.toUpperCase()}`, { traits: { a: 1 } })

    const res = await t.admin('POST', '/api/privacy/requests', {
      type: 'erasure',
      profile: ANN.email,
      regulation: 'gdpr',
    })
    expect(res.statusCode, res.body).toBe(201)
    // The exit notice (with her email) is sent, then deleted: scrubbed again.
    expect(await t.rt.delivery.runDue()).toBe(1)

    const audit = (await ok('GET', '/api/audit?limit=500')).items as { target: string | null }[]
    const needles = [annId, ANN.userId, ANN.anon, ANN.email, 'ann-notes-7f3q']
    expect(
      audit.filter((e) => needles.some((n) => e.target?.toLowerCase().includes(n.toLowerCase()))),
    ).toEqual([])

    if (kind === 'sqlite') {
      const dir = t.testStore.location.env.SEGFLOW_DATA_DIR!
      const files = readdirSync(dir).filter((f) => f.startsWith('segflow.db'))
      expect(files).toContain('segflow.db')
      for (const f of files) {
        const bytes = readFileSync(join(dir, f))
        for (const n of needles) expect(bytes.includes(n), `${n} in ${f}`).toBe(false)
      }
      // Bob is still there, in the same file: the scan would have found a survivor.
      expect(readFileSync(join(dir, 'segflow.db')).includes(BOB.email)).toBe(true)
    } else {
      // PostgreSQL cannot overwrite in place; what it can do is vacuum her dead rows and their
      // index entries away (see the README for what remains in WAL and backups).
      const rows = await t.rt.store.query(
        `SELECT relname, vacuum_count FROM pg_stat_user_tables
         WHERE schemaname = current_schema() AND relname IN ('events', 'identities', 'profiles')`,
        [],
      )
      expect(rows.map((r) => [r.relname, Number(r.vacuum_count) > 0]).sort()).toEqual([
        ['events', true],
        ['identities', true],
        ['profiles', true],
      ])
    }
  })

  it('removes an erasure notice the endpoint refused for good, as it does one delivered', async () => {
    const annId = await populate()
    await ok('POST', '/api/privacy/requests', { type: 'erasure', profile: ANN.userId })
    rx.answer({ status: 410 })
    expect(await t.rt.delivery.runDue()).toBe(1)
    expect(rx.received).toHaveLength(3)
    expect((await ok('GET', '/api/webhooks/crm')).status).toBe('disabled')
    const rows = [...(await everyRow())].flatMap(([table, texts]) =>
      texts
        .filter((s) => [annId, ANN.userId, ANN.email].some((id) => s.includes(id)))
        .map((s) => `${table}: ${s}`),
    )
    expect(rows).toEqual([])
  })

  it('leaves nothing of an erased person when the endpoint of their notice is deleted before it is sent', async () => {
    const annId = await populate()
    await ok('POST', '/api/privacy/requests', { type: 'erasure', profile: ANN.userId })
    expect((await t.admin('DELETE', '/api/webhooks/crm')).statusCode).toBeLessThan(300)
    expect(await t.rt.delivery.runDue()).toBe(0)
    const rows = [...(await everyRow())].flatMap(([table, texts]) =>
      texts
        .filter((s) => [annId, ANN.userId, ANN.email].some((id) => s.includes(id)))
        .map((s) => `${table}: ${s}`),
    )
    expect(rows).toEqual([])
  })

  it('answers a request for someone it holds nothing about, and refuses bad requests', async () => {
    const none = await t.admin('POST', '/api/privacy/requests', {
      type: 'erasure',
      profile: 'nobody',
    })
    expect(none.statusCode).toBe(201)
    expect(none.json().request).toMatchObject({ status: 'completed', result: { found: false } })
    for (const [body, field] of [
      [{ type: 'delete', profile: 'x' }, 'type'],
      [{ type: 'export' }, 'profile'],
      [{ type: 'export', profile: 'x', regulation: 'lgpd' }, 'regulation'],
      [{ type: 'export', profile: 'x', why: 'y' }, 'why'],
      ['erase x', ''],
    ] as const) {
      const res = await t.admin('POST', '/api/privacy/requests', body)
      expect(res.statusCode, JSON.stringify(body)).toBe(400)
      expect(res.json().error.issues[0].field).toBe(field)
    }
    expect((await t.admin('GET', '/api/privacy/requests/prq_nope')).statusCode).toBe(404)
  })
})
