/**
 * The rule language as data: readonly tagged nodes, one `kind` each. `rules/` parses and
 * validates them and rewrites sugar into core nodes; `evaluate/` and `sql/` switch on
 * `kind` over the core nodes. Durations and instants are milliseconds.
 */

import type { ConsentState, EmailStatus, Purpose } from '../privacy/consent.js'

export type Scalar = string | number | boolean

/** A test on one value (a trait, an event property). */
export type ValueTest =
  | { readonly op: 'eq' | 'neq'; readonly value: Scalar; readonly ignoreCase: boolean }
  | { readonly op: 'in' | 'nin'; readonly values: readonly Scalar[]; readonly ignoreCase: boolean }
  | {
      readonly op: 'contains' | 'not_contains'
      readonly value: Scalar
      readonly ignoreCase: boolean
    }
  | {
      readonly op: 'starts_with' | 'ends_with'
      readonly value: string
      readonly ignoreCase: boolean
    }
  | { readonly op: 'gt' | 'gte' | 'lt' | 'lte'; readonly value: number }
  | { readonly op: 'between'; readonly low: number; readonly high: number }
  | { readonly op: 'exists'; readonly value: boolean }
  | { readonly op: 'older_than' | 'within_last'; readonly duration: number }
  | { readonly op: 'before' | 'after'; readonly instant: number }

export type ValueOp = ValueTest['op']

/** A test on a count or an amount. */
export type NumberTest =
  | { readonly op: 'eq' | 'neq' | 'gt' | 'gte' | 'lt' | 'lte'; readonly value: number }
  | { readonly op: 'between'; readonly low: number; readonly high: number }

/** A test on an instant (first/last seen). */
export type TimeTest =
  | { readonly op: 'older_than' | 'within_last'; readonly duration: number }
  | { readonly op: 'before' | 'after'; readonly instant: number }

/** A dot path into traits or properties: `address.city` → ['address', 'city']. */
export type Path = readonly string[]

export interface PropertyFilter {
  readonly path: Path
  readonly test: ValueTest
}

export type EventType = 'track' | 'page' | 'screen'

/** Which events: a type, a name (null: any name) and property filters, all of which must hold. */
export interface EventFilter {
  readonly type: EventType
  readonly name: string | null
  readonly where: readonly PropertyFilter[]
}

export type AggregateFn = 'sum' | 'avg' | 'min' | 'max'

export type Rule =
  | { readonly kind: 'all'; readonly rules: readonly Rule[] }
  | { readonly kind: 'any'; readonly rules: readonly Rule[] }
  | { readonly kind: 'not'; readonly rule: Rule }
  | { readonly kind: 'trait'; readonly path: Path; readonly test: ValueTest }
  /** Events matching `filter` within the window (null: ever), counted and tested. */
  | {
      readonly kind: 'event'
      readonly filter: EventFilter
      readonly within: number | null
      readonly count: NumberTest
    }
  | { readonly kind: 'seen'; readonly which: 'first' | 'last'; readonly test: TimeTest }
  | { readonly kind: 'segment'; readonly key: string }
  | { readonly kind: 'score'; readonly model: string; readonly test: NumberTest }
  /** sum/avg/min/max of a numeric property of matching events within the window. */
  | {
      readonly kind: 'aggregate'
      readonly fn: AggregateFn
      readonly filter: EventFilter
      readonly property: Path
      readonly within: number | null
      readonly test: NumberTest
    }
  /**
   * The latest `first` event is at least `olderThan` old, less than `within` old, and no
   * `notFollowedBy` event came after it (cart abandonment).
   */
  | {
      readonly kind: 'sequence'
      readonly first: EventFilter
      readonly notFollowedBy: EventFilter
      readonly olderThan: number | null
      readonly within: number | null
    }
  /** The person's current consent for `purpose` is `state` (never stated: neither). */
  | { readonly kind: 'consent'; readonly purpose: Purpose; readonly state: ConsentState }
  /** The person's marketing email status is `status` (`subscribed` when none is stored). */
  | { readonly kind: 'email_status'; readonly status: EmailStatus }
  /**
   * Sugar: marketing email can reach the person, exactly as a segment's `reachable` count
   * says: an email address, subscribed, and consent as the workspace's consent mode requires.
   */
  | { readonly kind: 'reachable'; readonly channel: 'email' }
  /** Sugar: a computed field (purchase count, revenue, …) rewritten into core nodes. */
  | { readonly kind: 'computed'; readonly field: NumberField; readonly test: NumberTest }
  | { readonly kind: 'computed'; readonly field: InstantField; readonly test: InstantTest }
  /** Sugar: in lifecycle stage `stage` (its system segment). */
  | { readonly kind: 'lifecycle'; readonly stage: string }
  /** Sugar for an event node on `Email Opened` / `Email Clicked`. */
  | {
      readonly kind: 'email'
      readonly action: 'opened' | 'clicked'
      readonly where: readonly PropertyFilter[]
      readonly within: number | null
      readonly count: NumberTest
    }

