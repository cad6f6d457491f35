/**
 * The rule language's semantics, case by case, as README states them: each rule is parsed
 * from JSON and answered by the streaming evaluator, SQL on every store and the oracle, which
 * must all give the expected answer.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CompiledRule } from '../src/evaluate/compile.js'
import { desugar } from '../src/rules/desugar.js'
import { parseRule } from '../src/rules/parse.js'
import type { CoreRule } from '../src/rules/types.js'
import type { JsonObject } from '../src/shared/json.js'
import {
  buildProfiles,
  oracleMembers,
  sqlMembers,
  streamMembers,
  writeProfiles,
} from './helpers/evaluators.js'
import type { HistoryMessage } from './helpers/evaluators.js'
import { newTestStore, testStoreKinds } from './helpers/stores.js'
import type { TestStore } from './helpers/stores.js'

const T = Date.parse('2026-03-01T00:00:00Z')
const H = 3_600_000
const D = 24 * H

const identify = (traits: JsonObject, at = T, activity = true): HistoryMessage => ({
  type: 'identify',
  name: null,
  timestamp: at,
  traits,
  properties: null,
  activity,
})
const track = (name: string, at: number, properties: JsonObject = {}): HistoryMessage => ({
  type: 'track',
  name,
  timestamp: at,
  traits: null,
  properties,
})
const page = (name: string | null, at: number, properties: JsonObject = {}): HistoryMessage => ({
  type: 'page',
  name,
  timestamp: at,
  traits: null,
  properties,
})

interface Case {
  readonly name: string
  readonly rule: unknown
  readonly history: readonly HistoryMessage[]
  readonly now: number
  readonly member: boolean
}

const trait = (t: JsonObject) => [identify(t)]

const CASES: Case[] = [
  // ---- values -------------------------------------------------------------------------
  {
    name: 'eq matches the same string',
    rule: { trait: 'country', eq: 'US' },
    history: trait({ country: 'US' }),
    now: T,
    member: true,
  },
  {
    name: 'eq is case-sensitive',
    rule: { trait: 'country', eq: 'US' },
    history: trait({ country: 'us' }),
    now: T,
    member: false,
  },
  {
    name: 'ignore_case folds ASCII',
    rule: { trait: 'country', eq: 'US', ignore_case: true },
    history: trait({ country: 'us' }),
    now: T,
    member: true,
  },
  {
    name: 'ignore_case folds ASCII only',
    rule: { trait: 'city', eq: 'ünïcode', ignore_case: true },
    history: trait({ city: 'Ünïcode' }),
    now: T,
    member: false,
  },
  {
    name: 'neq on a missing value is false',
    rule: { trait: 'country', neq: 'US' },
    history: trait({ plan: 'pro' }),
    now: T,
    member: false,
  },
  {
    name: 'not eq on a missing value is true',
    rule: { not: { trait: 'country', eq: 'US' } },
    history: trait({ plan: 'pro' }),
    now: T,
    member: true,
  },
  {
    name: 'no coercion: 1 is not "1"',
    rule: { trait: 'n', eq: 1 },
    history: trait({ n: '1' }),
    now: T,
    member: false,
  },
  {
    name: 'neq across types is true',
    rule: { trait: 'n', neq: 1 },
    history: trait({ n: '1' }),
    now: T,
    member: true,
  },
  {
    name: 'neq on a list is false',
    rule: { trait: 'tags', neq: 'a' },
    history: trait({ tags: ['b'] }),
    now: T,
    member: false,
  },
  {
    name: 'in',
    rule: { trait: 'plan', in: ['pro', 'team'] },
    history: trait({ plan: 'team' }),
    now: T,
    member: true,
  },
  {
    name: 'nin on a missing value is false',
    rule: { trait: 'plan', nin: ['pro'] },
    history: trait({ x: 1 }),
    now: T,
    member: false,
  },
  {
    name: 'booleans equal booleans',
    rule: { trait: 'vip', eq: true },
    history: trait({ vip: true }),
    now: T,
    member: true,
  },
  {
    name: 'contains in text',
    rule: { trait: 'plan', contains: 'annual' },
    history: trait({ plan: 'team, annual' }),
    now: T,
    member: true,
  },
  {
    name: 'contains in a list',
    rule: { trait: 'tags', contains: 'b' },
    history: trait({ tags: ['a', 'b'] }),
    now: T,
    member: true,
  },
  {
    name: 'contains in a list is exact',
    rule: { trait: 'tags', contains: 'b' },
    history: trait({ tags: ['abc'] }),
    now: T,
    member: false,
  },
  {
    name: 'contains a number in a list',
    rule: { trait: 'tags', contains: 2 },
    history: trait({ tags: [1, 2] }),
    now: T,
    member: true,
  },
  {
    name: 'not_contains on a number is false',
    rule: { trait: 'n', not_contains: 'x' },
    history: trait({ n: 5 }),
    now: T,
    member: false,
  },
  {
    name: 'starts_with',
    rule: { trait: 'email', starts_with: 'ann@' },
    history: trait({ email: 'ann@x.io' }),
    now: T,
    member: true,
  },
  {
    name: 'ends_with, ignoring case',
    rule: { trait: 'email', ends_with: '@X.IO', ignore_case: true },
    history: trait({ email: 'ann@x.io' }),
    now: T,
    member: true,
  },
  {
    name: 'ends_with longer than the value',
    rule: { trait: 'email', ends_with: 'xann@x.io' },
    history: trait({ email: 'ann@x.io' }),
    now: T,
    member: false,
  },
  {
    name: 'gt compares numbers',
    rule: { trait: 'age', gt: 17 },
    history: trait({ age: 18 }),
    now: T,
    member: true,
  },
  {
    name: 'gt on numeric text is false',
    rule: { trait: 'age', gt: 17 },
    history: trait({ age: '18' }),
    now: T,
    member: false,
  },
  {
    name: 'between includes both ends',
    rule: { trait: 'age', between: [18, 30] },
    history: trait({ age: 30 }),
    now: T,
    member: true,
  },
  {
    name: 'exists',
    rule: { trait: 'plan', exists: true },
    history: trait({ plan: 'pro' }),
    now: T,
    member: true,
  },
  {
    name: 'a trait set to null no longer exists',
    rule: { trait: 'plan', exists: false },
    history: [identify({ plan: 'pro' }, T - H), identify({ plan: null })],
    now: T,
    member: true,
  },
  {
    name: 'the newer value wins, whatever the order',
    rule: { trait: 'plan', eq: 'pro' },
    history: [identify({ plan: 'pro' }, T), identify({ plan: 'free' }, T - H)],
    now: T,
    member: true,
  },
  {
    name: 'nested paths',
    rule: { trait: 'address.city', eq: 'Oslo' },
    history: trait({ address: { city: 'Oslo' } }),
    now: T,
    member: true,
  },
  {
    name: 'a path through text is missing',
    rule: { trait: 'address.city', exists: true },
    history: trait({ address: 'Oslo' }),
    now: T,
    member: false,
  },
  // ---- dates in traits ----------------------------------------------------------------
  {
    name: 'older_than at exactly now − D',
    rule: { trait: 'signup', older_than: '30d' },
    history: trait({ signup: '2026-01-30' }),
    now: Date.parse('2026-03-01T00:00:00Z'),
    member: true,
  },
  {
    name: 'older_than a millisecond before',
    rule: { trait: 'signup', older_than: '30d' },
    history: trait({ signup: '2026-01-30' }),
    now: Date.parse('2026-03-01T00:00:00Z') - 1,
    member: false,
  },
  {
    name: 'epoch milliseconds are instants',
    rule: { trait: 'signup', within_last: '1d' },
    history: trait({ signup: T - H }),
    now: T,
    member: true,
  },
  {
    name: 'within_last ends exactly at v + D',
    rule: { trait: 'signup', within_last: '1d' },
    history: trait({ signup: T - D }),
    now: T,
    member: false,
  },
  {
    name: 'zones are honoured',
    rule: { trait: 'signup', before: '2026-02-01T00:00:00Z' },
    history: trait({ signup: '2026-02-01T00:30:00+01:00' }),
    now: T,
    member: true,
  },
  {
    name: 'an impossible date is no date',
    rule: { trait: 'signup', before: '2027-01-01' },
    history: trait({ signup: '2026-02-30' }),
    now: T,
    member: false,
  },
  {
    name: 'after is strict',
    rule: { trait: 'signup', after: '2026-02-01' },
    history: trait({ signup: '2026-02-01' }),
    now: T,
    member: false,
  },
  // ---- events ---------------------------------------------------------------------------
  {
    name: 'an event within the window',
    rule: { event: 'Viewed Pricing', within: '7d' },
    history: [track('Viewed Pricing', T - 7 * D + 1)],
    now: T,
    member: true,
  },
  {
    name: 'an event leaves the window exactly at t + D',
    rule: { event: 'Viewed Pricing', within: '7d' },
    history: [track('Viewed Pricing', T - 7 * D)],
    now: T,
    member: false,
  },
  {
    name: 'count counts within the window',
    rule: { event: 'Viewed Pricing', within: '7d', count: { gte: 2 } },
    history: [
      track('Viewed Pricing', T - 8 * D),
      track('Viewed Pricing', T - D),
      track('Viewed Pricing', T),
    ],
    now: T,
    member: true,
  },
  {
    name: 'a count below N includes zero',
    rule: { event: 'Order Completed', count: { lt: 1 } },
    history: trait({ plan: 'pro' }),
    now: T,
    member: true,
  },
  {
    name: 'where filters properties',
    rule: { event: 'Viewed Pricing', where: [{ property: 'plan', eq: 'pro' }] },
    history: [track('Viewed Pricing', T, { plan: 'free' })],
    now: T,
    member: false,
  },
  {
    name: 'type page with any name',
    rule: {
      type: 'page',
      where: [{ property: 'path', starts_with: '/pricing' }],
      count: { gte: 2 },
    },
    history: [
      page('Pricing', T - H, { path: '/pricing' }),
      page(null, T, { path: '/pricing/team' }),
    ],
    now: T,
    member: true,
  },
  {
    name: 'email_opened is sugar for Email Opened',
    rule: { not: { email_opened: { within: '30d' } } },
    history: [track('Email Opened', T - 31 * D)],
    now: T,
    member: true,
  },
  // ---- aggregates -----------------------------------------------------------------------
  {
    name: 'sums are exact: 0.1 + 0.2 = 0.3',
    rule: { aggregate: 'sum', event: 'Order Completed', property: 'revenue', eq: 0.3 },
    history: [
      track('Order Completed', T - H, { revenue: 0.1 }),
      track('Order Completed', T, { revenue: 0.2 }),
    ],
    now: T,
    member: true,
  },
  {
    name: 'a sum over no events is 0',
    rule: { aggregate: 'sum', event: 'Order Completed', property: 'revenue', lt: 10 },
    history: trait({ x: 1 }),
    now: T,
    member: true,
  },
  {
    name: 'an average over no events is missing',
    rule: { not: { aggregate: 'avg', event: 'Order Completed', property: 'revenue', gte: 0 } },
    history: trait({ x: 1 }),
    now: T,
    member: true,
  },
  {
    name: 'average in a window',
    rule: {
      aggregate: 'avg',
      event: 'Order Completed',
      property: 'revenue',
      within: '90d',
      between: [15, 25],
    },
    history: [
      track('Order Completed', T - 91 * D, { revenue: 1000 }),
      track('Order Completed', T - D, { revenue: 10 }),
      track('Order Completed', T, { revenue: 30 }),
    ],
    now: T,
    member: true,
  },
  {
    name: 'amounts that are text are ignored',
    rule: { aggregate: 'max', event: 'Order Completed', property: 'revenue', gt: 5 },
    history: [track('Order Completed', T, { revenue: '99' })],
    now: T,
    member: false,
  },
  // ---- not followed by --------------------------------------------------------------------
  ...[
    ['abandoned an hour ago, exactly', T - H, null, true],
    ['abandoned a millisecond too recently', T - H + 1, null, false],
    ['abandoned exactly two days ago (out of the window)', T - 2 * D, null, false],
    ['ordered after adding', T - 3 * H, T - 2 * H, false],
    ['ordered at the same instant (not after)', T - 3 * H, T - 3 * H, true],
  ].map(([name, added, ordered, member]) => ({
    name: `cart abandonment: ${name as string}`,
    rule: {
      event: 'Product Added',
      not_followed_by: 'Order Completed',
      older_than: '1h',
      within: '2d',
    },
    history: [
      track('Product Added', added as number),
      ...(ordered === null ? [] : [track('Order Completed', ordered as number)]),
    ],
    now: T,
    member: member as boolean,
  })),
  {
    name: 'only the latest add counts',
    rule: { event: 'Product Added', not_followed_by: 'Order Completed' },
    history: [
      track('Product Added', T - 3 * H),
      track('Order Completed', T - 2 * H),
      track('Product Added', T - H),
    ],
    now: T,
    member: true,
  },
  // ---- seen, segments, scores -------------------------------------------------------------
  {
    name: 'last_seen older_than',
    rule: { last_seen: { older_than: '30d' } },
    history: [track('Signed Up', T - 30 * D)],
    now: T,
    member: true,
  },
  {
    name: 'operator changes are not activity',
    rule: { last_seen: { older_than: '30d' } },
    history: [track('Signed Up', T - 30 * D), identify({ plan: 'pro' }, T, false)],
    now: T,
    member: true,
  },
  {
    name: 'first_seen on a profile never seen is false',
    rule: { first_seen: { before: '2030-01-01' } },
    history: [identify({ plan: 'pro' }, T, false)],
    now: T,
    member: false,
  },
  {
    name: 'segment membership',
    rule: { segment: 'pro' },
    history: trait({ plan: 'pro' }),
    now: T,
    member: true,
  },
  {
    name: 'an unknown segment is not a membership',
    rule: { segment: 'nowhere' },
    history: trait({ plan: 'pro' }),
    now: T,
    member: false,
  },
  {
    name: 'a score with no model is missing',
    rule: { score: 'engagement', gte: 0 },
    history: trait({ plan: 'pro' }),
    now: T,
    member: false,
  },
]

const SEGMENTS: Record<string, CoreRule> = { pro: desugar(parseOk({ trait: 'plan', eq: 'pro' })) }

function parseOk(json: unknown) {
  const r = parseRule(json)
  if (!r.ok)
    throw new Error(
      `rule does not parse: ${r.issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
    )
  return r.rule
}

describe('rule semantics, in every evaluator', () => {
  const stores: TestStore[] = []
  beforeAll(async () => {
    for (const kind of testStoreKinds()) stores.push(await newTestStore(kind))
  })
  afterAll(async () => {
    for (const s of stores) await s.cleanup()
  })

  CASES.forEach((c, i) => {
    it(c.name, async () => {
      const ws = `sem-${i}`
      const rule = desugar(parseOk(c.rule))
      const resolve = (key: string) => SEGMENTS[key]
      const compiled = new CompiledRule(rule, resolve)
      const profiles = buildProfiles(ws, compiled, [c.history])
      const expected = c.member ? ['u0'] : []
      expect(streamMembers(compiled, profiles, c.now), 'stream').toEqual(expected)
      expect(oracleMembers(rule, profiles, c.now, resolve), 'oracle').toEqual(expected)
      for (const s of stores) {
        const ids = await writeProfiles(s.store, ws, profiles)
        expect(
          await sqlMembers(s.store, ids, rule, resolve, ws, c.now),
          `SQL on ${s.store.kind}`,
        ).toEqual(expected)
      }
    })
  })
})
