import { CONSENT_STATES, EMAIL_STATUSES, PURPOSES } from '../privacy/consent.js'
import type { ConsentState, EmailStatus, Purpose } from '../privacy/consent.js'
import type { Issue } from '../shared/errors.js'
import { isPlainObject } from '../shared/json.js'
import { formatDuration, parseDuration, parseInstant } from '../shared/time.js'
import type {
  AggregateFn,
  EventFilter,
  EventType,
  NumberTest,
  Path,
  PropertyFilter,
  Rule,
  Scalar,
  TimeTest,
  ValueTest,
} from './types.js'
import { AT_LEAST_ONCE, INSTANT_FIELDS, NUMBER_FIELDS } from './types.js'
import type { InstantField, InstantTest, NumberField } from './types.js'

/** A problem in a rule: where (`all[2].within`; line and column for YAML) and what is wrong. */
export interface RuleIssue extends Issue {
  /** The path as keys and indexes, for tools that map it back to source. */
  readonly at: readonly (string | number)[]
  readonly line?: number
  readonly column?: number
}

export type ParsedRule = { ok: true; rule: Rule } | { ok: false; issues: RuleIssue[] }

/** `['all', 2, 'within']` → `all[2].within`. */
export function formatPath(at: readonly (string | number)[]): string {
  let out = ''
  for (const part of at)
    out += typeof part === 'number' ? `[${part}]` : out === '' ? part : `.${part}`
  return out
}

const STRING_OPS = [
  'eq',
  'neq',
  'in',
  'nin',
  'contains',
  'not_contains',
  'starts_with',
  'ends_with',
] as const
const VALUE_OPS = [
  ...STRING_OPS,
  'gt',
  'gte',
  'lt',
  'lte',
  'between',
  'exists',
  'older_than',
  'within_last',
  'before',
  'after',
] as const
const NUMBER_OPS = ['eq', 'neq', 'gt', 'gte', 'lt', 'lte', 'between'] as const
const TIME_OPS = ['older_than', 'within_last', 'before', 'after'] as const
const EVENT_TYPES: readonly EventType[] = ['track', 'page', 'screen']
const AGGREGATES: readonly AggregateFn[] = ['sum', 'avg', 'min', 'max']
const KINDS = [
  'all',
  'any',
  'not',
  'trait',
  'event',
  'type',
  'aggregate',
  'first_seen',
  'last_seen',
  'segment',
  'score',
  'computed',
  'lifecycle',
  'email_opened',
  'email_clicked',
  'consent',
  'email_status',
  'reachable',
]

/** What people write for a group from other languages (SQL, JavaScript, Mongo): its kind. */
const KIND_ALIASES: Readonly<Record<string, string>> = {
  and: 'all',
  '&&': 'all',
  $and: 'all',
  or: 'any',
  '||': 'any',
  $or: 'any',
  '!': 'not',
  $not: 'not',
}

/** " (did you mean all?)" for `and`, `AND`, `&&`; else the nearest kind by spelling. */
function suggestKind(key: string): string {
  const lower = key.toLowerCase()
  const alias = KIND_ALIASES[lower] ?? (KINDS.includes(lower) ? lower : undefined)
  return alias ? ` (did you mean ${alias}?)` : suggest(key, KINDS)
}

/** Channels `reachable` can name. */
const CHANNELS = ['email'] as const

/** The condition kinds and value operators of the language (for tools that generate rules). */
export { KINDS as RULE_KINDS, VALUE_OPS as RULE_OPERATORS }

/** Longest list an `in`/`nin` may hold, and the deepest nesting: rules stay cheap to run. */
export const MAX_LIST = 1000
export const MAX_DEPTH = 32

export const SEGMENT_KEY = /^[a-z0-9][a-z0-9_-]{0,63}$/
/** Lifecycle stage keys; a stage's segment is `lifecycle-<key>`. */
export const STAGE_KEY = /^[a-z0-9][a-z0-9_-]{0,39}$/

function describe(v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'a list'
  if (typeof v === 'object') return 'an object'
  return `${typeof v === 'string' ? 'the text' : `the ${typeof v}`} ${JSON.stringify(v)}`
}

