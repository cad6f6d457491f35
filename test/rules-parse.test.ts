import { describe, expect, it } from 'vitest'
import { checkReferences, dependencyOrder } from '../src/rules/references.js'
import { parseRule } from '../src/rules/parse.js'
import type { RuleIssue } from '../src/rules/parse.js'
import { desugar } from '../src/rules/desugar.js'
import type { Rule } from '../src/rules/types.js'
import { parseRuleYaml } from '../src/rules/yaml.js'

const issuesOf = (input: unknown): RuleIssue[] => {
  const r = parseRule(input)
  if (r.ok) throw new Error('expected the rule to be refused')
  return r.issues
}

const ok = (input: unknown): Rule => {
  const r = parseRule(input)
  if (!r.ok) throw new Error(r.issues.map((i) => `${i.path}: ${i.message}`).join('\n'))
  return r.rule
}

describe('parsing rules', () => {
  it('reads every node of the language', () => {
    const rule = ok({
      all: [
        { trait: 'country', eq: 'US' },
        { trait: 'plan', in: ['pro', 'team'], ignore_case: true },
        { trait: 'signup', older_than: '30d' },
        { trait: 'age', between: [18, 30] },
        {
          event: 'Viewed Pricing',
          where: [{ property: 'plan', eq: 'pro' }],
          within: '7d',
          count: { gte: 2 },
        },
        { type: 'page', where: [{ property: 'path', starts_with: '/pricing' }] },
        { not: { email_opened: { within: '30d' } } },
        { any: [{ last_seen: { older_than: '30d' } }, { first_seen: { within_last: '7d' } }] },
        { segment: 'high-value' },
        { score: 'engagement', gte: 50 },
        {
          aggregate: 'sum',
          event: 'Order Completed',
          property: 'revenue',
          within: '90d',
          gte: 500,
        },
        {
          event: 'Product Added',
          not_followed_by: 'Order Completed',
          older_than: '1h',
          within: '2d',
        },
      ],
    })
    expect(rule.kind).toBe('all')
    const kinds = rule.kind === 'all' ? rule.rules.map((r) => r.kind) : []
    expect(kinds).toEqual([
      'trait',
      'trait',
      'trait',
      'trait',
      'event',
      'event',
      'not',
      'any',
      'segment',
      'score',
      'aggregate',
      'sequence',
    ])
    expect(rule.kind === 'all' && rule.rules[4]).toEqual({
      kind: 'event',
      filter: {
        type: 'track',
        name: 'Viewed Pricing',
        where: [{ path: ['plan'], test: { op: 'eq', value: 'pro', ignoreCase: false } }],
      },
      within: 7 * 86_400_000,
      count: { op: 'gte', value: 2 },
    })
  })

  it('rewrites email sugar into event conditions', () => {
    const core = desugar(ok({ email_clicked: { within: '7d', count: { gte: 2 } } }))
    expect(core).toEqual({
      kind: 'event',
      filter: { type: 'track', name: 'Email Clicked', where: [] },
      within: 7 * 86_400_000,
      count: { op: 'gte', value: 2 },
    })
  })

  const mistakes: Array<[string, unknown, string, RegExp]> = [
    [
      'an unknown key, with a suggestion',
      { all: [{ event: 'X', withn: '7d' }] },
      'all[0].withn',
      /unknown key "withn" in an event condition \(did you mean within\?\)/,
    ],
    [
      'an unknown key in a property condition',
      { event: 'X', where: [{ property: 'a', eq: 1, sort: true }] },
      'where[0].sort',
      /unknown key "sort"/,
    ],
    [
      'an unknown kind of rule',
      { all: [{ traits: 'plan', eq: 'pro' }] },
      'all[0]',
      /a rule needs one of all, any, not, trait/,
    ],
    [
      'a wrong type for a list',
      { any: { trait: 'a', eq: 1 } },
      'any',
      /any must be a list of rules, not an object/,
    ],
    [
      'a wrong type for a value',
      { trait: 'age', gt: '18' },
      'gt',
      /gt must be a number, not the text "18"/,
    ],
    [
      'a wrong type for a duration',
      { event: 'X', within: 7 },
      'within',
      /within must be a duration like "7d", not the number 7/,
    ],
    [
      'a bad duration',
      {
        all: [
          { trait: 'a', exists: true },
          { event: 'X', within: '7 days' },
        ],
      },
      'all[1].within',
      /within "7 days" is not a duration: use a whole number and s, m, h, d or w/,
    ],
    [
      'a zero duration',
      { last_seen: { older_than: '0d' } },
      'last_seen.older_than',
      /not a duration/,
    ],
    ['an empty all', { all: [] }, 'all', /all must list at least one rule/],
    ['an empty any, nested', { not: { any: [] } }, 'not.any', /any must list at least one rule/],
    [
      'two operators',
      { trait: 'plan', eq: 'pro', neq: 'free' },
      '',
      /takes one operator; found eq and neq/,
    ],
    ['no operator', { trait: 'plan' }, '', /needs an operator: one of eq, neq/],
    [
      'two conditions in one object',
      { trait: 'plan', eq: 'pro', event: 'X' },
      '',
      /a rule is one condition; found trait and event/,
    ],
    [
      'between out of order',
      { trait: 'age', between: [30, 18] },
      'between',
      /the low bound is above the high bound/,
    ],
    [
      'a fractional count',
      { event: 'X', count: { gte: 1.5 } },
      'count.gte',
      /a count is a whole number 0 or more/,
    ],
    [
      'a count past the safe integers',
      { event: 'X', count: { gte: 1e300 } },
      'count.gte',
      /a count is at most 9007199254740991, not 1e\+300/,
    ],
    [
      'a count bound past the safe integers',
      { event: 'X', within: '1d', count: { between: [1, 2 ** 60] } },
      'count.between[1]',
      /a count is at most 9007199254740991/,
    ],
    ['an empty in list', { trait: 'plan', in: [] }, 'in', /in must be a non-empty list/],
    [
      'ignore_case on a number operator',
      { trait: 'age', gt: 1, ignore_case: true },
      'ignore_case',
      /ignore_case applies to eq, neq/,
    ],
    [
      'a bad instant',
      { trait: 'signup', before: 'last week' },
      'before',
      /must be an ISO-8601 date/,
    ],
    [
      'an empty path segment',
      { trait: 'address..city', exists: true },
      'trait',
      /has an empty segment/,
    ],
    ['a list index in a path', { trait: 'tags.0', eq: 'a' }, 'trait', /looks like a list index/],
    [
      'a time-relative where',
      { event: 'X', where: [{ property: 'at', older_than: '1d' }] },
      'where[0].older_than',
      /in where, use before or after/,
    ],
    [
      'an event with no name or type',
      { event: 'X', not_followed_by: { where: [] } },
      'not_followed_by',
      /needs "event"/,
    ],
    [
      'older_than not shorter than within',
      { event: 'A', not_followed_by: 'B', older_than: '2d', within: '1d' },
      '',
      /must be shorter than within/,
    ],
    ['a bad segment key', { segment: 'High Value' }, 'segment', /is not a segment key/],
    [
      'an unknown aggregate',
      { aggregate: 'median', event: 'X', property: 'p', gt: 1 },
      'aggregate',
      /aggregate must be one of sum, avg, min, max/,
    ],
    ['not an object', 'plan = pro', '', /a rule must be an object/],
    [
      'a misspelt consent purpose',
      { all: [{ consent: 'email_marketin' }] },
      'all[0].consent',
      /consent purpose must be one of email_marketing, analytics, personalization, sale_sharing, not the text "email_marketin" \(did you mean email_marketing\?\)/,
    ],
    [
      'a bad consent state',
      { consent: 'analytics', state: 'yes' },
      'state',
      /consent state must be one of granted, denied/,
    ],
    [
      'an unknown key in a consent condition',
      { consent: 'analytics', eq: true },
      'eq',
      /unknown key "eq" in a consent condition; expected consent, state/,
    ],
    [
      'a misspelt email status',
      { not: { email_status: 'unsubscribe' } },
      'not.email_status',
      /email_status must be one of subscribed, unsubscribed, bounced, not the text "unsubscribe" \(did you mean unsubscribed\?\)/,
    ],
    [
      'an email status that is not text',
      { email_status: true },
      'email_status',
      /email_status must be one of subscribed, unsubscribed, bounced, not the boolean true/,
    ],
    [
      'an unknown channel for reachable',
      { any: [{ reachable: 'sms' }] },
      'any[0].reachable',
      /reachable must be one of email, not the text "sms"/,
    ],
  ]
  for (const [what, input, path, message] of mistakes) {
    it(`names the path of ${what}`, () => {
      const issues = issuesOf(input)
      expect(issues.map((i) => i.path)).toContain(path)
      expect(issues.find((i) => i.path === path)!.message).toMatch(message)
    })
  }

  // What people bring from SQL, JavaScript and Mongo: the group they mean, not the nearest spelling.
  const groups: Array<[string, string]> = [
    ['and', 'all'],
    ['AND', 'all'],
    ['&&', 'all'],
    ['or', 'any'],
    ['OR', 'any'],
    ['||', 'any'],
    ['!', 'not'],
    ['NOT', 'not'],
    ['ALL', 'all'],
  ]
  for (const [written, meant] of groups) {
    it(`suggests ${meant} for ${written}`, () => {
      const [issue] = issuesOf({ all: [{ [written]: [{ trait: 'a', exists: true }] }] })
      expect(issue!.path).toBe('all[0]')
      expect(issue!.message).toMatch(new RegExp(`\\(did you mean ${meant}\\?\\)$`))
    })
  }

  it('reads consent, email status and reachable, and rewrites reachable per consent mode', () => {
    const rule = ok({
      all: [
        { consent: 'email_marketing' },
        { consent: 'analytics', state: 'denied' },
        { email_status: 'subscribed' },
        { not: { email_status: 'bounced' } },
        { reachable: 'email' },
      ],
    })
    expect(rule).toEqual({
      kind: 'all',
      rules: [
        { kind: 'consent', purpose: 'email_marketing', state: 'granted' },
        { kind: 'consent', purpose: 'analytics', state: 'denied' },
        { kind: 'email_status', status: 'subscribed' },
        { kind: 'not', rule: { kind: 'email_status', status: 'bounced' } },
        { kind: 'reachable', channel: 'email' },
      ],
    })
    const reachable = { kind: 'reachable', channel: 'email' } as const
    const address = { kind: 'has_email' }
    const subscribed = { kind: 'email_status', status: 'subscribed' }
    expect(desugar(reachable)).toEqual({
      kind: 'all',
      rules: [
        address,
        subscribed,
        { kind: 'consent', purpose: 'email_marketing', state: 'granted' },
      ],
    })
    expect(desugar(reachable, { consentMode: 'opt_out' })).toEqual({
      kind: 'all',
      rules: [
        address,
        subscribed,
        { kind: 'not', rule: { kind: 'consent', purpose: 'email_marketing', state: 'denied' } },
      ],
    })
  })

  it('reports every problem at once', () => {
    const issues = issuesOf({
      all: [{ trait: 'a', gt: 'x' }, { event: 'E', within: 'soon' }, { any: [] }],
    })
    expect(issues.map((i) => i.path)).toEqual(['all[0].gt', 'all[1].within', 'all[2].any'])
  })
})

