/**
 * The oracle: the rule language evaluated the slow, obvious way, straight from a profile's
 * raw events at one instant. Written from README's rule reference, sharing no code with
 * src/evaluate or src/sql, so that agreement between the three means something.
 */
import type {
  CoreRule,
  EventFilter,
  NumberTest,
  Path,
  Scalar,
  ScoreModel,
  TimeTest,
  ValueTest,
} from '../src/rules/types.js'

export interface OracleEvent {
  /** Arrival order: breaks ties between messages with the same timestamp. */
  readonly seq: number
  readonly type: string
  readonly name: string | null
  readonly timestamp: number
  readonly properties: Record<string, unknown> | null
  readonly traits: Record<string, unknown> | null
  /** False for operator changes (API, CSV import), which do not count as being seen. */
  readonly activity: boolean
  /** Consent the message stated, purpose by purpose. */
  readonly consent?: readonly { readonly purpose: string; readonly state: string }[]
  /** type `email_status`: the status set then (an unsubscribe, a bounce, the admin API). */
  readonly status?: string
}

export interface OracleContext {
  readonly segments: (key: string) => CoreRule | undefined
}

const DAY_CHECK =
  /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?([Zz]|[+-]\d{2}(?::?\d{2})?)?)?$/

/** ISO-8601 text or epoch ms → ms, written out longhand. */
function toInstant(v: unknown): number | null {
  if (typeof v === 'number') {
    if (!Number.isFinite(v) || Math.abs(v) >= 8.64e15) return null
    return Math.trunc(v)
  }
  if (typeof v !== 'string') return null
  const m = DAY_CHECK.exec(v)
  if (!m) return null
  const year = Number(m[1])
  const month = Number(m[2])
  const day = Number(m[3])
  const hour = Number(m[4] ?? 0)
  const minute = Number(m[5] ?? 0)
  const second = Number(m[6] ?? 0)
  const millis = Number((m[7] ?? '').slice(0, 3).padEnd(3, '0'))
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0
  const monthDays = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
  if (year < 1 || month < 1 || month > 12) return null
  if (day < 1 || day > monthDays[month - 1]!) return null
  if (hour > 23 || minute > 59 || second > 59) return null
  let offsetMinutes = 0
  const zone = m[8]
  if (zone && zone.toUpperCase() !== 'Z') {
    const sign = zone.startsWith('-') ? -1 : 1
    const digits = zone.slice(1).replace(':', '')
    const oh = Number(digits.slice(0, 2))
    const om = digits.length > 2 ? Number(digits.slice(2)) : 0
    if (oh > 23 || om > 59) return null
    offsetMinutes = sign * (oh * 60 + om)
  }
  // Days from 1970-01-01 by counting, then the time of day.
  let days = 0
  if (year >= 1970) for (let y = 1970; y < year; y++) days += isLeap(y) ? 366 : 365
  else for (let y = year; y < 1970; y++) days -= isLeap(y) ? 366 : 365
  for (let mo = 1; mo < month; mo++) days += monthDays[mo - 1]!
  days += day - 1
  return (
    days * 86_400_000 +
    hour * 3_600_000 +
    minute * 60_000 +
    second * 1000 +
    millis -
    offsetMinutes * 60_000
  )
}

function isLeap(y: number): boolean {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0
}

function lowerAscii(s: string): string {
  let out = ''
  for (const ch of s)
    out += ch >= 'A' && ch <= 'Z' ? String.fromCharCode(ch.charCodeAt(0) + 32) : ch
  return out
}

function lookup(root: unknown, path: Path): unknown {
  let cur = root
  for (const key of path) {
    if (cur === null || typeof cur !== 'object' || Array.isArray(cur)) return undefined
    if (!Object.prototype.hasOwnProperty.call(cur, key)) return undefined
    cur = (cur as Record<string, unknown>)[key]
  }
  return cur === null ? undefined : cur
}

function isScalar(v: unknown): boolean {
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean'
}

function same(v: unknown, x: Scalar, ignoreCase: boolean): boolean {
  if (typeof v !== typeof x) return false
  if (typeof v === 'string' && ignoreCase) return lowerAscii(v) === lowerAscii(x as string)
  return v === x
}

function compareTime(v: number, t: TimeTest, now: number): boolean {
  switch (t.op) {
    case 'older_than':
      return v <= now - t.duration
    case 'within_last':
      return v > now - t.duration && v <= now
    case 'before':
      return v < t.instant
    case 'after':
      return v > t.instant
  }
}

