import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildApp } from '../src/http/app.js'
import { parseRule, RULE_KINDS, RULE_OPERATORS } from '../src/rules/parse.js'
import { newTestApp } from './helpers/runtime.js'
import type { TestApp } from './helpers/runtime.js'
import { testStoreKinds } from './helpers/stores.js'

const RUNS = Number(process.env.SEGFLOW_PROPERTY_RUNS ?? 300)

/**
 * Words of the rule language (taken from the parser, so new ones are generated too) and a few
 * that are not, so generated rules are often nearly right.
 */
const ruleKey = fc.constantFrom(
  ...new Set<string>([
    ...RULE_KINDS,
    ...RULE_OPERATORS,
    ...['within', 'count', 'property', 'where', 'ignore_case', 'followed_by', 'not_followed_by'],
    ...['matches', '__proto__', 'constructor'],
  ]),
)
const ruleValue = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom(
    '7d',
    '0s',
    '-1d',
    '1y',
    'pro',
    'Order Completed',
    'engagement',
    'at_risk',
    '(a+)+$',
  ),
  fc.integer(),
  fc.double(),
)
const { rule } = fc.letrec((tie) => ({
  rule: fc.oneof(
    { depthSize: 'small' },
    fc.dictionary(ruleKey, ruleValue, { maxKeys: 4 }),
    fc.dictionary(ruleKey, tie('rule'), { maxKeys: 2 }),
    fc.record({ all: fc.array(tie('rule'), { maxLength: 3 }) }),
    fc.record({ not: tie('rule') }),
    fc.jsonValue({ maxDepth: 3 }),
  ),
}))

/** Near-right bodies for the admin API: its field names with values of any JSON type. */
const bodyKey = fc.constantFrom(
  'rule',
  'name',
  'description',
  'priority',
  'url',
  'secret',
  'segments',
  'types',
  'subject',
  'html',
  'text',
  'profile',
  'category',
  'trigger',
  'actions',
  'criteria',
  'halfLife',
  'preset',
  'stages',
  'from',
  'caps',
  'consent',
  'status',
  'traits',
  'email_marketing',
  'sale_sharing',
  'evidence',
  'mode',
  'idempotencyKey',
)
const body = fc.oneof(
  fc.dictionary(bodyKey, fc.oneof(ruleValue, rule), { maxKeys: 5 }),
  fc.record({ rule }),
  fc.jsonValue({ maxDepth: 3 }),
)

describe('the rule parser under arbitrary input', () => {
  it('always answers ok or issues with paths, and never throws', () => {
    fc.assert(
      fc.property(rule, (r) => {
        const parsed = parseRule(r)
        if (!parsed.ok) {
          expect(parsed.issues.length).toBeGreaterThan(0)
          for (const i of parsed.issues) {
            expect(typeof i.path).toBe('string')
            expect(i.message.length).toBeGreaterThan(5)
          }
        }
      }),
      { numRuns: RUNS * 10 },
    )
  })
})

describe.each(testStoreKinds())('the admin API under arbitrary input on %s', (kind) => {
  let t: TestApp
  let routes: { method: string; url: string }[]

  beforeAll(async () => {
    t = await newTestApp(kind)
    await t.track('/v1/identify', { userId: 'ann', traits: { plan: 'pro', email: 'a@x.io' } })
    routes = []
    const app = await buildApp({
      ...t.rt,
      onRoute: (method, url) => {
        if (url.startsWith('/api/') && (method === 'PUT' || method === 'POST'))
          routes.push({ method, url })
      },
    })
    await app.close()
  })
  afterAll(async () => {
    await t.close()
  })

  it('never answers 5xx to any write route, and every 4xx names its problem', async () => {
    expect(routes.length).toBeGreaterThan(15)
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...routes),
        fc.constantFrom('x', 'ann', 'a-b', 'lifecycle-active', 'presets', '%E2%9C%93'),
        body,
        async (route, param, payload) => {
          const url = route.url.replace(/:\w+/g, param)
          const res = await t.admin(route.method as 'PUT' | 'POST', url, payload)
          const what = `${route.method} ${url} ${JSON.stringify(payload).slice(0, 300)}`
          expect(res.statusCode, `${what} → ${res.body.slice(0, 300)}`).toBeLessThan(500)
          if (res.statusCode >= 400) {
            const { error } = res.json()
            expect(typeof error.code, what).toBe('string')
            expect(error.message.length, what).toBeGreaterThan(10)
          }
        },
      ),
      { numRuns: RUNS },
    )
    // Whatever was accepted, the service still answers.
    expect((await t.admin('GET', '/api/segments')).statusCode).toBe(200)
    expect((await t.admin('GET', '/api/profiles/ann')).statusCode).toBe(200)
  })

  it('answers arbitrary rules in previews with 200 or a 400 naming the path', async () => {
    await fc.assert(
      fc.asyncProperty(rule, async (r) => {
        const res = await t.admin('POST', '/api/segments/preview', { rule: r })
        expect(res.statusCode, `${JSON.stringify(r)} → ${res.body.slice(0, 300)}`).toBeLessThan(500)
        if (res.statusCode === 400) expect(res.json().error.code).toMatch(/^invalid_/)
      }),
      { numRuns: RUNS },
    )
  })
})