/** Edit distance, for "did you mean" on misspelt keys. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!
    row[0] = i
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1))
      prev = cur
    }
  }
  return row[b.length]!
}

function suggest(key: string, options: readonly string[]): string {
  const best = options
    .map((o) => [o, distance(key, o)] as const)
    .filter(([, d]) => d <= Math.max(1, Math.floor(key.length / 3)))
    .sort((a, b) => a[1] - b[1])[0]
  return best ? ` (did you mean ${best[0]}?)` : ''
}

/** Walks the input, collecting every issue rather than stopping at the first. */
export class Reader {
  readonly issues: RuleIssue[] = []

  fail(at: readonly (string | number)[], message: string): null {
    this.issues.push({ at, path: formatPath(at), message })
    return null
  }

  /** Only `allowed` keys may appear. */
  keys(
    o: Record<string, unknown>,
    at: readonly (string | number)[],
    allowed: readonly string[],
    what: string,
  ): void {
    for (const k of Object.keys(o)) {
      if (!allowed.includes(k)) {
        this.fail(
          [...at, k],
          `unknown key "${k}" in ${what}${suggest(k, allowed)}; expected ${allowed.join(', ')}`,
        )
      }
    }
  }

  text(
    v: unknown,
    at: readonly (string | number)[],
    what: string,
    options: { empty?: boolean } = {},
  ): string | null {
    if (typeof v !== 'string') return this.fail(at, `${what} must be text, not ${describe(v)}`)
    if (!options.empty && v === '') return this.fail(at, `${what} must not be empty`)
    if (v.includes('\u0000') || !v.isWellFormed()) {
      return this.fail(at, `${what} contains a NUL character or a broken surrogate pair`)
    }
    return v
  }

  scalar(v: unknown, at: readonly (string | number)[], what: string): Scalar | null {
    if (typeof v === 'number')
      return Number.isFinite(v) ? v : this.fail(at, `${what} must be a finite number`)
    if (typeof v === 'boolean') return v
    if (typeof v === 'string') return this.text(v, at, what, { empty: true })
    return this.fail(at, `${what} must be text, a number or true/false, not ${describe(v)}`)
  }

  number(v: unknown, at: readonly (string | number)[], what: string): number | null {
    if (typeof v !== 'number' || !Number.isFinite(v))
      return this.fail(at, `${what} must be a number, not ${describe(v)}`)
    return v
  }

  duration(v: unknown, at: readonly (string | number)[], what: string): number | null {
    if (typeof v !== 'string') {
      return this.fail(at, `${what} must be a duration like "7d", not ${describe(v)}`)
    }
    const ms = parseDuration(v)
    if (ms === null) {
      return this.fail(
        at,
        `${what} ${JSON.stringify(v)} is not a duration: use a whole number and s, m, h, d or w (at most 100 years), e.g. "7d"`,
      )
    }
    return ms
  }

  instant(v: unknown, at: readonly (string | number)[], what: string): number | null {
    const t = typeof v === 'string' || typeof v === 'number' ? parseInstant(v) : null
    if (t === null) {
      return this.fail(
        at,
        `${what} must be an ISO-8601 date or date-time like "2026-01-31T00:00:00Z", not ${describe(v)}`,
      )
    }
    return t
  }

  path(v: unknown, at: readonly (string | number)[], what: string): Path | null {
    const text = this.text(v, at, what)
    if (text === null) return null
    const parts = text.split('.')
    for (const p of parts) {
      if (p === '')
        return this.fail(
          at,
          `${what} ${JSON.stringify(text)} has an empty segment; write keys joined by dots, e.g. "address.city"`,
        )
      if (/^\d+$/.test(p)) {
        return this.fail(
          at,
          `${what} ${JSON.stringify(text)}: "${p}" looks like a list index; paths name object keys only`,
        )
      }
      if (p.includes('"') || p.includes('\\'))
        return this.fail(at, `${what} ${JSON.stringify(text)} must not contain " or \\`)
    }
    return parts
  }