function valueHolds(v: unknown, t: ValueTest, now: number): boolean {
  if (t.op === 'exists') return t.value ? v !== undefined : v === undefined
  if (v === undefined) return false
  switch (t.op) {
    case 'eq':
      return same(v, t.value, t.ignoreCase)
    case 'neq':
      return isScalar(v) && !same(v, t.value, t.ignoreCase)
    case 'in':
      return t.values.some((x) => same(v, x, t.ignoreCase))
    case 'nin':
      return isScalar(v) && t.values.every((x) => !same(v, x, t.ignoreCase))
    case 'contains':
    case 'not_contains': {
      let has: boolean
      if (typeof v === 'string') {
        if (typeof t.value !== 'string') has = false
        else if (t.ignoreCase) has = lowerAscii(v).indexOf(lowerAscii(t.value)) >= 0
        else has = v.indexOf(t.value) >= 0
      } else if (Array.isArray(v)) {
        has = v.some((x) => same(x, t.value, t.ignoreCase))
      } else {
        return false
      }
      return t.op === 'contains' ? has : !has
    }
    case 'starts_with':
    case 'ends_with': {
      if (typeof v !== 'string') return false
      const a = t.ignoreCase ? lowerAscii(v) : v
      const b = t.ignoreCase ? lowerAscii(t.value) : t.value
      return t.op === 'starts_with'
        ? a.slice(0, b.length) === b
        : a.length >= b.length && a.slice(a.length - b.length) === b
    }
    case 'gt':
      return typeof v === 'number' && v > t.value
    case 'gte':
      return typeof v === 'number' && v >= t.value
    case 'lt':
      return typeof v === 'number' && v < t.value
    case 'lte':
      return typeof v === 'number' && v <= t.value
    case 'between':
      return typeof v === 'number' && v >= t.low && v <= t.high
    default: {
      const i = toInstant(v)
      return i !== null && compareTime(i, t, now)
    }
  }
}

function numberHolds(n: number, t: NumberTest): boolean {
  if (t.op === 'between') return n >= t.low && n <= t.high
  if (t.op === 'eq') return n === t.value
  if (t.op === 'neq') return n !== t.value
  if (t.op === 'gt') return n > t.value
  if (t.op === 'gte') return n >= t.value
  if (t.op === 'lt') return n < t.value
  return n <= t.value
}

function eventMatches(f: EventFilter, e: OracleEvent, now: number): boolean {
  return (
    e.timestamp <= now &&
    e.type === f.type &&
    (f.name === null || e.name === f.name) &&
    f.where.every((w) => valueHolds(lookup(e.properties, w.path), w.test, now))
  )
}

function inWindow(t: number, within: number | null, now: number): boolean {
  return t <= now && (within === null || t > now - within)
}

/** The traits at the end of the history: per trait, the identify that set it last wins. */
export function oracleTraits(events: readonly OracleEvent[]): Record<string, unknown> {
  const winner: Record<string, { ts: number; seq: number; value: unknown }> = {}
  for (const e of events) {
    if (e.type !== 'identify' || !e.traits) continue
    for (const [k, v] of Object.entries(e.traits)) {
      const w = winner[k]
      if (!w || e.timestamp > w.ts || (e.timestamp === w.ts && e.seq > w.seq))
        winner[k] = { ts: e.timestamp, seq: e.seq, value: v }
    }
  }
  const traits: Record<string, unknown> = {}
  for (const [k, w] of Object.entries(winner)) if (w.value !== null) traits[k] = w.value
  return traits
}

/** Millionths, rounded half up. */
function millionths(v: number): number {
  return Math.floor(v * 1_000_000 + 0.5)
}

