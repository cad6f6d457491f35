/**
 * fast-check generators for the differential tests: rules over a small vocabulary of traits,
 * events and properties, and histories over the same vocabulary, on a time grid aligned with
 * the rules' durations so that window boundaries are hit exactly and often.
 */
import fc from 'fast-check'
import type {
  AggregateFn,
  EventFilter,
  NumberTest,
  PropertyFilter,
  Rule,
  Scalar,
  ScoreCriterion,
  ScoreModel,
  TimeTest,
  ValueTest,
} from '../../src/rules/types.js'
import type { JsonObject, JsonValue } from '../../src/shared/json.js'
import { desugar } from '../../src/rules/desugar.js'
import type { ConsentState, EmailStatus, Purpose } from '../../src/privacy/consent.js'
import { OWN_EMAIL } from './evaluators.js'

export const T0 = Date.parse('2026-01-01T00:00:00Z')
export const MINUTE = 60_000
export const HOUR = 60 * MINUTE
export const DAY = 24 * HOUR
/** Every timestamp is T0 + k·30 min: each duration below is a whole number of steps. */
export const STEP = 30 * MINUTE
export const DURATIONS = [30 * MINUTE, HOUR, 2 * HOUR, DAY, 2 * DAY, 7 * DAY]

const EVENT_NAMES = [
  'Viewed Pricing',
  'Product Added',
  'Order Completed',
  'Email Opened',
  'Email Clicked',
]
const PAGE_NAMES = ['Home', 'Pricing']
export const SEGMENT_KEYS = ['s1', 's2']

/** Offsets in steps: spread over two weeks, or crowded into the first hours (so events coincide). */
export const offsetArb = fc.oneof(
  fc.integer({ min: 0, max: 14 * 48 }),
  fc.integer({ min: 0, max: 8 }),
)
const instantOnGrid = offsetArb.map((k) => T0 + k * STEP)
const duration = fc.constantFrom(...DURATIONS)
const maybeDuration: fc.Arbitrary<number | null> = fc.option(duration)

// ---- values -----------------------------------------------------------------------------

const text = fc.constantFrom(
  'pro',
  'Pro',
  'PRO plan',
  'free',
  'us',
  'US',
  'Ünïcode',
  'ünïcode',
  '',
  'team, annual',
)
const number = fc.constantFrom(0, 1, 2, 3, 0.1, 0.2, 0.3, 17, 18, 19.99, 30.5, 49, 50, -5, 1e6)
const bool = fc.boolean()
const scalar: fc.Arbitrary<Scalar> = fc.oneof(text, number, bool)
const dateValue: fc.Arbitrary<JsonValue> = fc.oneof(
  instantOnGrid.map((t) => new Date(t).toISOString()),
  instantOnGrid.map((t) => new Date(t).toISOString().slice(0, 10)),
  instantOnGrid,
  instantOnGrid.map((t) => t + 0.7),
  instantOnGrid.map((t) => -t / 1e3 - 0.5),
  fc.constantFrom('2026-01-03 12:00', '2026-01-05T00:00:00+01:00', '2026-02-30', 'soon'),
)
const arrayValue: fc.Arbitrary<JsonValue> = fc.array(scalar, { maxLength: 3 })
const anyValue: fc.Arbitrary<JsonValue> = fc.oneof(
  { weight: 4, arbitrary: scalar },
  { weight: 2, arbitrary: dateValue },
  { weight: 1, arbitrary: arrayValue },
  { weight: 1, arbitrary: fc.constant({ city: 'Oslo' }) },
)

/** Keys traits and properties draw from; `address.city` is a nested path. */
const KEYS = ['plan', 'country', 'age', 'vip', 'tags', 'signup', 'revenue', 'price']
const NESTED = 'address'

