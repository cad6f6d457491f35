import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { addressProblem } from '../src/delivery/address.js'
import { ManualClock } from '../src/shared/clock.js'
import { newTestApp } from './helpers/runtime.js'
import type { TestApp } from './helpers/runtime.js'
import { findUrl, SmtpSink } from './helpers/smtp.js'
import { testStoreKinds } from './helpers/stores.js'

const NOW = Date.parse('2026-06-01T12:00:00Z')
const DAY = 86_400_000
const PUBLIC = 'http://segflow.test'

const WEEKLY = {
  subject: 'This week for {{ traits.name }}',
  html: [
    '<html><body>',
    "{% if recipient.segment == 'high-value' %}<p>Your VIP offer, {{ traits.name }}</p>",
    "{% elsif segments contains 'at-risk' %}<p>We miss you, {{ traits.name }}</p>",
    '{% else %}<p>News</p>{% endif %}',
    '<a href="https://shop.example/sale?a=1&amp;b=2">Sale</a>',
    '<a href="{{ unsubscribe_url }}">Unsubscribe</a>',
    '</body></html>',
  ].join('\n'),
  text: "{% if recipient.segment == 'high-value' %}VIP{% else %}Hello{% endif %} {{ traits.name }}",
}

describe.each(testStoreKinds())('email on %s', (kind) => {
  let t: TestApp
  let clock: ManualClock
  let smtp: SmtpSink

  beforeEach(async () => {
    clock = new ManualClock(NOW)
    smtp = await new SmtpSink().start()
    t = await newTestApp(kind, {
      clock,
      env: { SEGFLOW_SMTP_URL: smtp.url, SEGFLOW_PUBLIC_URL: PUBLIC },
    })
    for (const [key, priority, rule] of [
      ['high-value', 10, { trait: 'ltv', gte: 1000 }],
      ['at-risk', 5, { trait: 'risk', eq: true }],
      ['newsletter', 0, { trait: 'newsletter', eq: true }],
    ] as const) {
      const res = await t.admin('PUT', `/api/segments/${key}`, { rule, priority })
      expect(res.statusCode).toBe(201)
      await t.rt.segments.settled('default', key)
    }
    expect(
      (
        await t.admin('PUT', '/api/email/settings', {
          from: 'Shop News <news@shop.example>',
        })
      ).statusCode,
    ).toBe(200)
    expect((await t.admin('PUT', '/api/templates/weekly', WEEKLY)).statusCode).toBe(201)
  })
  afterEach(async () => {
    await t.close()
    await smtp.stop()
  })

  /** An identify whose consent manager says `consent` for email marketing (null: nothing). */
  const identify = async (
    userId: string,
    traits: Record<string, unknown>,
    consent: boolean | null = true,
  ) => {
    const context = consent === null ? {} : { consent: { categoryPreferences: { Email: consent } } }
    const res = await t.track('/v1/identify', { userId, traits, context })
    expect(res.statusCode).toBe(200)
  }
  const send = (profile: string, category = 'marketing') =>
    t.admin('POST', '/api/templates/weekly/send', { profile, category })
  const get = (url: string) => t.app.inject({ method: 'GET', url: url.replace(PUBLIC, '') })

  it('sends each person an email whose content depends on their segment, with one-click unsubscribe that stops the next one', async () => {
    await identify('ann', { name: 'Ann', email: 'ann@x.io', ltv: 5000, risk: true })
    await identify('bob', { name: 'Bob <b>', email: 'bob@x.io', risk: true })
    for (const who of ['ann', 'bob']) {
      const res = await send(who)
      expect(res.statusCode).toBe(200)
      expect(res.json()).toMatchObject({ status: 'sent' })
    }
    expect(smtp.received).toHaveLength(2)
    const ann = smtp.only('ann@x.io')
    const bob = smtp.only('bob@x.io')
    // Ann is in both segments: high-value has the higher priority, so she gets the VIP branch.
    expect(ann.subject).toBe('This week for Ann')
    expect(ann.html).toContain('<p>Your VIP offer, Ann</p>')
    expect(ann.html).not.toContain('We miss you')
    expect(ann.text?.trim()).toBe('VIP Ann')
    // Bob is at risk only; his name is escaped in HTML, not in the subject or text.
    expect(bob.html).toContain('<p>We miss you, Bob &lt;b&gt;</p>')
    expect(bob.html).not.toContain('VIP')
    expect(bob.subject).toBe('This week for Bob <b>')
    expect(bob.text?.trim()).toBe('Hello Bob <b>')
    expect(bob.date?.getTime()).toBe(NOW)
    expect(bob.from?.value[0]).toMatchObject({ address: 'news@shop.example', name: 'Shop News' })

    // RFC 8058 one-click unsubscribe headers, pointing at a working endpoint.
    const line = (name: string) =>
      (bob.headerLines.find((h) => h.key === name)?.line ?? '').replace(/\r?\n[ \t]+/g, '')
    const url = /^List-Unsubscribe:\s*<([^>]+)>$/i.exec(line('list-unsubscribe'))![1]!
    expect(url.startsWith(`${PUBLIC}/e/u/`)).toBe(true)
    expect(line('list-unsubscribe-post')).toBe('List-Unsubscribe-Post: List-Unsubscribe=One-Click')
    // The link in the body is the same one; a GET only asks (mail scanners follow links).
    expect(findUrl(bob.html as string, `${PUBLIC}/e/u/`)).toBe(url)
    const page = await get(url)
    expect(page.statusCode).toBe(200)
    expect(page.body).toContain('<form method="post">')
    expect((await t.admin('GET', '/api/email/status/bob')).json()).toMatchObject({
      status: 'subscribed',
    })
    const click = await t.app.inject({
      method: 'POST',
      url: url.replace(PUBLIC, ''),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'List-Unsubscribe=One-Click',
    })
    expect(click.statusCode).toBe(200)
    expect(click.body).toContain('You are unsubscribed')
    expect((await t.admin('GET', '/api/email/status/bob')).json()).toMatchObject({
      status: 'unsubscribed',
    })
    expect((await t.admin('GET', '/api/profiles/bob')).json().emailStatus).toBe('unsubscribed')

    // The next marketing email goes to Ann only.
    expect((await send('ann')).json()).toMatchObject({ status: 'sent' })
    expect((await send('bob')).json()).toEqual({
      status: 'skipped',
      reason: 'the person is unsubscribed',
    })
    expect(smtp.to('ann@x.io')).toHaveLength(2)
    expect(smtp.to('bob@x.io')).toHaveLength(1)
    // A transactional email (a receipt) still reaches him.
    expect((await send('bob', 'transactional')).json()).toMatchObject({ status: 'sent' })
    expect(smtp.to('bob@x.io')).toHaveLength(2)

    // A forged or altered token unsubscribes no one.
    const forged = url.slice(0, -3) + (url.endsWith('AAA') ? 'BBB' : 'AAA')
    const bad = await t.app.inject({ method: 'POST', url: forged.replace(PUBLIC, '') })
    expect(bad.statusCode).toBe(404)
  })

  it('turns an open into Email Opened: the person enters "opened in the last 7 days" and leaves it 7 days later', async () => {
    const res = await t.admin('PUT', '/api/segments/engaged', {
      rule: { email_opened: { within: '7d' } },
    })
    expect(res.statusCode).toBe(201)
    await t.rt.segments.settled('default', 'engaged')
    await identify('ann', { name: 'Ann', email: 'ann@x.io' })
    expect((await send('ann')).json()).toMatchObject({ status: 'sent' })
    const html = smtp.only('ann@x.io').html as string
    const pixel = findUrl(html, `${PUBLIC}/e/o/`)
    const profile = async () => (await t.admin('GET', '/api/profiles/ann')).json()
    const segments = async () =>
      ((await profile()).segments as Array<{ key: string }>).map((s) => s.key)
    expect(await segments()).not.toContain('engaged')

    clock.advance(60_000)
    const opened = await get(pixel)
    expect(opened.statusCode).toBe(200)
    expect(opened.headers['content-type']).toBe('image/gif')
    expect(await segments()).toContain('engaged')
    const events = (await t.admin('GET', '/api/profiles/ann/events')).json().items as Array<{
      name: string
      properties: Record<string, unknown>
    }>
    expect(events[0]).toMatchObject({ name: 'Email Opened', properties: { template: 'weekly' } })

    // The click redirect goes to the original URL and records Email Clicked.
    const link = findUrl(html, `${PUBLIC}/e/c/`)
    const click = await get(link)
    expect(click.statusCode).toBe(302)
    expect(click.headers.location).toBe('https://shop.example/sale?a=1&b=2')
    // The URL is signed: the same token with another destination is not an open redirect.
    const other = link.replace(/u=[^&]+/, `u=${encodeURIComponent('https://evil.example/')}`)
    expect((await get(other)).statusCode).toBe(404)
    const names = (
      (await t.admin('GET', '/api/profiles/ann/events')).json().items as Array<{ name: string }>
    ).map((e) => e.name)
    expect(names.filter((n) => n === 'Email Clicked')).toHaveLength(1)

    // Seven days after the open, exactly, she leaves.
    const openedAt = NOW + 60_000
    clock.set(openedAt + 7 * DAY - 1)
    await t.rt.store.write((tx) => t.rt.engine.fireDue(tx, clock.now()))
    expect(await segments()).toContain('engaged')
    clock.set(openedAt + 7 * DAY)
    await t.rt.store.write((tx) => t.rt.engine.fireDue(tx, clock.now()))
    expect(await segments()).not.toContain('engaged')
    const history = await t.rt.store.listTransitions('default', {
      segmentKey: 'engaged',
      limit: 10,
    })
    expect(history.map((h) => [h.type, h.at, h.reason])).toEqual([
      ['segment.entered', openedAt, 'event'],
      ['segment.exited', openedAt + 7 * DAY, 'time'],
    ])
  })

  it('records a hard bounce and sends that person no more marketing email', async () => {
    await identify('cat', { name: 'Cat', email: 'cat@x.io' })
    smtp.reject.add('cat@x.io')
    const res = await send('cat')
    expect(res.statusCode).toBe(502)
    expect(res.json().error.code).toBe('send_failed')
    expect((await t.admin('GET', '/api/email/status/cat')).json().status).toBe('bounced')
    smtp.reject.clear()
    expect((await send('cat')).json()).toEqual({
      status: 'skipped',
      reason: 'the person is bounced',
    })
    // An operator who fixed the address subscribes them again.
    expect(
      (await t.admin('PUT', '/api/email/status/cat', { status: 'subscribed' })).statusCode,
    ).toBe(200)
    clock.advance(1000)
    expect((await send('cat')).json()).toMatchObject({ status: 'sent' })
    const sends = (await t.admin('GET', '/api/email/sends?profile=cat')).json().items
    expect(sends.map((s: { status: string }) => s.status)).toEqual(['sent', 'failed'])
  })

  it('applies frequency caps and consent to marketing email only', async () => {
    // Dan grants consent with an event, Eve refuses it in her consent manager, Fay says nothing.
    await identify('dan', { name: 'Dan', email: 'dan@x.io' }, null)
    const granted = await t.track('/v1/track', {
      userId: 'dan',
      event: 'Consent Updated',
      properties: { email_marketing: true, form: 'signup' },
    })
    expect(granted.statusCode).toBe(200)
    await identify('eve', { name: 'Eve', email: 'eve@x.io' }, false)
    await identify('fay', { name: 'Fay', email: 'fay@x.io' }, null)
    const settings = await t.admin('PUT', '/api/email/settings', {
      from: 'news@shop.example',
      caps: [{ category: 'marketing', max: 2, within: '7d' }],
    })
    expect(settings.json()).toMatchObject({
      caps: [{ category: 'marketing', max: 2, within: '7d' }],
      consent: { mode: 'opt_in' },
    })
    expect((await send('dan')).json().status).toBe('sent')
    clock.advance(DAY)
    expect((await send('dan')).json().status).toBe('sent')
    clock.advance(DAY)
    expect((await send('dan')).json()).toEqual({
      status: 'skipped',
      reason: 'frequency cap: at most 2 marketing emails per 7d',
    })
    expect((await send('dan', 'transactional')).json().status).toBe('sent')
    // The first send leaves the window 7 days after it was made.
    clock.set(NOW + 7 * DAY)
    expect((await send('dan')).json().status).toBe('sent')
    expect((await send('eve')).json()).toEqual({
      status: 'skipped',
      reason: `email_marketing consent refused (context, ${new Date(NOW).toISOString()})`,
    })
    expect((await send('fay')).json()).toEqual({
      status: 'skipped',
      reason: 'no email_marketing consent (opt_in)',
    })
    // Transactional email needs no marketing consent.
    expect((await send('fay', 'transactional')).json().status).toBe('sent')
    await t.admin('PUT', '/api/email/settings', {
      from: 'news@shop.example',
      consent: { mode: 'opt_out' },
    })
    // Opt-out: only an explicit refusal blocks.
    expect((await send('fay')).json().status).toBe('sent')
    expect((await send('eve')).json().status).toBe('skipped')
    expect(smtp.to('dan@x.io')).toHaveLength(4)
  })

  it('keeps an unsubscribe when the person is merged with another profile', async () => {
    await identify('zoe', { name: 'Zoe', email: 'zoe@x.io' })
    await t.track('/v1/identify', { anonymousId: 'anon-9', traits: { email: 'zoe@x.io' } })
    const anon = (await t.admin('GET', '/api/profiles/anon-9')).json()
    const zoe = (await t.admin('GET', '/api/profiles/zoe')).json()
    expect(anon.id).not.toBe(zoe.id)
    await t.admin('PUT', '/api/email/status/anon-9', { status: 'unsubscribed' })
    // Zoe logs in on the device that unsubscribed: one person now, still unsubscribed.
    await t.track('/v1/identify', { userId: 'zoe', anonymousId: 'anon-9' })
    const merged = (await t.admin('GET', '/api/profiles/anon-9')).json()
    expect(merged.userId).toBe('zoe')
    expect(merged.emailStatus).toBe('unsubscribed')
    expect((await send('zoe')).json()).toEqual({
      status: 'skipped',
      reason: 'the person is unsubscribed',
    })
  })

  it('refuses bad email settings, naming the field', async () => {
    for (const [body, message] of [
      [{ from: 'not an address' }, 'from must be an email address'],
      [
        { from: 'a@b.c', caps: [{ category: 'marketing', max: 3, within: 'soon' }] },
        'caps[0].within',
      ],
      [{ from: 'a@b.c', caps: [{ category: 'promo', max: 3, within: '7d' }] }, 'caps[0].category'],
      [{ from: 'a@b.c', reply: 'x' }, 'unknown field "reply"'],
      [{ from: 'a@b.c', consent: { mode: 'maybe' } }, 'consent must be {"mode": "opt_in"}'],
      [{ from: 'a@b.c', consent: { trait: 'ok', required: true } }, 'consent.trait is no longer'],
    ] as const) {
      const res = await t.admin('PUT', '/api/email/settings', body)
      expect(res.statusCode).toBe(400)
      expect(res.json().error.message).toContain(message)
    }
  })

  it('sends to one plain address only: a trait naming more recipients is not an address', async () => {
    const injected = [
      'me@a.example, list1@evil.example, "x" <list2@evil.example>',
      'me@a.example; list1@evil.example',
      'me@a.example list1@evil.example',
      '"x" <list2@evil.example>',
      'Me <me@a.example>',
      'me@a.example\r\nBcc: list3@evil.example',
      '(comment)me@a.example',
      'me@a.example@evil.example',
      'me@',
    ]
    for (const [i, email] of injected.entries()) await identify(`p${i}`, { name: 'P', email })
    await identify('ann', { name: 'Ann', email: 'ann@x.io' })
    for (const category of ['transactional', 'marketing']) {
      for (const [i, email] of injected.entries()) {
        const res = await send(`p${i}`, category)
        expect(res.statusCode, email).toBe(200)
        expect(res.json(), email).toMatchObject({ status: 'skipped' })
        expect(res.json().reason, email).toMatch(
          /^invalid_email: the email address .+; a recipient is one plain address$/,
        )
      }
    }
    expect((await send('p0', 'transactional')).json().reason).toBe(
      'invalid_email: the email address holds more than one address (a comma or semicolon); a recipient is one plain address',
    )
    expect(smtp.received).toHaveLength(0)
    expect((await send('ann', 'transactional')).json()).toMatchObject({ status: 'sent' })
    expect(smtp.received).toHaveLength(1)
    expect(smtp.received[0]!.envelopeTo).toEqual(['ann@x.io'])
    expect(smtp.received[0]!.mail.to).toMatchObject({ value: [{ address: 'ann@x.io' }] })
  })

  it('fails clearly without an SMTP server, and skips people without an address', async () => {
    await t.close()
    t = await newTestApp(kind, { clock, env: { SEGFLOW_PUBLIC_URL: PUBLIC } })
    await t.admin('PUT', '/api/templates/weekly', WEEKLY)
    await identify('gus', { name: 'Gus', email: 'gus@x.io' })
    await identify('hal', { name: 'Hal' })
    const res = await send('gus')
    expect(res.statusCode).toBe(502)
    expect(res.json().error.message).toContain('SEGFLOW_SMTP_URL')
    expect((await send('hal')).json()).toEqual({ status: 'skipped', reason: 'no email address' })
  })
})