export function oracle(
  rule: CoreRule,
  events: readonly OracleEvent[],
  now: number,
  ctx: OracleContext,
): boolean {
  switch (rule.kind) {
    case 'all':
      return rule.rules.every((r) => oracle(r, events, now, ctx))
    case 'any':
      return rule.rules.some((r) => oracle(r, events, now, ctx))
    case 'not':
      return !oracle(rule.rule, events, now, ctx)
    case 'segment': {
      const ref = ctx.segments(rule.key)
      return ref !== undefined && oracle(ref, events, now, ctx)
    }
    case 'score': {
      if (rule.definition === null) return false
      const t = rule.test
      const test: NumberTest =
        t.op === 'between'
          ? { op: 'between', low: millionths(t.low), high: millionths(t.high) }
          : { op: t.op, value: millionths(t.value) }
      return numberHolds(oracleScore(rule.definition, events, now, ctx), test)
    }
    case 'trait':
      return valueHolds(lookup(oracleTraits(events), rule.path), rule.test, now)
    case 'consent': {
      // The latest statement for the purpose; of two at one instant, the later to arrive.
      let latest: { ts: number; seq: number; state: string } | null = null
      for (const e of events)
        for (const c of e.consent ?? [])
          if (
            c.purpose === rule.purpose &&
            (latest === null ||
              e.timestamp > latest.ts ||
              (e.timestamp === latest.ts && e.seq > latest.seq))
          )
            latest = { ts: e.timestamp, seq: e.seq, state: c.state }
      return latest !== null && latest.state === rule.state
    }
    case 'email_status': {
      // The last status set, whenever it says it happened; nothing set is subscribed.
      let status = 'subscribed'
      let seq = -1
      for (const e of events)
        if (e.type === 'email_status' && e.status !== undefined && e.seq > seq) {
          status = e.status
          seq = e.seq
        }
      return status === rule.status
    }
    case 'has_email':
      // An identify naming an email (not blank) gives the person that address for good.
      return events.some(
        (e) =>
          e.type === 'identify' &&
          typeof e.traits?.email === 'string' &&
          e.traits.email.trim() !== '',
      )
    case 'seen': {
      const times = events.filter((e) => e.activity).map((e) => e.timestamp)
      if (times.length === 0) return false
      const v = rule.which === 'first' ? Math.min(...times) : Math.max(...times)
      return compareTime(v, rule.test, now)
    }
    case 'event': {
      const n = events.filter(
        (e) => eventMatches(rule.filter, e, now) && inWindow(e.timestamp, rule.within, now),
      ).length
      return numberHolds(n, rule.count)
    }
    case 'aggregate': {
      const amounts: number[] = []
      for (const e of events) {
        if (!eventMatches(rule.filter, e, now) || !inWindow(e.timestamp, rule.within, now)) continue
        const v = lookup(e.properties, rule.property)
        if (typeof v === 'number') amounts.push(millionths(v))
      }
      const t = rule.test
      const target = (x: number) => millionths(x)
      const test: NumberTest =
        t.op === 'between'
          ? { op: 'between', low: target(t.low), high: target(t.high) }
          : { op: t.op, value: target(t.value) }
      const sum = amounts.reduce((a, b) => a + b, 0)
      if (rule.fn === 'sum') return numberHolds(sum, test)
      if (amounts.length === 0) return false
      if (rule.fn === 'min') return numberHolds(Math.min(...amounts), test)
      if (rule.fn === 'max') return numberHolds(Math.max(...amounts), test)
      // The average compared exactly: sum against target × count.
      const n = amounts.length
      if (test.op === 'between') return sum >= test.low * n && sum <= test.high * n
      return numberHolds(sum, { op: test.op, value: test.value * n })
    }
    case 'sequence': {
      const firsts = events.filter((e) => eventMatches(rule.first, e, now)).map((e) => e.timestamp)
      if (firsts.length === 0) return false
      const a = Math.max(...firsts)
      const followed = events.some(
        (e) => eventMatches(rule.notFollowedBy, e, now) && e.timestamp > a,
      )
      if (followed) return false
      if (rule.olderThan !== null && !(a <= now - rule.olderThan)) return false
      if (rule.within !== null && !(a > now - rule.within)) return false
      return true
    }
  }
}

/**
 * A model's score at `now`, in millionths, from the raw events: each criterion's points, an
 * event's points halved once per full half-life since it happened (dropping what is below one
 * millionth, toward zero), each criterion's total held to ±cap.
 */
export function oracleScore(
  model: ScoreModel,
  events: readonly OracleEvent[],
  now: number,
  ctx: OracleContext,
): number {
  let score = 0
  for (const c of model.criteria) {
    const points = millionths(c.points)
    if (c.kind === 'rule') {
      if (oracle(c.rule, events, now, ctx)) score += points
      continue
    }
    let total = 0
    for (const e of events) {
      if (!eventMatches(c.filter, e, now) || !inWindow(e.timestamp, c.within, now)) continue
      let worth = points
      if (model.halfLife !== null) {
        const halvings = Math.floor((now - e.timestamp) / model.halfLife)
        for (let i = 0; i < halvings && worth !== 0; i++) worth = Math.trunc(worth / 2)
      }
      total += worth
    }
    if (c.cap !== null) {
      const cap = millionths(c.cap)
      total = points >= 0 ? Math.min(total, cap) : Math.max(total, -cap)
    }
    score += total
  }
  return score
}