export const traitsArb: fc.Arbitrary<JsonObject> = fc
  .record(
    {
      plan: fc.oneof(text, fc.constant(null)),
      country: text,
      age: fc.oneof(number, text),
      vip: bool,
      tags: arrayValue,
      signup: dateValue,
      address: fc.oneof(fc.record({ city: fc.oneof(text, number) }), text),
      revenue: anyValue,
      // The profile's own address, a blank one (no address), or not text (none either).
      email: fc.oneof(
        { weight: 4, arbitrary: fc.constant(OWN_EMAIL) },
        { weight: 1, arbitrary: fc.constantFrom('  ', 7) },
      ),
    },
    { requiredKeys: [] },
  )
  .map((o) => o as JsonObject)

export const propertiesArb: fc.Arbitrary<JsonObject> = fc
  .record(
    {
      plan: text,
      price: fc.oneof(number, text),
      revenue: fc.oneof({ weight: 4, arbitrary: number }, { weight: 1, arbitrary: text }),
      tags: arrayValue,
      when: dateValue,
      address: fc.record({ city: text }),
    },
    { requiredKeys: [] },
  )
  // Most events carry an amount, so aggregates see several values at once.
  .chain((o) =>
    fc.oneof(
      fc.constant(o),
      number.map((revenue) => ({ ...o, revenue })),
    ),
  )
  .map((o) => o as JsonObject)

// ---- rules ------------------------------------------------------------------------------

const path = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...KEYS).map((k) => [k]) },
  { weight: 1, arbitrary: fc.constant([NESTED, 'city']) },
  { weight: 1, arbitrary: fc.constant(['missing']) },
)

function valueTest(timeOps: boolean): fc.Arbitrary<ValueTest> {
  const ic = fc.boolean()
  const options: fc.Arbitrary<ValueTest>[] = [
    fc.record({
      op: fc.constantFrom('eq' as const, 'neq' as const),
      value: scalar,
      ignoreCase: ic,
    }),
    fc.record({
      op: fc.constantFrom('in' as const, 'nin' as const),
      values: fc.array(scalar, { minLength: 1, maxLength: 3 }),
      ignoreCase: ic,
    }),
    fc.record({
      op: fc.constantFrom('contains' as const, 'not_contains' as const),
      value: scalar,
      ignoreCase: ic,
    }),
    fc.record({
      op: fc.constantFrom('starts_with' as const, 'ends_with' as const),
      value: fc.constantFrom('pro', 'P', 'plan', 'U', 's', 'Ü', 'annual'),
      ignoreCase: ic,
    }),
    fc.record({
      op: fc.constantFrom('gt' as const, 'gte' as const, 'lt' as const, 'lte' as const),
      value: number,
    }),
    fc
      .tuple(number, number)
      .map(([a, b]) => ({ op: 'between' as const, low: Math.min(a, b), high: Math.max(a, b) })),
    fc.record({ op: fc.constant('exists' as const), value: bool }),
    fc.record({ op: fc.constantFrom('before' as const, 'after' as const), instant: instantOnGrid }),
  ]
  if (timeOps)
    options.push(
      fc.record({ op: fc.constantFrom('older_than' as const, 'within_last' as const), duration }),
    )
  return fc.oneof(...options)
}

const numberTest = (values: fc.Arbitrary<number>): fc.Arbitrary<NumberTest> =>
  fc.oneof(
    fc.record({
      op: fc.constantFrom(
        'eq' as const,
        'neq' as const,
        'gt' as const,
        'gte' as const,
        'lt' as const,
        'lte' as const,
      ),
      value: values,
    }),
    fc
      .tuple(values, values)
      .map(([a, b]) => ({ op: 'between' as const, low: Math.min(a, b), high: Math.max(a, b) })),
  )

const countTest = numberTest(fc.integer({ min: 0, max: 3 }))
const amountTest = numberTest(fc.constantFrom(0, 0.3, 10, 19.99, 49, 50, 68.99, 100))

const where: fc.Arbitrary<PropertyFilter[]> = fc.array(
  fc.record({ path, test: valueTest(false) }),
  { maxLength: 2 },
)

const filter: fc.Arbitrary<EventFilter> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      type: fc.constant('track' as const),
      name: fc.constantFrom(...EVENT_NAMES),
      where,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      type: fc.constant('page' as const),
      name: fc.option(fc.constantFrom(...PAGE_NAMES)),
      where,
    }),
  },
)

