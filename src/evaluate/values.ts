import type { JsonValue } from '../shared/json.js'
import { parseInstant } from '../shared/time.js'
import type { NumberTest, Path, Scalar, TimeTest, ValueTest } from '../rules/types.js'

/**
 * The value semantics of the rule language, for the streaming evaluator. The SQL compiler
 * implements the same rules in SQL and the test oracle independently; README's rule
 * reference states them.
 */

/** The value at a dot path, following object keys only; undefined when absent or null. */
export function getPath(root: unknown, path: Path): JsonValue | undefined {
  let cur: unknown = root
  for (const key of path) {
    if (typeof cur !== 'object' || cur === null || Array.isArray(cur) || !Object.hasOwn(cur, key))
      return undefined
    cur = (cur as Record<string, unknown>)[key]
  }
  return cur === null ? undefined : (cur as JsonValue)
}

/** ignore_case folds ASCII letters only, as SQLite's lower() does: the same everywhere. */
export function foldCase(s: string): string {
  return s.replace(/[A-Z]+/g, (m) => m.toLowerCase())
}

function isScalar(v: unknown): v is Scalar {
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean'
}

/** Scalars of the same type and value; strings folded when asked. No coercion: "1" ≠ 1. */
export function scalarEquals(v: unknown, x: Scalar, ignoreCase: boolean): boolean {
  if (typeof v === 'string' && typeof x === 'string')
    return ignoreCase ? foldCase(v) === foldCase(x) : v === x
  return typeof v === typeof x && v === x
}

/** A value as an instant for date operators: epoch ms, or an ISO-8601 string. */
export function instantOf(v: unknown): number | null {
  return typeof v === 'number' || typeof v === 'string' ? parseInstant(v) : null
}

/**
 * Amounts are compared and summed in millionths (rounded half up), so that sums are exact
 * integers and every evaluator gets the same answer whatever order it adds in.
 */
export function micro(v: number): number {
  return Math.floor(v * 1_000_000 + 0.5)
}

/** The operands of a number test in millionths, as amounts and points are kept. */
export function toMicro(t: NumberTest): NumberTest {
  return t.op === 'between'
    ? { op: 'between', low: micro(t.low), high: micro(t.high) }
    : { op: t.op, value: micro(t.value) }
}

/** The earlier of two instants, null meaning never. */
export function earliest(a: number | null, b: number | null): number | null {
  return a === null ? b : b === null ? a : Math.min(a, b)
}

export function testNumber(n: number, t: NumberTest): boolean {
  switch (t.op) {
    case 'eq':
      return n === t.value
    case 'neq':
      return n !== t.value
    case 'gt':
      return n > t.value
    case 'gte':
      return n >= t.value
    case 'lt':
      return n < t.value
    case 'lte':
      return n <= t.value
    case 'between':
      return n >= t.low && n <= t.high
  }
}

/** An instant tested at `now`: older_than D ⇔ v ≤ now − D; within_last D ⇔ now − D < v ≤ now. */
export function testTime(v: number, t: TimeTest, now: number): boolean {
  switch (t.op) {
    case 'older_than':
      return v <= now - t.duration
    case 'within_last':
      return now - t.duration < v && v <= now
    case 'before':
      return v < t.instant
    case 'after':
      return v > t.instant
  }
}

/** The next instant after `now` at which testTime's answer changes, or null. */
export function timeBreak(v: number, t: TimeTest, now: number): number | null {
  switch (t.op) {
    case 'older_than':
      return now < v + t.duration ? v + t.duration : null
    case 'within_last':
      if (now < v) return v
      return now < v + t.duration ? v + t.duration : null
    default:
      return null
  }
}

/** A value test on a (possibly missing) value: every comparison on a missing value is false. */
export function testValue(v: JsonValue | undefined, t: ValueTest, now: number): boolean {
  if (t.op === 'exists') return (v !== undefined) === t.value
  if (v === undefined) return false
  switch (t.op) {
    case 'eq':
      return scalarEquals(v, t.value, t.ignoreCase)
    case 'neq':
      return isScalar(v) && !scalarEquals(v, t.value, t.ignoreCase)
    case 'in':
      return t.values.some((x) => scalarEquals(v, x, t.ignoreCase))
    case 'nin':
      return isScalar(v) && !t.values.some((x) => scalarEquals(v, x, t.ignoreCase))
    case 'contains':
    case 'not_contains': {
      let found: boolean
      if (typeof v === 'string') {
        found =
          typeof t.value === 'string' &&
          (t.ignoreCase ? foldCase(v).includes(foldCase(t.value)) : v.includes(t.value))
      } else if (Array.isArray(v)) {
        found = v.some((x) => scalarEquals(x, t.value, t.ignoreCase))
      } else return false
      return t.op === 'contains' ? found : !found
    }
    case 'starts_with':
    case 'ends_with': {
      if (typeof v !== 'string') return false
      const s = t.ignoreCase ? foldCase(v) : v
      const x = t.ignoreCase ? foldCase(t.value) : t.value
      return t.op === 'starts_with' ? s.startsWith(x) : s.endsWith(x)
    }
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte':
      return typeof v === 'number' && testNumber(v, { op: t.op, value: t.value })
    case 'between':
      return typeof v === 'number' && v >= t.low && v <= t.high
    case 'older_than':
    case 'within_last':
    case 'before':
    case 'after': {
      const i = instantOf(v)
      return i !== null && testTime(i, toTimeTest(t), now)
    }
  }
}

/** The next instant after `now` at which testValue's answer changes on its own, or null. */
export function valueBreak(v: JsonValue | undefined, t: ValueTest, now: number): number | null {
  if (t.op !== 'older_than' && t.op !== 'within_last') return null
  const i = instantOf(v)
  return i === null ? null : timeBreak(i, toTimeTest(t), now)
}

function toTimeTest(
  t: Extract<ValueTest, { op: 'older_than' | 'within_last' | 'before' | 'after' }>,
): TimeTest {
  return t
}
