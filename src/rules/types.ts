/**
 * The rule language as data: readonly tagged nodes, one `kind` each. `rules/` parses and
 * validates them and rewrites sugar into core nodes; `evaluate/` and `sql/` switch on
 * `kind` over the core nodes. Durations and instants are milliseconds.
 */

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
  | Exclude<Rule, { kind: 'email' } | { kind: 'all' } | { kind: 'any' } | { kind: 'not' }>
  | { readonly kind: 'all'; readonly rules: readonly CoreRule[] }
  | { readonly kind: 'any'; readonly rules: readonly CoreRule[] }
  | { readonly kind: 'not'; readonly rule: CoreRule }

/** The default count test: performed at least once. */
export const AT_LEAST_ONCE: NumberTest = { op: 'gte', value: 1 }

/** Event names the email sugar stands for. */
export const EMAIL_EVENTS = { opened: 'Email Opened', clicked: 'Email Clicked' } as const
