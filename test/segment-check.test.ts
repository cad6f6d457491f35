/**
 * What the dashboard's rule editor asks the server: `POST /api/segments/check` (a rule's YAML
 * or JSON text checked as publishing would, every issue at its line and column),
 * `GET /api/segments/:key/versions`, and a template draft's live render.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ManualClock } from '../src/shared/clock.js'
import { newTestApp } from './helpers/runtime.js'
import type { TestApp } from './helpers/runtime.js'
import { testStoreKinds } from './helpers/stores.js'

const NOW = Date.parse('2026-06-01T12:00:00Z')

describe.each(testStoreKinds())('the rule editor API on %s', (kind) => {
  let t: TestApp
  let clock: ManualClock
  beforeEach(async () => {
    clock = new ManualClock(NOW)
    t = await newTestApp(kind, { clock })
  })
  afterEach(async () => {
    await t.close()
  })

  const check = async (source: string, format: 'yaml' | 'json', key?: string) => {
    const res = await t.admin('POST', '/api/segments/check', {
      source,
      format,
      ...(key ? { key } : {}),
    })
    expect(res.statusCode, res.body).toBe(200)
    return res.json() as {
      ok: boolean
      rule?: unknown
      yaml?: string
      issues: { path: string; message: string; line: number; column: number }[]
    }
  }

  it('accepts a good rule in YAML and in JSON and answers it as JSON and as YAML', async () => {
    const yaml = 'all:\n  - trait: plan\n    eq: pro\n  - event: Viewed Pricing\n    within: 7d\n'
    const a = await check(yaml, 'yaml')
    expect(a).toEqual({
      ok: true,
      rule: {
        all: [
          { trait: 'plan', eq: 'pro' },
          { event: 'Viewed Pricing', within: '7d' },
        ],
      },
      yaml,
      issues: [],
    })
    const b = await check(JSON.stringify(a.rule, null, 2), 'json')
    expect(b.ok).toBe(true)
    expect(b.rule).toEqual(a.rule)
    expect(b.yaml).toBe(yaml)
  })

  it('points at the line and column of a rule error, in YAML and in JSON', async () => {
    const yaml =
      'all:\n  - trait: plan\n    eq: pro\n  - event: Viewed Pricing\n    within: 7 days\n'
    const a = await check(yaml, 'yaml')
    expect(a.ok).toBe(false)
    expect(a.issues).toHaveLength(1)
    expect(a.issues[0]).toMatchObject({ path: 'all[1].within', line: 5, column: 13 })
    expect(a.issues[0]!.message).toMatch(/duration/)

    const json =
      '{\n  "all": [\n    { "trait": "plan", "eq": "pro" },\n    { "trait": "age", "gte": "x", "bogus": 1 }\n  ]\n}'
    const b = await check(json, 'json')
    expect(b.ok).toBe(false)
    expect(b.issues.map((i) => i.line)).toEqual(b.issues.map(() => 4))
    expect(b.issues.some((i) => /bogus/.test(i.message))).toBe(true)
  })

  it('points at YAML and JSON syntax errors', async () => {
    const a = await check('all:\n  - trait: plan\n    eq: [pro\n', 'yaml')
    expect(a.ok).toBe(false)
    expect(a.issues[0]!.message).toMatch(/^YAML: /)
    expect(a.issues[0]!.line).toBeGreaterThanOrEqual(3)

    const b = await check('{\n  "trait": "plan",\n  "eq": "pro",\n}', 'json')
    expect(b.ok).toBe(false)
    expect(b.issues[0]).toMatchObject({ path: '', line: 4, column: 1 })
    expect(b.issues[0]!.message).toMatch(/^JSON: /)

    const c = await check('   ', 'yaml')
    expect(c).toMatchObject({ ok: false, issues: [{ message: 'the rule is empty' }] })
  })

  it('reports what only the workspace knows: unknown segments and models, cycles', async () => {
    const a = await check('all:\n  - trait: plan\n    eq: pro\n  - segment: nosuch\n', 'yaml')
    expect(a.ok).toBe(false)
    expect(a.issues).toEqual([
      {
        path: '',
        message: 'the rule refers to segment nosuch, which does not exist',
        line: 4,
        column: 14,
      },
    ])
    const b = await check('score: engagement\ngte: 50\n', 'yaml')
    expect(b.issues[0]).toMatchObject({ line: 1, column: 8 })
    expect(b.issues[0]!.message).toMatch(/scoring model engagement does not exist/)

    expect(
      (await t.admin('PUT', '/api/segments/a', { rule: { trait: 'plan', eq: 'pro' } })).statusCode,
    ).toBe(201)
    expect((await t.admin('PUT', '/api/segments/b', { rule: { segment: 'a' } })).statusCode).toBe(
      201,
    )
    // b refers to a: a referring to b would be a cycle, a new segment referring to b is not.
    const c = await check('segment: b\n', 'yaml', 'a')
    expect(c.ok).toBe(false)
    expect(c.issues[0]!.message).toMatch(/refers to itself: a → b → a|refers to itself: b → a → b/)
    expect((await check('segment: b\n', 'yaml')).ok).toBe(true)
  })

  it('leaves no audit entry for a check (it changes nothing and reads no one)', async () => {
    await check('trait: plan\neq: pro\n', 'yaml')
    await t.admin('POST', '/api/segments/preview', { rule: { trait: 'plan', eq: 'pro' } })
    const actions = (await t.admin('GET', '/api/audit'))
      .json()
      .items.map((e: { action: string }) => e.action)
    expect(actions).toContain('POST /api/segments/preview')
    expect(actions).not.toContain('POST /api/segments/check')
  })

  it('refuses a body that is not {source, format} with a 400 naming the field', async () => {
    const res = await t.admin('POST', '/api/segments/check', { source: 'x', format: 'toml' })
    expect(res.statusCode).toBe(400)
    expect(res.body).toMatch(/format/)
    const extra = await t.admin('POST', '/api/segments/check', {
      source: 'x',
      format: 'yaml',
      rule: {},
    })
    expect(extra.statusCode).toBe(400)
  })

  it('lists every version of a segment with its rule as YAML', async () => {
    await t.admin('PUT', '/api/segments/pro', { name: 'Pro', rule: { trait: 'plan', eq: 'pro' } })
    clock.advance(60_000)
    await t.admin('PUT', '/api/segments/pro', {
      name: 'Pro or team',
      rule: { trait: 'plan', in: ['pro', 'team'] },
    })
    const res = await t.admin('GET', '/api/segments/pro/versions')
    expect(res.statusCode, res.body).toBe(200)
    expect(res.json()).toEqual({
      segment: 'pro',
      items: [
        {
          version: 1,
          name: 'Pro',
          description: '',
          rule: { trait: 'plan', eq: 'pro' },
          yaml: 'trait: plan\neq: pro\n',
          publishedAt: new Date(NOW).toISOString(),
        },
        {
          version: 2,
          name: 'Pro or team',
          description: '',
          rule: { trait: 'plan', in: ['pro', 'team'] },
          yaml: 'trait: plan\nin:\n  - pro\n  - team\n',
          publishedAt: new Date(NOW + 60_000).toISOString(),
        },
      ],
    })
    const missing = await t.admin('GET', '/api/segments/nosuch/versions')
    expect(missing.statusCode).toBe(404)
    expect(missing.json().error.code).toBe('segment_not_found')
  })

  it('renders an unsaved template draft in the QA matrix, and refuses a draft that does not parse', async () => {
    await t.track('/v1/identify', {
      userId: 'ann',
      traits: { plan: 'pro', first_name: 'Ann', email: 'ann@example.com' },
    })
    await t.admin('PUT', '/api/segments/pro', { rule: { trait: 'plan', eq: 'pro' } })
    await t.rt.segments.settled('default', 'pro')
    await t.admin('PUT', '/api/templates/welcome', { subject: 'Saved', html: '<p>saved</p>' })
    const res = await t.admin('POST', '/api/templates/welcome/preview', {
      draft: { subject: 'Hi {{ traits.first_name }}', html: '<p>Draft for {{ traits.plan }}</p>' },
    })
    expect(res.statusCode, res.body).toBe(200)
    const pro = res.json().previews.find((p: { segment: string }) => p.segment === 'pro')
    expect(pro).toMatchObject({ subject: 'Hi Ann', profile: { userId: 'ann' } })
    expect(pro.html).toContain('Draft for pro')
    // A template not saved yet renders as a draft too (the editor of a new one).
    const fresh = await t.admin('POST', '/api/templates/not-saved-yet/preview', {
      draft: { subject: 'New', html: '<p>{{ traits.first_name }}</p>' },
    })
    expect(fresh.statusCode, fresh.body).toBe(200)
    expect(fresh.json().previews.map((p: { html: string }) => p.html)).toContain('<p>Ann</p>')
    // The saved template is unchanged.
    expect((await t.admin('GET', '/api/templates/welcome')).json().subject).toBe('Saved')

    const bad = await t.admin('POST', '/api/templates/welcome/preview', {
      draft: { subject: 'Hi', html: '<p>\n{% if x %}</p>' },
    })
    expect(bad.statusCode).toBe(400)
    expect(bad.json().error.code).toBe('invalid_template')
    expect(bad.json().error.issues[0]).toMatchObject({ field: 'html', line: 2 })
  })
})