  /** One of a fixed list of words, with "did you mean" for a near miss. */
  oneOf(
    v: unknown,
    at: readonly (string | number)[],
    options: readonly string[],
    what: string,
  ): string | null {
    if (typeof v === 'string' && options.includes(v)) return v
    const near = typeof v === 'string' ? suggest(v, options) : ''
    return this.fail(at, `${what} must be one of ${options.join(', ')}, not ${describe(v)}${near}`)
  }

  /** The one operator key present among `ops`. */
  op<T extends string>(
    o: Record<string, unknown>,
    at: readonly (string | number)[],
    ops: readonly T[],
    what: string,
  ): T | null {
    const found = ops.filter((k) => Object.hasOwn(o, k))
    if (found.length === 0)
      return this.fail(at, `${what} needs an operator: one of ${ops.join(', ')}`)
    if (found.length > 1)
      return this.fail(at, `${what} takes one operator; found ${found.join(' and ')}`)
    return found[0]!
  }

  valueTest(
    o: Record<string, unknown>,
    at: readonly (string | number)[],
    what: string,
  ): ValueTest | null {
    const op = this.op(o, at, VALUE_OPS, what)
    if (op === null) return null
    const v = o[op]
    const vat = [...at, op]
    const ignoreCase = o.ignore_case === undefined ? false : o.ignore_case
    if (typeof ignoreCase !== 'boolean')
      return this.fail(
        [...at, 'ignore_case'],
        `ignore_case must be true or false, not ${describe(ignoreCase)}`,
      )
    if (ignoreCase && !(STRING_OPS as readonly string[]).includes(op)) {
      return this.fail(
        [...at, 'ignore_case'],
        `ignore_case applies to ${STRING_OPS.join(', ')}; not to ${op}`,
      )
    }
    switch (op) {
      case 'eq':
      case 'neq':
      case 'contains':
      case 'not_contains': {
        const value = this.scalar(v, vat, op)
        return value === null ? null : { op, value, ignoreCase }
      }
      case 'starts_with':
      case 'ends_with': {
        const value = this.text(v, vat, op)
        return value === null ? null : { op, value, ignoreCase }
      }
      case 'in':
      case 'nin': {
        if (!Array.isArray(v) || v.length === 0)
          return this.fail(vat, `${op} must be a non-empty list, not ${describe(v)}`)
        if (v.length > MAX_LIST)
          return this.fail(vat, `${op} lists ${v.length} values; at most ${MAX_LIST}`)
        const values = v.map((x, i) => this.scalar(x, [...vat, i], `${op}[${i}]`))
        return values.some((x) => x === null)
          ? null
          : { op, values: values as Scalar[], ignoreCase }
      }
      case 'gt':
      case 'gte':
      case 'lt':
      case 'lte': {
        const value = this.number(v, vat, op)
        return value === null ? null : { op, value }
      }
      case 'between':
        return this.between(v, vat)
      case 'exists':
        if (typeof v !== 'boolean')
          return this.fail(vat, `exists must be true or false, not ${describe(v)}`)
        return { op, value: v }
      case 'older_than':
      case 'within_last': {
        const duration = this.duration(v, vat, op)
        return duration === null ? null : { op, duration }
      }
      case 'before':
      case 'after': {
        const instant = this.instant(v, vat, op)
        return instant === null ? null : { op, instant }
      }
    }
  }

  between(
    v: unknown,
    at: readonly (string | number)[],
  ): { op: 'between'; low: number; high: number } | null {
    if (!Array.isArray(v) || v.length !== 2)
      return this.fail(at, `between must be a list of two numbers [low, high], not ${describe(v)}`)
    const low = this.number(v[0], [...at, 0], 'between[0]')
    const high = this.number(v[1], [...at, 1], 'between[1]')
    if (low === null || high === null) return null
    if (low > high)
      return this.fail(at, `between [${low}, ${high}]: the low bound is above the high bound`)
    return { op: 'between', low, high }
  }