export type RuleKind = Rule['kind']

/** A rule with every sugar node rewritten: what the evaluators and the SQL compiler take. */
export type CoreRule =
  | Exclude<
      Rule,
      | { kind: 'email' }
      | { kind: 'all' }
      | { kind: 'any' }
      | { kind: 'not' }
      | { kind: 'score' }
      | { kind: 'computed' }
      | { kind: 'lifecycle' }
      | { kind: 'reachable' }
    >
  /** The person has an email address (an email identity): what `reachable` starts from. */
  | { readonly kind: 'has_email' }
  /** A score condition with its model's definition (null: no such model, never true). */
  | {
      readonly kind: 'score'
      readonly model: string
      readonly test: NumberTest
      readonly definition: ScoreModel | null
    }
  | { readonly kind: 'all'; readonly rules: readonly CoreRule[] }
  | { readonly kind: 'any'; readonly rules: readonly CoreRule[] }
  | { readonly kind: 'not'; readonly rule: CoreRule }

/** The default count test: performed at least once. */
export const AT_LEAST_ONCE: NumberTest = { op: 'gte', value: 1 }

/** Event names the email sugar stands for. */
export const EMAIL_EVENTS = { opened: 'Email Opened', clicked: 'Email Clicked' } as const

/** Computed fields that are numbers, and those that are instants. */
export const NUMBER_FIELDS = [
  'purchase_count',
  'total_revenue',
  'account_age_days',
  'engagement_velocity',
] as const
export const INSTANT_FIELDS = [
  'last_purchase_at',
  'last_email_opened_at',
  'last_email_clicked_at',
] as const
export type NumberField = (typeof NUMBER_FIELDS)[number]
export type InstantField = (typeof INSTANT_FIELDS)[number]

/** What an instant-valued computed field can be asked: how long ago, or whether there is one. */
export type InstantTest =
  | { readonly op: 'older_than' | 'within_last'; readonly duration: number }
  | { readonly op: 'exists'; readonly value: boolean }

/**
 * One criterion of a scoring model. A rule criterion gives its points while the rule holds;
 * an event criterion gives points per matching event (within the window, if any), each
 * occurrence's points halving at every full half-life of the model since it happened, the
 * criterion's total held to ±cap.
 */
export type ScoreCriterion =
  | {
      readonly kind: 'rule'
      readonly name: string
      readonly rule: CoreRule
      readonly points: number
    }
  | {
      readonly kind: 'event'
      readonly name: string
      readonly filter: EventFilter
      readonly points: number
      readonly cap: number | null
      readonly within: number | null
    }

/** A scoring model: weighted criteria and an optional decay half-life. */
export interface ScoreModel {
  readonly key: string
  readonly halfLife: number | null
  readonly criteria: readonly ScoreCriterion[]
}
