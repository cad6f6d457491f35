import { rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ManualClock } from '../src/shared/clock.js'
import { basic, newTestApp } from './helpers/runtime.js'
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
    expect(row!.error).toMatch(/render time limit of 500 ms|more memory than the render limit/)
  })

  it('never reads a file: include, render and layout are refused when saved, naming the partial', async () => {
    // LiquidJS's default file system reads the working directory: a deployment's .env is there.
    const name = `segflow-test-secret-${process.pid}.env`
    const file = join(process.cwd(), name)
    writeFileSync(file, 'SEGFLOW_SECRET_KEY=the-secret-nobody-may-read\n')
    try {
      for (const [field, source, line, column] of [
        ['html', `<p>{% include '${name}' %}</p>`, 1, 4],
        ['html', `{% render "${name}" %}`, 1, 1],
        ['html', `{% layout '${name}' %}x`, 1, 1],
        ['subject', `Hi {% include '${name}' %}`, 1, 4],
        ['text', `Hello\n  {% render '${name}', x: 1 %}`, 2, 3],
        ['html', `{% liquid\n  include '${name}'\n%}`, 2, 3],
        ['html', `{% include '.env' %}`, 1, 1],
      ] as const) {
        const res = await put('leak', { subject: 's', html: '', [field]: source })
        expect(res.statusCode, source).toBe(400)
        expect(res.body).not.toContain('the-secret-nobody-may-read')
        const error = res.json().error
        expect(error.code).toBe('invalid_template')
        expect(error.message).toContain(source.includes(name) ? name : "'.env'")
        expect(error.message).toMatch(/is not supported: templates cannot use partials or files/)
        expect(error.issues).toEqual([expect.objectContaining({ field, line, column })])
      }
      expect((await t.admin('GET', '/api/templates/leak')).statusCode).toBe(404)

      // A partial that does not exist was a 500; it is a 400 naming it.
      const nope = await put('nope', { subject: 's', html: '{% include "nope" %}' })
      expect(nope.statusCode).toBe(400)
      expect(nope.json().error.message).toContain('html:1:1: {% include "nope" %} is not supported')

      // Another saved template of the workspace is no partial either (templates have none).
      expect((await put('footer', { subject: 'f', html: '<footer/>' })).statusCode).toBe(201)
      const uses = await put('uses-footer', { subject: 's', html: "{% include 'footer' %}" })
      expect(uses.statusCode).toBe(400)
      expect(uses.json().error.message).toContain("{% include 'footer' %} is not supported")

      // One stored before partials were refused (or by another process) never renders the file.
      await t.rt.store.write((tx) =>
        tx.messaging.upsertTemplate({
          workspaceId: 'default',
          key: 'old',
          subject: 's',
          html: `{% include '${name}' %}{% render '${name}' %}`,
          text: null,
          updatedAt: NOW,
        }),
      )
      for (const body of [{ profile: 'ann' }, {}]) {
        const res = await t.admin('POST', '/api/templates/old/preview', body)
        expect(res.body).not.toContain('the-secret-nobody-may-read')
        expect(res.statusCode).toBe(400)
        expect(res.json().error.message).toContain('stored template old does not parse')
      }
    } finally {
      rmSync(file, { force: true })
    }
  })

  // A 1.5-million-character string split into half a million parts, filtered and sorted,
  // three times: each filter is one step for LiquidJS, whose own time limit is only checked
  // between steps (this ran 3.7 s against a limit of 500 ms).
  const GROW =
    '{% assign s = "ab," %}{% for i in (1..19) %}{% assign s = s | append: s %}{% endfor %}'
  const HOSTILE =
    GROW +
    '{% assign a = s | split: "," | where: "x" | sort %}{% assign b = s | split: "," | sort %}' +
    '{% assign c = s | split: "," | sort | reverse %}{{ a.size }}{{ b.size }}{{ c.size }}'

  it('stops a hostile render inside its filters at the deadline, and renders on', async () => {
    const b = await newTestApp(kind, { clock, env: { SEGFLOW_RENDER_TIMEOUT_MS: '300' } })
    try {
      await b.track('/v1/identify', { userId: 'ann', traits: { name: 'Ann' } })
      const bput = (key: string, body: unknown) => b.admin('PUT', `/api/templates/${key}`, body)
      const bpreview = async (key: string) => {
        const res = await b.admin('POST', `/api/templates/${key}/preview`, { profile: 'ann' })
        expect(res.statusCode).toBe(200)
        return res.json().previews[0] as Row
      }
      expect((await bput('hostile', { subject: 'x', html: HOSTILE })).statusCode).toBe(201)
      expect((await bput('fine', { subject: 'x', html: 'Hi {{ traits.name }}' })).statusCode).toBe(
        201,
      )
      // The first render starts the worker; its start is not a render's time.
      expect((await bpreview('fine')).html).toBe('Hi Ann')
      const started = performance.now()
      const row = await bpreview('hostile')
      const ms = performance.now() - started
      expect(row.html).toBeNull()
      expect(row.error).toBe(
        'the template could not be rendered: it ran longer than the render time limit of 300 ms (SEGFLOW_RENDER_TIMEOUT_MS)',
      )
      expect(ms).toBeLessThan(1500)
      // The worker was replaced: the next render works.
      expect((await bpreview('fine')).html).toBe('Hi Ann')
    } finally {
      await b.close()
    }
  })

  it('stops a render that needs more memory than a worker has', async () => {
    const b = await newTestApp(kind, {
      clock,
      env: { SEGFLOW_RENDER_TIMEOUT_MS: '20000', SEGFLOW_RENDER_MEMORY_MB: '32' },
    })
    try {
      await b.track('/v1/identify', { userId: 'ann', traits: { name: 'Ann' } })
      // Arrays of 1, 2, 3 and 3 million items kept at once (about 75 MB), within LiquidJS's own
      // allowance: this rendered on the server's heap before.
      const html =
        GROW.replace('1..19', '1..20') +
        '{% assign a = s | split: "," %}{% assign b = a | concat: a %}{% assign c = b | concat: a %}' +
        '{% assign d = c | reverse %}{{ a.size }} {{ b.size }} {{ c.size }} {{ d.size }}'
      expect((await b.admin('PUT', '/api/templates/big', { subject: 'x', html })).statusCode).toBe(
        201,
      )
      const heap = process.memoryUsage().heapUsed
      const res = await b.admin('POST', '/api/templates/big/preview', { profile: 'ann' })
      expect(res.statusCode).toBe(200)
      const row = res.json().previews[0] as Row
      expect(row.html).toBeNull()
      expect(row.error).toBe(
        'the template could not be rendered: it needed more memory than the render limit of 32 MB (SEGFLOW_RENDER_MEMORY_MB)',
      )
      // None of it was allocated on the server's own heap.
      expect(process.memoryUsage().heapUsed - heap).toBeLessThan(50_000_000)
      await b.admin('PUT', '/api/templates/fine', { subject: 'x', html: 'ok' })
      const again = await b.admin('POST', '/api/templates/fine/preview', { profile: 'ann' })
      expect(again.json().previews[0].html).toBe('ok')
    } finally {
      await b.close()
    }
  })

  it('a QA matrix over many segments does not hold up tracking in another workspace', async () => {
    await t.rt.store.ensureWorkspace({ id: 'other', name: 'Other', createdAt: NOW })
    const { key } = await t.rt.keys.create({ workspaceId: 'other', kind: 'write' })
    // Everyone is in every segment: each row but the first scans 200 members for its own.
    const SEGMENTS = 60
    for (let i = 0; i < SEGMENTS; i++) {
      const res = await t.admin('PUT', `/api/segments/s${i}`, {
        rule: { trait: 'all', eq: true },
        priority: 100 + i,
      })
      expect(res.statusCode).toBe(201)
      await t.rt.segments.settled('default', `s${i}`)
    }
    // People arrive after the segments (no backfills to wait for): 200 in each of them.
    const people = Array.from({ length: 200 }, (_, i) => ({
      type: 'identify',
      userId: `p${String(i).padStart(3, '0')}`,
      traits: { all: true, name: `P${i}` },
    }))
    expect((await t.track('/v1/batch', { batch: people })).statusCode).toBe(200)
    expect((await t.admin('GET', '/api/segments/s0')).json()).toMatchObject({ size: 200 })
    await put('matrix', { subject: '{{ recipient.segment }}', html: '{{ traits.name }}' })
    await preview('matrix', { profile: 'p000' }) // starts the render worker

    const started = performance.now()
    let previewMs = 0
    let trackMs = 0
    const matrix = t.admin('POST', '/api/templates/matrix/preview', {}).then((r) => {
      previewMs = performance.now() - started
      return r
    })
    const track = t
      .track('/v1/track', { userId: 'x', event: 'Meanwhile' }, { authorization: basic(key) })
      .then((r) => {
        trackMs = performance.now() - started
        return r
      })
    const [m, tr] = await Promise.all([matrix, track])
    expect(tr.statusCode).toBe(200)
    expect(m.statusCode).toBe(200)
    const rows = m.json().previews as Row[]
    expect(rows).toHaveLength(SEGMENTS + 3)
    expect(rows[0]).toMatchObject({ segment: 's59', recipientSegment: 's59', subject: 's59' })
    expect(rows[1]).toMatchObject({ segment: 's58', recipientSegment: 's59', error: null })
    expect(trackMs).toBeLessThan(previewMs)
    expect(trackMs).toBeLessThan(2000)
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
