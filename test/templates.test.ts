import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ManualClock } from '../src/shared/clock.js'
import { newTestApp } from './helpers/runtime.js'
import type { TestApp } from './helpers/runtime.js'
import { testStoreKinds } from './helpers/stores.js'

const NOW = Date.parse('2026-06-01T12:00:00Z')

interface Row {
  segment: string | null
  profile: { id: string; userId: string | null; email: string | null } | null
  recipientSegment: string | null
  subject: string | null
  html: string | null
  text: string | null
  error: string | null
}

describe.each(testStoreKinds())('templates on %s', (kind) => {
  let t: TestApp
  let clock: ManualClock

  beforeEach(async () => {
    clock = new ManualClock(NOW)
    t = await newTestApp(kind, { clock, env: { SEGFLOW_PUBLIC_URL: 'http://segflow.test' } })
    for (const [key, priority, rule] of [
      ['high-value', 10, { trait: 'ltv', gte: 1000 }],
      ['at-risk', 5, { trait: 'risk', eq: true }],
      ['nobody', 1, { trait: 'never', exists: true }],
    ] as const) {
      expect((await t.admin('PUT', `/api/segments/${key}`, { rule, priority })).statusCode).toBe(
        201,
      )
      await t.rt.segments.settled('default', key)
    }
    await t.track('/v1/identify', {
      userId: 'ann',
      traits: { name: 'Ann', email: 'ann@x.io', ltv: 5000, risk: true },
    })
    await t.track('/v1/identify', {
      userId: 'bob',
      traits: { name: '<script>alert(1)</script>', email: 'bob@x.io', risk: true },
    })
  })
  afterEach(() => t.close())

  const put = (key: string, body: unknown) => t.admin('PUT', `/api/templates/${key}`, body)
  const preview = async (key: string, body: unknown = {}) => {
    const res = await t.admin('POST', `/api/templates/${key}/preview`, body)
    expect(res.statusCode).toBe(200)
    return res.json() as { warnings: string[]; previews: Row[] }
  }

  it('refuses a template that does not parse, with the field, line and column', async () => {
    const res = await put('broken', {
      subject: 'Hi',
      html: '<p>ok</p>\n<p>{% if traits.vip %}VIP</p>',
    })
    expect(res.statusCode).toBe(400)
    const body = res.json()
    expect(body.error.code).toBe('invalid_template')
    expect(body.error.issues).toEqual([
      expect.objectContaining({ field: 'html', line: 2, column: 4 }),
    ])
    expect(body.error.message).toContain('html:2:4')
    // Nothing was saved.
    expect((await t.admin('GET', '/api/templates/broken')).statusCode).toBe(404)

    for (const [bad, message] of [
      [{ html: '<p/>' }, 'subject is required'],
      [{ subject: 'x', html: 3 }, 'html is required text'],
      [{ subject: 'x', html: '', body: 'x' }, 'unknown field "body"'],
      [{ subject: '{{ x | nosuchfilter }}', html: '' }, 'subject'],
    ] as const) {
      const r = await put('t', bad)
      expect(r.statusCode).toBe(400)
      expect(r.json().error.message).toContain(message)
    }
    expect((await put('Bad Key', { subject: 'x', html: '' })).statusCode).toBe(400)
  })

  it('lints undefined variables and segment keys that do not exist', async () => {
    const res = await put('lint', {
      subject: 'Hello {{ user.name }}',
      html: "{% if recipient.segment == 'vip' %}VIP{% endif %}{% if segments contains 'at-risk' %}!{% endif %}{% if 'gone' == recipient.segment %}{% endif %}{{ traits.name }}",
    })
    expect(res.statusCode).toBe(201)
    expect(res.json().warnings).toEqual([
      'subject: undefined variable "user" (available: profile, traits, segments, recipient, computed, scores, lifecycle, unsubscribe_url, now)',
      'segment "vip" does not exist',
      'segment "gone" does not exist',
    ])
    expect((await t.admin('GET', '/api/templates/lint')).json().warnings).toHaveLength(3)
    // Creating the segment clears its warning.
    await t.admin('PUT', '/api/segments/vip', { rule: { trait: 'vip', eq: true } })
    expect((await t.admin('GET', '/api/templates/lint')).json().warnings).toHaveLength(2)
  })

  it('escapes values in HTML by default, `| raw` opts out, and hides prototypes', async () => {
    await put('escape', {
      subject: '{{ traits.name }}',
      html: '<p>{{ traits.name }}</p><div>{{ traits.name | raw }}</div><i>{{ traits.constructor }}{{ traits.__proto__ }}</i>',
    })
    const [row] = (await preview('escape', { profile: 'bob' })).previews
    expect(row!.html).toBe(
      '<p>&lt;script&gt;alert(1)&lt;/script&gt;</p><div><script>alert(1)</script></div><i></i>',
    )
    expect(row!.subject).toBe('<script>alert(1)</script>')
  })

  it('previews for one profile, and as a QA matrix of one sample member per segment', async () => {
    await put('offer', {
      subject: '{{ traits.name }}',
      html: "{% if recipient.segment == 'high-value' %}VIP{% elsif recipient.segment == 'at-risk' %}COME BACK{% else %}NEWS{% endif %}",
      text: 'for {{ recipient.email }}',
    })
    const one = (await preview('offer', { profile: 'ann@x.io' })).previews
    expect(one).toEqual([
      expect.objectContaining({
        segment: 'high-value',
        recipientSegment: 'high-value',
        html: 'VIP',
        text: 'for ann@x.io',
        profile: expect.objectContaining({ userId: 'ann', email: 'ann@x.io' }),
      }),
    ])
    const matrix = (await preview('offer')).previews
    // By priority; at-risk is shown for Bob, whose own segment it is, not for Ann (high-value).
    expect(
      matrix.map((r) => [r.segment, r.profile?.userId ?? null, r.recipientSegment, r.html]),
    ).toEqual([
      ['high-value', 'ann', 'high-value', 'VIP'],
      ['at-risk', 'bob', 'at-risk', 'COME BACK'],
      ['nobody', null, null, null],
    ])
    expect(matrix[2]!.error).toBe('the segment has no members to preview with')

    const missing = await t.admin('POST', '/api/templates/offer/preview', { profile: 'zed' })
    expect(missing.statusCode).toBe(404)
    expect(missing.json().error.code).toBe('profile_not_found')
    const unknown = await t.admin('POST', '/api/templates/offer/preview', { who: 'ann' })
    expect(unknown.statusCode).toBe(400)
  })

  it('stops a render that runs too long instead of hanging the server', async () => {
    await put('loop', {
      subject: 'x',
      html: '{% for i in (1..100000000) %}{% for j in (1..100000000) %}{{ i }}{% endfor %}{% endfor %}',
    })
    const [row] = (await preview('loop', { profile: 'ann' })).previews
    expect(row!.html).toBeNull()
    expect(row!.error).toMatch(/template render limit exceeded|memory alloc limit exceeded/)
  })

  it('parses a stored template once and re-parses only when it changes', async () => {
    await put('cached', { subject: 'v1', html: 'one' })
    const render = async () => (await preview('cached', { profile: 'ann' })).previews[0]!.html
    const before = t.rt.templates.parses
    for (let i = 0; i < 5; i++) expect(await render()).toBe('one')
    expect(t.rt.templates.parses).toBe(before)
    // Another process saves a new version: the next render parses it, once.
    await t.rt.store.write((tx) =>
      tx.messaging.upsertTemplate({
        workspaceId: 'default',
        key: 'cached',
        subject: 'v2',
        html: 'two',
        text: null,
        updatedAt: NOW + 1000,
      }),
    )
    for (let i = 0; i < 5; i++) expect(await render()).toBe('two')
    expect(t.rt.templates.parses).toBe(before + 1)
  })

  it('lists, reads and deletes templates; one an automation sends cannot be deleted', async () => {
    await put('a', { subject: 'A', html: 'a' })
    await put('b', { subject: 'B', html: 'b', text: 'b' })
    expect((await put('b', { subject: 'B2', html: 'b' })).statusCode).toBe(200)
    const list = (await t.admin('GET', '/api/templates')).json().items
    expect(list.map((x: { key: string; subject: string }) => [x.key, x.subject])).toEqual([
      ['a', 'A'],
      ['b', 'B2'],
    ])
    const auto = await t.admin('PUT', '/api/automations/welcome', {
      trigger: { segment: 'at-risk', on: 'entered' },
      actions: [{ type: 'send_email', template: 'a' }],
    })
    expect(auto.statusCode).toBe(201)
    const refused = await t.admin('DELETE', '/api/templates/a')
    expect(refused.statusCode).toBe(409)
    expect(refused.json().error).toMatchObject({
      code: 'in_use',
      usedBy: ['automation:welcome'],
    })
    expect((await t.admin('DELETE', '/api/templates/b')).statusCode).toBe(200)
    expect((await t.admin('DELETE', '/api/templates/b')).statusCode).toBe(404)
  })
})