/** Every event of a type: what engagement criteria count. */
const anyOfType: fc.Arbitrary<EventFilter> = fc.record({
  type: fc.constantFrom('track' as const, 'page' as const),
  name: fc.option(fc.constantFrom(...EVENT_NAMES, ...PAGE_NAMES), { freq: 1 }),
  where: fc.constant([]),
})

const timeTest: fc.Arbitrary<TimeTest> = fc.oneof(
  fc.record({ op: fc.constantFrom('older_than' as const, 'within_last' as const), duration }),
  fc.record({ op: fc.constantFrom('before' as const, 'after' as const), instant: instantOnGrid }),
)

/** A date operator on the trait that holds dates: the case where instants come from traits. */
export const dateTraitArb: fc.Arbitrary<Rule> = fc.record({
  kind: fc.constant('trait' as const),
  path: fc.constant(['signup']),
  test: fc.oneof(
    fc.record({ op: fc.constantFrom('older_than' as const, 'within_last' as const), duration }),
    fc.record({ op: fc.constantFrom('before' as const, 'after' as const), instant: instantOnGrid }),
  ),
})

/** Leaves a score's rule criterion may hold: no scores or segments inside a model. */
const baseLeaves: fc.Arbitrary<Rule>[] = [
  fc.record({ kind: fc.constant('trait' as const), path, test: valueTest(true) }),
  fc.record({
    kind: fc.constant('event' as const),
    filter,
    within: maybeDuration,
    count: countTest,
  }),
  fc.record({
    kind: fc.constant('seen' as const),
    which: fc.constantFrom('first' as const, 'last' as const),
    test: timeTest,
  }),
]
const baseLeafArb: fc.Arbitrary<Rule> = fc.oneof(...baseLeaves)

/** Computed fields, each with tests near the values short histories give. */
const computedArbs: fc.Arbitrary<Rule>[] = [
  fc.record({
    kind: fc.constant('computed' as const),
    field: fc.constant('purchase_count' as const),
    test: countTest,
  }),
  fc.record({
    kind: fc.constant('computed' as const),
    field: fc.constant('total_revenue' as const),
    test: amountTest,
  }),
  fc.record({
    kind: fc.constant('computed' as const),
    field: fc.constant('engagement_velocity' as const),
    test: numberTest(fc.integer({ min: -3, max: 3 })),
  }),
  fc.record({
    kind: fc.constant('computed' as const),
    field: fc.constant('account_age_days' as const),
    test: numberTest(fc.constantFrom(0, 1, 2, 7, 13)).chain((t) =>
      t.op === 'eq' || t.op === 'neq' || t.op === 'between'
        ? fc.constant(t)
        : fc.constantFrom(t, { ...t, value: t.value + 0.5 }),
    ),
  }),
  fc.record({
    kind: fc.constant('computed' as const),
    field: fc.constantFrom(
      'last_purchase_at' as const,
      'last_email_opened_at' as const,
      'last_email_clicked_at' as const,
    ),
    test: fc.oneof(
      fc.record({ op: fc.constantFrom('older_than' as const, 'within_last' as const), duration }),
      fc.record({ op: fc.constant('exists' as const), value: bool }),
    ),
  }),
]

/** Scoring models the rules of a case may name (and `missing`, which names none). */
export const MODEL_KEYS = ['m1', 'm2']

/** A score condition alone, with thresholds where caps and decay make a difference. */
export const scoreLeafArb: fc.Arbitrary<Rule> = fc.record({
  kind: fc.constant('score' as const),
  model: fc.constantFrom(...MODEL_KEYS),
  test: numberTest(fc.constantFrom(0.5, 1, 1.5, 2, 3, 5, 10, -1)),
})