describe('parsing rules from YAML', () => {
  it('parses a valid file', () => {
    const r = parseRuleYaml(
      ['all:', '  - trait: plan', '    eq: pro', '  - email_opened: { within: 30d }', ''].join(
        '\n',
      ),
    )
    expect(r.ok).toBe(true)
  })

  const yamlMistakes: Array<[string, string, string, number, number, RegExp]> = [
    [
      'an unknown key',
      'all:\n  - event: Viewed Pricing\n    withn: 7d\n',
      'all[0].withn',
      3,
      5,
      /unknown key "withn"/,
    ],
    [
      'a bad duration',
      'all:\n  - trait: plan\n    eq: pro\n  - event: X\n    within: 7 days\n',
      'all[1].within',
      5,
      13,
      /not a duration/,
    ],
    ['an empty group', 'not:\n  any: []\n', 'not.any', 2, 8, /at least one rule/],
    ['a wrong type', 'trait: age\ngt: eighteen\n', 'gt', 2, 5, /gt must be a number/],
  ]
  for (const [what, text, path, line, column, message] of yamlMistakes) {
    it(`gives the line and column of ${what}`, () => {
      const r = parseRuleYaml(text)
      if (r.ok) throw new Error('expected issues')
      const issue = r.issues.find((i) => i.path === path)
      expect(issue, JSON.stringify(r.issues)).toBeDefined()
      expect({ line: issue!.line, column: issue!.column }).toEqual({ line, column })
      expect(issue!.message).toMatch(message)
    })
  }

  it('reports YAML syntax errors with their position', () => {
    const r = parseRuleYaml('all:\n  - trait: plan\n   eq: pro\n')
    if (r.ok) throw new Error('expected issues')
    expect(r.issues[0]).toMatchObject({ line: 3, message: expect.stringMatching(/^YAML: /) })
  })
})