  numberTest(
    o: Record<string, unknown>,
    at: readonly (string | number)[],
    what: string,
    integers: boolean,
  ): NumberTest | null {
    const op = this.op(o, at, NUMBER_OPS, what)
    if (op === null) return null
    const vat = [...at, op]
    const check = (n: number | null, where: readonly (string | number)[]) => {
      if (n !== null && integers && (!Number.isInteger(n) || n < 0)) {
        this.fail(where, `a count is a whole number 0 or more, not ${n}`)
        return null
      }
      // Counts are compared as 64-bit integers in SQL and as doubles in the stream evaluator:
      // past 2^53 the two would disagree (and PostgreSQL refuses the value outright).
      if (n !== null && integers && n > Number.MAX_SAFE_INTEGER) {
        this.fail(where, `a count is at most ${Number.MAX_SAFE_INTEGER}, not ${n}`)
        return null
      }
      return n
    }
    if (op === 'between') {
      const b = this.between(o[op], vat)
      if (b === null) return null
      return check(b.low, [...vat, 0]) === null || check(b.high, [...vat, 1]) === null ? null : b
    }
    const value = check(this.number(o[op], vat, op), vat)
    return value === null ? null : { op, value }
  }

  timeTest(v: unknown, at: readonly (string | number)[], what: string): TimeTest | null {
    if (!isPlainObject(v))
      return this.fail(
        at,
        `${what} must be an object like {"older_than": "30d"}, not ${describe(v)}`,
      )
    this.keys(v, at, TIME_OPS, what)
    const op = this.op(v, at, TIME_OPS, what)
    if (op === null) return null
    if (op === 'older_than' || op === 'within_last') {
      const duration = this.duration(v[op], [...at, op], op)
      return duration === null ? null : { op, duration }
    }
    const instant = this.instant(v[op], [...at, op], op)
    return instant === null ? null : { op, instant }
  }

  where(v: unknown, at: readonly (string | number)[]): PropertyFilter[] | null {
    if (v === undefined) return []
    if (!Array.isArray(v))
      return this.fail(at, `where must be a list of property conditions, not ${describe(v)}`)
    const out: PropertyFilter[] = []
    v.forEach((f: unknown, i) => {
      const fat = [...at, i]
      if (!isPlainObject(f)) {
        this.fail(
          fat,
          `a property condition must be an object like {"property": "plan", "eq": "pro"}, not ${describe(f)}`,
        )
        return
      }
      this.keys(f, fat, ['property', 'ignore_case', ...VALUE_OPS], 'a property condition')
      for (const op of ['older_than', 'within_last']) {
        if (Object.hasOwn(f, op)) {
          this.fail(
            [...fat, op],
            `${op} compares with the current time, which an event's properties do not follow; in where, use before or after`,
          )
          return
        }
      }
      const path = this.path(f.property, [...fat, 'property'], 'property')
      const test = this.valueTest(f, fat, `the condition on property ${JSON.stringify(f.property)}`)
      if (path !== null && test !== null) out.push({ path, test })
    })
    return out.length === v.length ? out : null
  }

  /** `event` (a name) and `type` (track, page, screen) → a filter. */
  filter(
    o: Record<string, unknown>,
    at: readonly (string | number)[],
    options: { nameRequired: boolean },
  ): EventFilter | null {
    let type: EventType = 'track'
    if (o.type !== undefined) {
      if (typeof o.type !== 'string' || !(EVENT_TYPES as readonly string[]).includes(o.type)) {
        return this.fail(
          [...at, 'type'],
          `type must be one of ${EVENT_TYPES.join(', ')}, not ${describe(o.type)}`,
        )
      }
      type = o.type as EventType
    }
    let name: string | null = null
    if (o.event !== undefined) name = this.text(o.event, [...at, 'event'], 'event')
    else if (options.nameRequired || o.type === undefined) {
      return this.fail(
        at,
        'an event condition needs "event" (a name), or "type" (page or screen) to match any name',
      )
    }
    const where = this.where(o.where, [...at, 'where'])
    if ((o.event !== undefined && name === null) || where === null) return null
    return { type, name, where }
  }
}

/**
 * Parses a rule from JSON (as the API receives it, or as YAML parses to). Reports every
 * problem found, each with its path.
 * @example
 * parseRule({ all: [{ trait: 'country', eq: 'US' }, { event: 'Viewed Pricing', within: '7d' }] })
 */