describe('addressProblem', () => {
  it.each([
    'ann@x.io',
    "o'brien+tag@mail.example.co.uk",
    'first.last@sub-domain.example',
    'jörg@bücher.example',
    '  ann@x.io\t',
  ])('%s is one plain address', (value) => {
    expect(addressProblem(value)).toBeNull()
  })

  it.each([
    ['a@x.io, b@y.io', 'holds more than one address (a comma or semicolon)'],
    ['a@x.io;b@y.io', 'holds more than one address (a comma or semicolon)'],
    ['"x" <b@y.io>', 'has a display name, comment or angle brackets'],
    ['<b@y.io>', 'has a display name, comment or angle brackets'],
    ['a@x.io (me)', 'has a display name, comment or angle brackets'],
    ['a@x.io\nBcc: b@y.io', 'holds a line break or control character'],
    ['a@x.io\r', 'holds a line break or control character'],
    ['a@x.io b@y.io', 'holds a space'],
    ['ann', 'has no @'],
    ['a@b@y.io', 'has more than one @'],
    ['.a@x.io', 'has a malformed part before the @'],
    ['a..b@x.io', 'has a malformed part before the @'],
    ['@x.io', 'has a malformed part before the @'],
    ['a@localhost', 'has a malformed domain'],
    ['a@-x.io', 'has a malformed domain'],
    ['a@[127.0.0.1]', 'has a malformed domain'],
    ['', 'is empty'],
  ])('%j is not an address: %s', (value, problem) => {
    expect(addressProblem(value)).toBe(problem)
  })
})