const criterionArb: fc.Arbitrary<ScoreCriterion> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('event' as const),
      name: fc.constant('event criterion'),
      filter: fc.oneof({ weight: 2, arbitrary: anyOfType }, { weight: 1, arbitrary: filter }),
      points: fc.constantFrom(1, 2, 0.5, 3, 10, -1, -2.5, 0.3),
      cap: fc.option(fc.constantFrom(1, 2, 5, 10), { freq: 2 }),
      within: maybeDuration,
    }),
  },
  {
    weight: 1,
    arbitrary: fc
      .record({ rule: fc.constant(null), points: fc.constantFrom(1, 5, -2, 0.5) })
      .chain(({ points }) =>
        baseLeafArb.map((rule) => ({
          kind: 'rule' as const,
          name: 'rule criterion',
          rule: desugar(rule),
          points,
        })),
      ),
  },
)

/** A scoring model: one to four criteria, with or without a half-life on the time grid. */
export function modelArb(key: string): fc.Arbitrary<ScoreModel> {
  return fc.record({
    key: fc.constant(key),
    halfLife: fc.option(fc.constantFrom(HOUR, DAY, 2 * DAY, 7 * DAY)),
    criteria: fc.array(criterionArb, { minLength: 1, maxLength: 4 }),
  })
}

const PURPOSES_USED: readonly Purpose[] = ['email_marketing', 'analytics']
const STATES: readonly ConsentState[] = ['granted', 'denied']
const STATUSES: readonly EmailStatus[] = ['subscribed', 'unsubscribed', 'bounced']

/** Conditions on consent, email status and reachability (both consent modes). */
export const contactLeaves: fc.Arbitrary<Rule>[] = [
  fc.record({
    kind: fc.constant('consent' as const),
    purpose: fc.constantFrom(...PURPOSES_USED),
    state: fc.constantFrom(...STATES),
  }),
  fc.record({ kind: fc.constant('email_status' as const), status: fc.constantFrom(...STATUSES) }),
  fc.constant({ kind: 'reachable' as const, channel: 'email' as const }),
]

export function leafArb(segmentKeys: readonly string[] = []): fc.Arbitrary<Rule> {
  const leaves: fc.Arbitrary<Rule>[] = [
    ...baseLeaves,
    fc.record({
      kind: fc.constant('score' as const),
      model: fc.constantFrom(...MODEL_KEYS, 'missing'),
      test: numberTest(fc.constantFrom(0, 0.5, 1, 2.5, 5, 10, -1)),
    }),
    ...computedArbs,
    fc.record({
      kind: fc.constant('aggregate' as const),
      fn: fc.constantFrom<AggregateFn>('sum', 'avg', 'min', 'max'),
      filter,
      property: fc.constantFrom(['revenue'], ['price']),
      within: maybeDuration,
      test: amountTest,
    }),
    fc
      .record({ first: filter, notFollowedBy: filter, a: maybeDuration, b: maybeDuration })
      .map(({ first, notFollowedBy, a, b }) => {
        // older_than must be shorter than within, or nothing could match (the parser refuses it).
        const [olderThan, within] =
          a !== null && b !== null && a >= b ? [b === a ? null : b, a] : [a, b]
        return { kind: 'sequence' as const, first, notFollowedBy, olderThan, within }
      }),
    fc.record({
      kind: fc.constant('email' as const),
      action: fc.constantFrom('opened' as const, 'clicked' as const),
      where,
      within: maybeDuration,
      count: countTest,
    }),
  ]
  leaves.push(...contactLeaves)
  if (segmentKeys.length > 0)
    leaves.push(
      fc.record({ kind: fc.constant('segment' as const), key: fc.constantFrom(...segmentKeys) }),
    )
  return fc.oneof(...leaves)
}

/** A rule of exactly `depth` levels on at least one branch. */
export function ruleArb(depth: number, segmentKeys: readonly string[] = []): fc.Arbitrary<Rule> {
  if (depth <= 1) return leafArb(segmentKeys)
  const deep = ruleArb(depth - 1, segmentKeys)
  const any = fc.oneof(
    { weight: 2, arbitrary: leafArb(segmentKeys) },
    { weight: 1, arbitrary: ruleArb(Math.max(1, depth - 2), segmentKeys) },
  )
  return fc.oneof(
    fc
      .tuple(
        fc.constantFrom('all' as const, 'any' as const),
        deep,
        fc.array(any, { maxLength: 2 }),
        fc.nat(),
      )
      .map(([kind, first, rest, at]) => {
        const rules = [...rest]
        rules.splice(at % (rest.length + 1), 0, first)
        return { kind, rules } as Rule
      }),
    deep.map((rule) => ({ kind: 'not' as const, rule })),
  )
}