export function parseRule(input: unknown): ParsedRule {
  const r = new Reader()
  const rule = parseNode(r, input, [], 0)
  return rule !== null && r.issues.length === 0
    ? { ok: true, rule }
    : { ok: false, issues: r.issues }
}

export function parseNode(
  r: Reader,
  v: unknown,
  at: readonly (string | number)[],
  depth: number,
): Rule | null {
  if (depth > MAX_DEPTH) return r.fail(at, `rules nest at most ${MAX_DEPTH} deep`)
  if (!isPlainObject(v)) {
    return r.fail(
      at,
      `a rule must be an object with one of ${KINDS.join(', ')}; not ${describe(v)}`,
    )
  }
  const present = KINDS.filter((k) => Object.hasOwn(v, k))
  // `event` and `type` may come together (an event condition); `aggregate` uses `event` too.
  const kind = present.includes('aggregate')
    ? 'aggregate'
    : present.filter((k) => k !== 'type' || !present.includes('event'))
  if (Array.isArray(kind)) {
    if (kind.length === 0) {
      const keys = Object.keys(v)
      const hint = keys.length === 1 ? suggestKind(keys[0]!) : ''
      return r.fail(
        at,
        `a rule needs one of ${KINDS.join(', ')}; found ${keys.length ? keys.map((k) => `"${k}"`).join(', ') : 'an empty object'}${hint}`,
      )
    }
    if (kind.length > 1) {
      return r.fail(
        at,
        `a rule is one condition; found ${kind.join(' and ')} together (combine conditions with all or any)`,
      )
    }
  }
  const k = Array.isArray(kind) ? kind[0]! : kind
  switch (k) {
    case 'all':
    case 'any': {
      r.keys(v, at, [k], `an ${k} group`)
      const list = v[k]
      if (!Array.isArray(list))
        return r.fail([...at, k], `${k} must be a list of rules, not ${describe(list)}`)
      if (list.length === 0) return r.fail([...at, k], `${k} must list at least one rule`)
      const rules = list.map((x, i) => parseNode(r, x, [...at, k, i], depth + 1))
      return rules.some((x) => x === null) ? null : { kind: k, rules: rules as Rule[] }
    }
    case 'not': {
      r.keys(v, at, ['not'], 'a not')
      const rule = parseNode(r, v.not, [...at, 'not'], depth + 1)
      return rule === null ? null : { kind: 'not', rule }
    }
    case 'trait': {
      r.keys(v, at, ['trait', 'ignore_case', ...VALUE_OPS], 'a trait condition')
      const path = r.path(v.trait, [...at, 'trait'], 'trait')
      const test = r.valueTest(v, at, `the condition on trait ${JSON.stringify(v.trait)}`)
      return path === null || test === null ? null : { kind: 'trait', path, test }
    }
    case 'event':
    case 'type':
      return eventNode(r, v, at)
    case 'aggregate':
      return aggregateNode(r, v, at)
    case 'first_seen':
    case 'last_seen': {
      r.keys(v, at, [k], `a ${k} condition`)
      const test = r.timeTest(v[k], [...at, k], k)
      return test === null
        ? null
        : { kind: 'seen', which: k === 'first_seen' ? 'first' : 'last', test }
    }
    case 'segment': {
      r.keys(v, at, ['segment'], 'a segment condition')
      const key = r.text(v.segment, [...at, 'segment'], 'segment')
      if (key === null) return null
      if (!SEGMENT_KEY.test(key)) {
        return r.fail(
          [...at, 'segment'],
          `segment ${JSON.stringify(key)} is not a segment key (lower-case letters, digits, - and _)`,
        )
      }
      return { kind: 'segment', key }
    }
    case 'score': {
      r.keys(v, at, ['score', ...NUMBER_OPS], 'a score condition')
      const model = r.text(v.score, [...at, 'score'], 'score')
      const test = r.numberTest(v, at, `the condition on score ${JSON.stringify(v.score)}`, false)
      return model === null || test === null ? null : { kind: 'score', model, test }
    }
    case 'computed':
      return computedNode(r, v, at)
    case 'lifecycle': {
      r.keys(v, at, ['lifecycle'], 'a lifecycle condition')
      const stage = r.text(v.lifecycle, [...at, 'lifecycle'], 'lifecycle')
      if (stage === null) return null
      if (!STAGE_KEY.test(stage)) {
        return r.fail(
          [...at, 'lifecycle'],
          `lifecycle ${JSON.stringify(stage)} is not a stage key (lower-case letters, digits, - and _, at most 40)`,
        )
      }
      return { kind: 'lifecycle', stage }
    }
    case 'email_opened':
    case 'email_clicked': {
      r.keys(v, at, [k], `an ${k} condition`)
      const body = v[k]
      const bat = [...at, k]
      if (!isPlainObject(body))
        return r.fail(bat, `${k} must be an object like {"within": "30d"}, not ${describe(body)}`)
      r.keys(body, bat, ['within', 'count', 'where'], k)
      const within =
        body.within === undefined ? null : r.duration(body.within, [...bat, 'within'], 'within')
      const count = countOf(r, body.count, [...bat, 'count'])
      const where = r.where(body.where, [...bat, 'where'])
      if ((body.within !== undefined && within === null) || count === null || where === null)
        return null
      return {
        kind: 'email',
        action: k === 'email_opened' ? 'opened' : 'clicked',
        where,
        within,
        count,
      }
    }
    case 'consent': {
      r.keys(v, at, ['consent', 'state'], 'a consent condition')
      const purpose = r.oneOf(v.consent, [...at, 'consent'], PURPOSES, 'consent purpose')
      const state =
        v.state === undefined
          ? 'granted'
          : r.oneOf(v.state, [...at, 'state'], CONSENT_STATES, 'consent state')
      return purpose === null || state === null
        ? null
        : { kind: 'consent', purpose: purpose as Purpose, state: state as ConsentState }
    }
    case 'email_status': {
      r.keys(v, at, ['email_status'], 'an email_status condition')
      const status = r.oneOf(
        v.email_status,
        [...at, 'email_status'],
        EMAIL_STATUSES,
        'email_status',
      )
      return status === null ? null : { kind: 'email_status', status: status as EmailStatus }
    }
    case 'reachable': {
      r.keys(v, at, ['reachable'], 'a reachable condition')
      const channel = r.oneOf(v.reachable, [...at, 'reachable'], CHANNELS, 'reachable')
      return channel === null ? null : { kind: 'reachable', channel: 'email' }
    }
    default:
      return r.fail(at, `unknown rule kind ${k}`)
  }
}

