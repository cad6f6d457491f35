import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { RETRY_DELAYS_MS } from '../src/delivery/schedule.js'
import { ManualClock } from '../src/shared/clock.js'
import { Receiver } from './helpers/receiver.js'
import { newTestApp } from './helpers/runtime.js'
import type { TestApp } from './helpers/runtime.js'
import { SmtpSink } from './helpers/smtp.js'
import { testStoreKinds } from './helpers/stores.js'

const NOW = Date.parse('2026-06-01T12:00:00Z')
const HOUR = 3_600_000
const DAY = 24 * HOUR

interface RunView {
  automation: string
  profileId: string
  type: string
  status: string
  dueAt: string
  step: number
  attempts: number
  detail: string | null
}

describe.each(testStoreKinds())('automations on %s', (kind) => {
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
    for (const [key, rule] of [
      ['newsletter', { trait: 'newsletter', eq: true }],
      ['trial', { trait: 'plan', eq: 'trial' }],
    ] as const) {
      expect((await t.admin('PUT', `/api/segments/${key}`, { rule })).statusCode).toBe(201)
      await t.rt.segments.settled('default', key)
    }
    await t.admin('PUT', '/api/templates/welcome', {
      subject: 'Welcome {{ traits.name }}',
      html: '<p>Hello {{ traits.name }}</p>',
    })
  })
  afterEach(async () => {
    await t.close()
    await smtp.stop()
    await rx.stop()
  })

  // Everyone here agreed to marketing email (through their consent manager's categories).
  const identify = async (userId: string, traits: Record<string, unknown>) => {
    const context = { consent: { categoryPreferences: { email_marketing: true } } }
    expect((await t.track('/v1/identify', { userId, traits, context })).statusCode).toBe(200)
  }
  const automation = async (key: string, body: unknown) => {
    const res = await t.admin('PUT', `/api/automations/${key}`, body)
    expect(res.statusCode, res.body).toBe(201)
    return res.json()
  }
  const run = () => t.rt.automationRunner.runDue()
  const runs = async (key: string) =>
    (await t.admin('GET', `/api/automations/${key}/runs`)).json().items as RunView[]
  const traits = async (id: string) =>
    (await t.admin('GET', `/api/profiles/${id}`)).json().traits as Record<string, unknown>
  const fire = () => t.rt.store.write((tx) => t.rt.engine.fireDue(tx, clock.now()))

  it('runs every action once per transition, even when the outbox is re-read or a run is repeated after a crash', async () => {
    // Bob joined before the automation existed: it does not act on the past.
    await identify('bob', { name: 'Bob', email: 'bob@x.io', newsletter: true })
    // Subscribed to no segment's transitions: it only gets what the automation sends.
    const hook = (
      await t.admin('PUT', '/api/webhooks/crm', { url: rx.url, segments: ['trial'] })
    ).json()
    await automation('welcome', {
      name: 'Welcome series',
      trigger: { segment: 'newsletter', on: 'entered' },
      actions: [
        { type: 'send_email', template: 'welcome' },
        { type: 'webhook', webhook: 'crm' },
        { type: 'set_trait', trait: 'onboarded', value: true },
        { type: 'add_tag', tag: 'welcomed' },
      ],
    })
    await identify('ann', { name: 'Ann', email: 'ann@x.io', newsletter: true })
    expect(await run()).toBe(1)
    expect(smtp.to('ann@x.io').map((m) => m.subject)).toEqual(['Welcome Ann'])
    expect(smtp.to('bob@x.io')).toHaveLength(0)
    const [r] = await runs('welcome')
    expect(r).toMatchObject({ status: 'done', step: 4, type: 'segment.entered' })
    expect(r!.detail).toMatch(
      /^email eml_\S+ sent; webhook delivery msg_\S+ queued; set_trait onboarded; add_tag welcomed$/,
    )
    expect(await traits('ann')).toMatchObject({ onboarded: true, tags: ['welcomed'] })
    await t.rt.delivery.runDue()
    expect(rx.received).toHaveLength(1)
    expect(rx.verify(rx.received[0]!, hook.secret, clock.now())).toMatchObject({
      type: 'automation.action',
      data: {
        automation: 'welcome',
        step: 1,
        transition: { type: 'segment.entered', segment: { key: 'newsletter' } },
        profile: { userId: 'ann', email: 'ann@x.io' },
      },
    })
    // The automation's own trait change did not count as activity.
    expect(await run()).toBe(0)

    // The outbox is read again from the start (a crash before the cursor was saved): no new runs.
    await t.rt.store.write((tx) => tx.delivery.setOutboxCursor('automations', { tx: 0, seq: 0 }))
    expect(await run()).toBe(0)
    expect(await runs('welcome')).toHaveLength(1)

    // A crash after the actions but before their progress was recorded: the run is repeated
    // from the first step, and every action sees it has already happened.
    const stored = (await t.rt.store.messaging.listRuns('default', { limit: 10 }))[0]!
    await t.rt.store.write((tx) =>
      tx.messaging.updateRun({ ...stored, status: 'scheduled', step: 0, detail: null }),
    )
    expect(await run()).toBe(1)
    expect((await runs('welcome'))[0]!.detail).toMatch(
      /^email skipped: already sent; webhook delivery msg_\S+ already queued; set_trait onboarded; add_tag welcomed$/,
    )
    await t.rt.delivery.runDue()
    expect(smtp.to('ann@x.io')).toHaveLength(1)
    expect(rx.received).toHaveLength(1)
    expect(await traits('ann')).toMatchObject({ tags: ['welcomed'] })

    // Leaving and entering again is a new transition: a new run.
    await identify('ann', { newsletter: false })
    clock.advance(HOUR)
    await identify('ann', { newsletter: true })
    expect(await run()).toBe(1)
    expect(smtp.to('ann@x.io')).toHaveLength(2)
    expect(await runs('welcome')).toHaveLength(2)
  })

  it('re-checks membership before a delayed action fires, at exactly its time', async () => {
    await automation('nudge', {
      trigger: { segment: 'trial', on: 'entered', delay: '1d' },
      actions: [{ type: 'send_email', template: 'welcome' }],
    })
    await identify('ann', { name: 'Ann', email: 'ann@x.io', plan: 'trial' })
    await identify('bob', { name: 'Bob', email: 'bob@x.io', plan: 'trial' })
    await identify('cat', { name: 'Cat', email: 'cat@x.io', plan: 'trial' })
    clock.advance(HOUR)
    // Bob converts; Cat leaves and comes back two hours later.
    await identify('bob', { plan: 'pro' })
    await identify('cat', { plan: 'pro' })
    clock.advance(2 * HOUR)
    await identify('cat', { plan: 'trial' })
    expect(await run()).toBe(0)
    expect(await t.rt.store.messaging.nextRunDue()).toBe(NOW + DAY)

    clock.set(NOW + DAY - 1)
    expect(await run()).toBe(0)
    expect(smtp.received).toHaveLength(0)
    clock.set(NOW + DAY)
    expect(await run()).toBe(3)
    const byPerson = async () =>
      Object.fromEntries(
        await Promise.all(
          (await runs('nudge')).map(async (r) => [
            `${(await t.admin('GET', `/api/profiles/${r.profileId}`)).json().userId}@${r.dueAt}`,
            `${r.status}: ${r.detail}`,
          ]),
        ),
      )
    const day = new Date(NOW + DAY).toISOString()
    const later = new Date(NOW + 3 * HOUR + DAY).toISOString()
    expect(await byPerson()).toEqual({
      [`ann@${day}`]: expect.stringMatching(/^done: email eml_\S+ sent$/),
      [`bob@${day}`]: 'skipped: no longer in the segment',
      [`cat@${day}`]: 'skipped: no longer in the segment',
      [`cat@${later}`]: 'scheduled: null',
    })
    clock.set(NOW + 3 * HOUR + DAY)
    expect(await run()).toBe(1)
    expect(smtp.received.map((m) => m.envelopeTo[0])).toEqual(['ann@x.io', 'cat@x.io'])
  })

  it('checks conditions when it fires, acts on exits, and removes tags and traits', async () => {
    await automation('winback', {
      trigger: { segment: 'newsletter', on: 'exited' },
      conditions: { all: [{ trait: 'country', eq: 'US' }, { not: { segment: 'trial' } }] },
      actions: [
        { type: 'remove_tag', tag: 'subscriber' },
        { type: 'unset_trait', trait: 'newsletter_since' },
      ],
    })
    await identify('ann', {
      country: 'US',
      newsletter: true,
      newsletter_since: '2026-01-01',
      tags: ['subscriber', 'vip'],
    })
    await identify('bob', { country: 'FR', newsletter: true, tags: ['subscriber'] })
    await identify('ann', { newsletter: false })
    await identify('bob', { newsletter: false })
    expect(await run()).toBe(2)
    const ann = await traits('ann')
    expect(ann.tags).toEqual(['vip'])
    expect(ann).not.toHaveProperty('newsletter_since')
    expect((await traits('bob')).tags).toEqual(['subscriber'])
    expect((await runs('winback')).map((r) => r.status).sort()).toEqual(['done', 'skipped'])
    expect((await runs('winback')).find((r) => r.status === 'skipped')?.detail).toBe(
      'conditions not met',
    )
  })

  it('applies frequency caps per person across automations', async () => {
    await t.admin('PUT', '/api/email/settings', {
      from: 'news@shop.example',
      caps: [{ category: 'marketing', max: 1, within: '7d' }],
    })
    for (const key of ['first', 'second'])
      await automation(key, {
        trigger: { segment: 'newsletter', on: 'entered' },
        actions: [{ type: 'send_email', template: 'welcome' }],
      })
    await identify('ann', { name: 'Ann', email: 'ann@x.io', newsletter: true })
    expect(await run()).toBe(2)
    expect(smtp.to('ann@x.io')).toHaveLength(1)
    const details = [...(await runs('first')), ...(await runs('second'))].map((r) => r.detail)
    expect(details.sort()).toEqual([
      expect.stringMatching(/^email eml_\S+ sent$/),
      'email skipped: frequency cap: at most 1 marketing emails per 7d',
    ])
  })

  it('retries an email the SMTP server did not take, on the backoff schedule', async () => {
    await automation('welcome', {
      trigger: { segment: 'newsletter', on: 'entered' },
      actions: [
        { type: 'send_email', template: 'welcome' },
        { type: 'add_tag', tag: 'welcomed' },
      ],
    })
    smtp.down = true
    await identify('ann', { name: 'Ann', email: 'ann@x.io', newsletter: true })
    expect(await run()).toBe(0)
    let [r] = await runs('welcome')
    expect(r).toMatchObject({
      status: 'scheduled',
      step: 0,
      attempts: 1,
      dueAt: new Date(NOW + RETRY_DELAYS_MS[1]).toISOString(),
    })
    expect(r!.detail).toContain('retrying: email:')
    smtp.down = false
    clock.advance(RETRY_DELAYS_MS[1] - 1)
    expect(await run()).toBe(0)
    clock.advance(1)
    expect(await run()).toBe(1)
    ;[r] = await runs('welcome')
    expect(r).toMatchObject({ status: 'done', step: 2, attempts: 0 })
    expect(smtp.to('ann@x.io')).toHaveLength(1)
    const sends = (await t.admin('GET', '/api/email/sends')).json().items
    // One send, retried: the failure and the success are the same send id.
    expect(sends).toHaveLength(1)
    expect(sends[0]).toMatchObject({ status: 'sent', automation: 'welcome' })
  })

  it('refuses definitions that refer to nothing or do not parse, naming the path', async () => {
    await t.admin('PUT', '/api/webhooks/crm', { url: rx.url })
    const ok = { segment: 'trial', on: 'entered' }
    for (const [body, code, message] of [
      [
        { trigger: { segment: 'nope', on: 'entered' }, actions: [] },
        'invalid_body',
        'trigger.segment',
      ],
      [{ trigger: { ...ok, on: 'joined' }, actions: [] }, 'invalid_body', 'trigger.on'],
      [{ trigger: { ...ok, delay: 'tomorrow' }, actions: [] }, 'invalid_body', 'trigger.delay'],
      [{ trigger: ok, actions: [] }, 'invalid_body', 'actions: must be a non-empty list'],
      [{ trigger: ok, actions: [{ type: 'sms' }] }, 'invalid_body', 'actions[0].type'],
      [
        { trigger: ok, actions: [{ type: 'send_email', template: 'gone' }] },
        'invalid_body',
        'actions[0].template: template "gone" does not exist',
      ],
      [
        { trigger: ok, actions: [{ type: 'webhook', webhook: 'erp' }] },
        'invalid_body',
        'actions[0].webhook',
      ],
      [
        { trigger: ok, actions: [{ type: 'set_trait', trait: 'x' }] },
        'invalid_body',
        'actions[0].value',
      ],
      [
        { trigger: ok, actions: [{ type: 'add_tag', tag: 'x', extra: 1 }] },
        'invalid_body',
        'actions[0].extra',
      ],
      [
        {
          trigger: ok,
          conditions: {
            all: [
              { trait: 'x', eq: 1 },
              { trait: 'y', gt: 'a' },
            ],
          },
          actions: [{ type: 'add_tag', tag: 'x' }],
        },
        'invalid_rule',
        'conditions.all[1]',
      ],
      [
        { trigger: ok, conditions: { segment: 'ghost' }, actions: [{ type: 'add_tag', tag: 'x' }] },
        'invalid_rule',
        'segment "ghost" does not exist',
      ],
    ] as const) {
      const res = await t.admin('PUT', '/api/automations/bad', body)
      expect(res.statusCode, JSON.stringify(body)).toBe(400)
      expect(res.json().error.code).toBe(code)
      expect(res.json().error.message).toContain(message)
    }
    expect((await t.admin('GET', '/api/automations')).json().items).toEqual([])
  })

  it('keeps what it uses from being deleted, and skips scheduled runs when deleted itself', async () => {
    await t.admin('PUT', '/api/webhooks/crm', { url: rx.url })
    await automation('later', {
      trigger: { segment: 'trial', on: 'entered', delay: '2h' },
      actions: [
        { type: 'send_email', template: 'welcome' },
        { type: 'webhook', webhook: 'crm' },
      ],
    })
    const seg = await t.admin('DELETE', '/api/segments/trial')
    expect(seg.statusCode).toBe(409)
    expect(seg.json().error).toMatchObject({ code: 'segment_in_use', usedBy: ['automation:later'] })
    const hook = await t.admin('DELETE', '/api/webhooks/crm')
    expect(hook.statusCode).toBe(409)
    expect(hook.json().error.code).toBe('in_use')

    await identify('ann', { name: 'Ann', email: 'ann@x.io', plan: 'trial' })
    expect(await run()).toBe(0)
    expect((await runs('later'))[0]).toMatchObject({ status: 'scheduled' })
    expect((await t.admin('DELETE', '/api/automations/later')).statusCode).toBe(200)
    clock.advance(2 * HOUR)
    expect(await run()).toBe(0)
    expect(smtp.received).toHaveLength(0)
    const left = await t.rt.store.messaging.listRuns('default', { limit: 10 })
    expect(left.map((r) => [r.status, r.detail])).toEqual([['skipped', 'automation deleted']])
    expect((await t.admin('DELETE', '/api/segments/trial')).statusCode).toBe(200)
    expect((await t.admin('GET', '/api/automations/later')).statusCode).toBe(404)
    // A time-driven exit has no automation to trigger either.
    await fire()
  })

  it('pages its runs with a cursor past 1,000, oldest first, like every other list', async () => {
    await automation('tag-trials', {
      trigger: { segment: 'trial', on: 'entered' },
      actions: [{ type: 'add_tag', tag: 'trial' }],
    })
    // 2,345 runs, created 7 to a millisecond (ties are broken by transition id).
    const N = 2345
    const rows = Array.from({ length: N }, (_, i) => ({
      workspaceId: 'default',
      automationKey: 'tag-trials',
      transitionId: `trn_${String((i * 7919) % N).padStart(5, '0')}`,
      transitionSeq: i + 1,
      transitionAt: NOW,
      profileId: `prf_${i}`,
      segmentKey: 'trial',
      transitionType: 'segment.entered' as const,
      dueAt: NOW,
      status: 'done' as const,
      step: 1,
      attempts: 0,
      detail: null,
      createdAt: NOW + Math.floor(i / 7),
      updatedAt: NOW,
    }))
    await t.rt.store.write((tx) => tx.messaging.insertRuns(rows))
    const page = async (query: string) => {
      const res = await t.admin('GET', `/api/automations/tag-trials/runs${query}`)
      expect(res.statusCode, res.body).toBe(200)
      return res.json() as { items: { transitionId: string }[]; nextCursor: string | null }
    }
    const first = await page('')
    expect(first.items).toHaveLength(100)
    expect(first.nextCursor).toEqual(expect.any(String))
    const seen: string[] = []
    const sizes: number[] = []
    let cursor: string | null = null
    do {
      const p = await page(`?limit=1000${cursor === null ? '' : `&cursor=${cursor}`}`)
      sizes.push(p.items.length)
      seen.push(...p.items.map((r) => r.transitionId))
      cursor = p.nextCursor
    } while (cursor !== null)
    expect(sizes).toEqual([1000, 1000, 345])
    const expected = [...rows]
      .sort((a, b) =>
        a.createdAt !== b.createdAt
          ? a.createdAt - b.createdAt
          : a.transitionId < b.transitionId
            ? -1
            : 1,
      )
      .map((r) => r.transitionId)
    expect(seen).toEqual(expected)
    // The default page continues where it stopped, too.
    expect((await page(`?cursor=${first.nextCursor}`)).items[0]!.transitionId).toBe(expected[100])

    for (const [query, message] of [
      ['?limit=1001', 'limit "1001" must be a whole number from 1 to 1000'],
      ['?limit=0', 'limit "0" must be a whole number from 1 to 1000'],
      ['?cursor=nope', 'cursor "nope" is not one this API returned'],
    ]) {
      const res = await t.admin('GET', `/api/automations/tag-trials/runs${query}`)
      expect(res.statusCode).toBe(400)
      expect(res.json().error.message).toBe(message)
    }
  })
})