describe('segment references', () => {
  const seg = (input: unknown) => ok(input)

  it('refuses cycles, naming the path round', () => {
    const issues = checkReferences({
      a: seg({ all: [{ segment: 'b' }, { trait: 'x', exists: true }] }),
      b: seg({ any: [{ segment: 'c' }] }),
      c: seg({ not: { segment: 'a' } }),
      d: seg({ segment: 'd' }),
    })
    expect(issues.map((i) => i.message).sort()).toEqual([
      'segment a refers to itself: a → b → c → a',
      'segment d refers to itself: d → d',
    ])
  })

  it('refuses references to segments that do not exist', () => {
    expect(checkReferences({ a: seg({ segment: 'ghost' }) })).toEqual([
      { segment: 'a', message: 'segment a refers to segment ghost, which does not exist' },
    ])
  })

  it('orders segments after the ones they refer to', () => {
    const order = dependencyOrder({
      top: seg({ all: [{ segment: 'mid' }, { segment: 'base' }] }),
      mid: seg({ segment: 'base' }),
      base: seg({ trait: 'x', exists: true }),
    })
    expect(order).toEqual(['base', 'mid', 'top'])
  })
})

describe('writing rules back as JSON', () => {
  it('round-trips every generated rule through ruleToJson and parseRule', async () => {
    const fc = (await import('fast-check')).default
    const { ruleArb } = await import('./helpers/rule-arbitraries.js')
    const { ruleToJson } = await import('../src/rules/serialize.js')
    fc.assert(
      fc.property(ruleArb(4, ['s1', 's2']), (rule) => {
        const json = JSON.parse(JSON.stringify(ruleToJson(rule)))
        expect(ok(json)).toEqual(rule)
      }),
      { numRuns: 500 },
    )
  })
})