function countOf(r: Reader, v: unknown, at: readonly (string | number)[]): NumberTest | null {
  if (v === undefined) return AT_LEAST_ONCE
  if (!isPlainObject(v))
    return r.fail(at, `count must be an object like {"gte": 2}, not ${describe(v)}`)
  r.keys(v, at, NUMBER_OPS, 'count')
  return r.numberTest(v, at, 'count', true)
}

function eventNode(
  r: Reader,
  v: Record<string, unknown>,
  at: readonly (string | number)[],
): Rule | null {
  if (v.not_followed_by !== undefined) {
    r.keys(
      v,
      at,
      ['event', 'type', 'where', 'not_followed_by', 'older_than', 'within'],
      'a "not followed by" condition',
    )
    const first = r.filter(v, at, { nameRequired: false })
    const nat = [...at, 'not_followed_by']
    const nf = v.not_followed_by
    let notFollowedBy: EventFilter | null
    if (typeof nf === 'string') notFollowedBy = r.filter({ event: nf }, nat, { nameRequired: true })
    else if (isPlainObject(nf)) {
      r.keys(nf, nat, ['event', 'type', 'where'], 'not_followed_by')
      notFollowedBy = r.filter(nf, nat, { nameRequired: false })
    } else {
      notFollowedBy = r.fail(
        nat,
        `not_followed_by must be an event name or {"event": …, "where": […]}, not ${describe(nf)}`,
      )
    }
    const olderThan =
      v.older_than === undefined
        ? null
        : r.duration(v.older_than, [...at, 'older_than'], 'older_than')
    const within = v.within === undefined ? null : r.duration(v.within, [...at, 'within'], 'within')
    if (first === null || notFollowedBy === null) return null
    if (
      (v.older_than !== undefined && olderThan === null) ||
      (v.within !== undefined && within === null)
    )
      return null
    if (olderThan !== null && within !== null && olderThan >= within) {
      return r.fail(
        at,
        `older_than ${formatDuration(olderThan)} must be shorter than within ${formatDuration(within)}, or nothing can match`,
      )
    }
    return { kind: 'sequence', first, notFollowedBy, olderThan, within }
  }
  r.keys(v, at, ['event', 'type', 'where', 'within', 'count'], 'an event condition')
  const filter = r.filter(v, at, { nameRequired: false })
  const within = v.within === undefined ? null : r.duration(v.within, [...at, 'within'], 'within')
  const count = countOf(r, v.count, [...at, 'count'])
  if (filter === null || count === null || (v.within !== undefined && within === null)) return null
  return { kind: 'event', filter, within, count }
}