export function ruleDepth(r: Rule): number {
  switch (r.kind) {
    case 'all':
    case 'any':
      return 1 + Math.max(...r.rules.map(ruleDepth))
    case 'not':
      return 1 + ruleDepth(r.rule)
    default:
      return 1
  }
}

export function ruleKinds(r: Rule, into = new Set<string>()): Set<string> {
  into.add(r.kind)
  if (r.kind === 'all' || r.kind === 'any') r.rules.forEach((c) => ruleKinds(c, into))
  if (r.kind === 'not') ruleKinds(r.rule, into)
  return into
}

// ---- histories --------------------------------------------------------------------------

export interface GeneratedMessage {
  readonly type: 'identify' | 'track' | 'page' | 'email_status'
  readonly name: string | null
  readonly offset: number
  readonly traits: JsonObject | null
  readonly properties: JsonObject | null
  /** False: an operator's change (profile API, CSV), not the person's activity. */
  readonly activity: boolean
  readonly consent?: readonly { readonly purpose: Purpose; readonly state: ConsentState }[]
  readonly status?: EmailStatus
}

const message: fc.Arbitrary<GeneratedMessage> = fc.oneof(
  {
    weight: 2,
    arbitrary: fc.record({
      type: fc.constant('identify' as const),
      name: fc.constant(null),
      offset: offsetArb,
      traits: traitsArb,
      properties: fc.constant(null),
      activity: fc.oneof(
        { weight: 4, arbitrary: fc.constant(true) },
        { weight: 1, arbitrary: fc.constant(false) },
      ),
    }),
  },
  {
    weight: 5,
    arbitrary: fc.record({
      type: fc.constant('track' as const),
      name: fc.constantFrom(...EVENT_NAMES),
      offset: offsetArb,
      traits: fc.constant(null),
      properties: propertiesArb,
      activity: fc.constant(true),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      type: fc.constant('page' as const),
      name: fc.option(fc.constantFrom(...PAGE_NAMES)),
      offset: offsetArb,
      traits: fc.constant(null),
      properties: propertiesArb,
      activity: fc.constant(true),
    }),
  },
)

const consentArb = fc.uniqueArray(
  fc.record({ purpose: fc.constantFrom(...PURPOSES_USED), state: fc.constantFrom(...STATES) }),
  { minLength: 1, maxLength: 2, selector: (c) => c.purpose },
)

/** Consent stated by an event (at its own instant, so statements arrive out of order). */
const consentMessage: fc.Arbitrary<GeneratedMessage> = fc.record({
  type: fc.constant('track' as const),
  name: fc.constant('Consent Updated'),
  offset: offsetArb,
  traits: fc.constant(null),
  properties: fc.constant({}),
  activity: fc.constant(true),
  consent: consentArb,
})

/** An unsubscribe, a bounce or a re-subscription: set after the messages, in order. */
const statusMessage: fc.Arbitrary<GeneratedMessage> = fc.record({
  type: fc.constant('email_status' as const),
  name: fc.constant(null),
  offset: fc.constant(0),
  traits: fc.constant(null),
  properties: fc.constant(null),
  activity: fc.constant(false),
  status: fc.constantFrom(...STATUSES),
})

const historyMessage: fc.Arbitrary<GeneratedMessage> = fc.oneof(
  { weight: 8, arbitrary: message },
  { weight: 2, arbitrary: consentMessage },
  { weight: 1, arbitrary: statusMessage },
)

/** Histories for several profiles: u0, u1, … each with a few messages. */
export const historiesArb = fc.array(fc.array(historyMessage, { maxLength: 12 }), {
  minLength: 1,
  maxLength: 5,
})