function aggregateNode(
  r: Reader,
  v: Record<string, unknown>,
  at: readonly (string | number)[],
): Rule | null {
  r.keys(
    v,
    at,
    ['aggregate', 'event', 'type', 'property', 'where', 'within', ...NUMBER_OPS],
    'an aggregate condition',
  )
  const fn = v.aggregate
  if (typeof fn !== 'string' || !(AGGREGATES as readonly string[]).includes(fn)) {
    return r.fail(
      [...at, 'aggregate'],
      `aggregate must be one of ${AGGREGATES.join(', ')}, not ${describe(fn)}`,
    )
  }
  const filter = r.filter(v, at, { nameRequired: false })
  const property = r.path(v.property, [...at, 'property'], 'property')
  const within = v.within === undefined ? null : r.duration(v.within, [...at, 'within'], 'within')
  const test = r.numberTest(v, at, `the ${fn} of ${JSON.stringify(v.property)}`, false)
  if (
    filter === null ||
    property === null ||
    test === null ||
    (v.within !== undefined && within === null)
  )
    return null
  return { kind: 'aggregate', fn: fn as AggregateFn, filter, property, within, test }
}

const FIELDS: readonly string[] = [...NUMBER_FIELDS, ...INSTANT_FIELDS]

function computedNode(
  r: Reader,
  v: Record<string, unknown>,
  at: readonly (string | number)[],
): Rule | null {
  const field = r.text(v.computed, [...at, 'computed'], 'computed')
  if (field === null) return null
  if (!FIELDS.includes(field)) {
    return r.fail(
      [...at, 'computed'],
      `unknown computed field ${JSON.stringify(field)}${suggest(field, FIELDS)}; expected one of ${FIELDS.join(', ')}`,
    )
  }
  if ((INSTANT_FIELDS as readonly string[]).includes(field)) {
    const ops = ['older_than', 'within_last', 'exists'] as const
    r.keys(v, at, ['computed', ...ops], `the computed field ${field}`)
    const op = r.op(v, at, ops, `the computed field ${field}`)
    if (op === null) return null
    let test: InstantTest | null
    if (op === 'exists') {
      test =
        typeof v.exists === 'boolean'
          ? { op, value: v.exists }
          : r.fail([...at, 'exists'], `exists must be true or false, not ${describe(v.exists)}`)
    } else {
      const duration = r.duration(v[op], [...at, op], op)
      test = duration === null ? null : { op, duration }
    }
    return test === null ? null : { kind: 'computed', field: field as InstantField, test }
  }
  r.keys(v, at, ['computed', ...NUMBER_OPS], `the computed field ${field}`)
  const test = r.numberTest(v, at, `the computed field ${field}`, false)
  if (test === null) return null
  if (field === 'account_age_days') {
    const values = test.op === 'between' ? [test.low, test.high] : [test.value]
    if (values.some((x) => x < 0))
      return r.fail(at, 'account_age_days is compared with numbers 0 or more')
    if ((test.op === 'eq' || test.op === 'neq') && !Number.isInteger(test.value))
      return r.fail(
        [...at, test.op],
        `account_age_days counts whole days; ${test.op} needs a whole number, not ${test.value}`,
      )
  }
  return { kind: 'computed', field: field as NumberField, test }
}
