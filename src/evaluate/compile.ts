import { describeRule } from '../rules/describe.js'
import { formatPath } from '../rules/parse.js'
import type { AggregateFn, CoreRule, NumberTest } from '../rules/types.js'
import { horizonOf, microPoints } from '../scoring/points.js'
import { occurrenceBreak, occurrencePoints, scoreNext } from './score.js'
import type { Part } from './score.js'
import type { OccurrencesState, ProfileState, TimesState, ValuesState } from './state.js'
import { keepFor, occurrencesSpec, StatePlan, timesSpec, trackerKey, valuesSpec } from './state.js'
import {
  earliest,
  getPath,
  testNumber,
  testTime,
  testValue,
  timeBreak,
  toMicro,
  valueBreak,
} from './values.js'

export interface Evaluation {
  readonly member: boolean
  /** The earliest instant after `now` at which `member` changes with no new event; null: never. */
  readonly nextChangeAt: number | null
}

/** Why a rule holds or not, node by node. */
export interface Explanation {
  readonly rule: string
  /** Where the node is in the rule, e.g. `all[2]` (empty for the root). */
  readonly path: string
  readonly result: boolean
  /** What the node looked at (trait values, counts, timestamps as ISO strings). */
  readonly values: Record<string, unknown>
  readonly nextChangeAt: number | null
  readonly children: readonly Explanation[]
}

/** Finds the (desugared) rule of a referenced segment, to evaluate it inline. */
export type SegmentResolver = (key: string) => CoreRule | undefined

/**
 * Pass as the resolver to read `segment` conditions from the state's memberships instead of
 * inlining the referenced rule (what the engine does, evaluating segments in dependency order).
 */
export const MEMBERSHIPS: SegmentResolver = () => undefined

/** A node compiled once: tracker keys and operands worked out ahead of every evaluation. */
export interface Node {
  readonly rule: CoreRule
  readonly path: string
  readonly children: readonly Node[]
  value(s: ProfileState, now: number): boolean
  /** The earliest instant after `now` at which this node's inputs can change (a superset). */
  next(s: ProfileState, now: number): number | null
  values(s: ProfileState, now: number): Record<string, unknown>
}

const iso = (ms: number | null | undefined) =>
  ms === null || ms === undefined ? null : new Date(ms).toISOString()

function timesOf(s: ProfileState, key: string): readonly number[] {
  return (s.trackers[key] as TimesState | undefined)?.times ?? []
}

function countIn(times: readonly number[], within: number | null, now: number): number {
  let n = 0
  for (const t of times) if (t <= now && (within === null || t > now - within)) n++
  return n
}

/** The next instant a timestamp enters (t > now) or leaves (t + within) the window. */
function windowBreak(times: readonly number[], within: number | null, now: number): number | null {
  let best: number | null = null
  for (const t of times) {
    const b = t > now ? t : within !== null && t + within > now ? t + within : null
    if (b !== null && (best === null || b < best)) best = b
  }
  return best
}

interface Stats {
  n: number
  sum: number
  min: number | null
  max: number | null
}

function statsOf(state: ValuesState | undefined, within: number | null, now: number): Stats {
  if (!state) return { n: 0, sum: 0, min: null, max: null }
  if ('count' in state) return { n: state.count, sum: state.sum, min: state.min, max: state.max }
  const out: Stats = { n: 0, sum: 0, min: null, max: null }
  for (const [t, m] of state.entries) {
    if (t > now || (within !== null && t <= now - within)) continue
    out.n++
    out.sum += m
    out.min = out.min === null ? m : Math.min(out.min, m)
    out.max = out.max === null ? m : Math.max(out.max, m)
  }
  return out
}

function testAggregate(fn: AggregateFn, st: Stats, t: NumberTest): boolean {
  switch (fn) {
    case 'sum':
      return testNumber(st.sum, t)
    case 'min':
      return st.min !== null && testNumber(st.min, t)
    case 'max':
      return st.max !== null && testNumber(st.max, t)
    case 'avg': {
      // avg op x ⇔ sum op x·n: integers, exact.
      if (st.n === 0) return false
      if (t.op === 'between') return st.sum >= t.low * st.n && st.sum <= t.high * st.n
      return testNumber(st.sum, { op: t.op, value: t.value * st.n })
    }
  }
}

function build(
  rule: CoreRule,
  at: (string | number)[],
  resolve: SegmentResolver,
  depth: number,
): Node {
  const path = formatPath(at)
  if (depth > 64) throw new Error(`segment references nest too deep at ${path}; is there a cycle?`)
  const leaf = (n: Omit<Node, 'rule' | 'path' | 'children'>): Node => ({
    rule,
    path,
    children: [],
    ...n,
  })
  switch (rule.kind) {
    case 'all':
    case 'any': {
      const children = rule.rules.map((r, i) => build(r, [...at, rule.kind, i], resolve, depth + 1))
      const all = rule.kind === 'all'
      return {
        rule,
        path,
        children,
        // Plain loops: these run for every affected segment of every message.
        value: (s, now) => {
          for (const c of children) if (c.value(s, now) !== all) return !all
          return all
        },
        next: (s, now) => {
          let best: number | null = null
          for (const c of children) {
            const b = c.next(s, now)
            if (b !== null && (best === null || b < best)) best = b
          }
          return best
        },
        values: () => ({}),
      }
    }
    case 'not': {
      const child = build(rule.rule, [...at, 'not'], resolve, depth + 1)
      return {
        rule,
        path,
        children: [child],
        value: (s, now) => !child.value(s, now),
        next: (s, now) => child.next(s, now),
        values: () => ({}),
      }
    }
    case 'segment': {
      if (resolve === MEMBERSHIPS) {
        // The engine keeps memberships current and re-evaluates dependents when they change.
        return leaf({
          value: (s) => s.segments.has(rule.key),
          next: () => null,
          values: (s) => ({ member: s.segments.has(rule.key) }),
        })
      }
      const ref = resolve(rule.key)
      if (!ref) {
        return leaf({
          value: () => false,
          next: () => null,
          values: () => ({ missing: `segment ${rule.key} does not exist` }),
        })
      }
      const child = build(ref, [...at, 'segment'], resolve, depth + 1)
      return {
        rule,
        path,
        children: [child],
        value: child.value,
        next: child.next,
        values: () => ({}),
      }
    }
    case 'trait':
      return leaf({
        value: (s, now) => testValue(getPath(s.traits, rule.path), rule.test, now),
        next: (s, now) => valueBreak(getPath(s.traits, rule.path), rule.test, now),
        values: (s) => {
          const v = getPath(s.traits, rule.path)
          return v === undefined ? { missing: true } : { value: v }
        },
      })
    // Consent, email status and address change only with what the engine is told of (a
    // consent event, an unsubscribe, a new identity), never with time alone.
    case 'consent':
      return leaf({
        value: (s) => s.consents[rule.purpose] === rule.state,
        next: () => null,
        values: (s) => ({ consent: s.consents[rule.purpose] ?? null }),
      })
    case 'email_status':
      return leaf({
        value: (s) => s.emailStatus === rule.status,
        next: () => null,
        values: (s) => ({ emailStatus: s.emailStatus }),
      })
    case 'has_email':
      return leaf({
        value: (s) => s.hasEmail,
        next: () => null,
        values: (s) => ({ hasEmail: s.hasEmail }),
      })
    case 'seen': {
      const get = (s: ProfileState) => (rule.which === 'first' ? s.firstSeen : s.lastSeen)
      return leaf({
        value: (s, now) => {
          const v = get(s)
          return v !== null && testTime(v, rule.test, now)
        },
        next: (s, now) => {
          const v = get(s)
          return v === null ? null : timeBreak(v, rule.test, now)
        },
        values: (s) => ({ [`${rule.which}Seen`]: iso(get(s)) }),
      })
    }
    case 'score': {
      const def = rule.definition
      if (!def) {
        return leaf({
          value: () => false,
          next: () => null,
          values: () => ({ missing: `scoring model ${rule.model} does not exist` }),
        })
      }
      const test = toMicro(rule.test)
      const parts = def.criteria.map((c, i): Part => {
        if (c.kind === 'rule') {
          const node = build(c.rule, [...at, 'criteria', i], resolve, depth + 1)
          const mp = microPoints(c.points)
          return {
            name: c.name,
            node,
            micro: (s, now) => (node.value(s, now) ? mp : 0),
            next: (s, now) => node.next(s, now),
          }
        }
        const key = trackerKey(occurrencesSpec(c.filter, horizonOf(c, def.halfLife)))
        const occ = (s: ProfileState) => s.trackers[key] as OccurrencesState | undefined
        return {
          name: c.name,
          node: null,
          event: { criterion: c, halfLife: def.halfLife, state: occ },
          micro: (s, now) => occurrencePoints(c, def.halfLife, occ(s), now),
          next: (s, now) => occurrenceBreak(c, def.halfLife, occ(s), now),
        }
      })
      const total = (s: ProfileState, now: number) =>
        parts.reduce((sum, p) => sum + p.micro(s, now), 0)
      return {
        rule,
        path,
        children: parts.flatMap((p) => (p.node ? [p.node] : [])),
        value: (s, now) => testNumber(total(s, now), test),
        next: (s, now) => scoreNext(parts, test, s, now),
        values: (s, now) => ({
          score: total(s, now) / 1_000_000,
          criteria: parts.map((p) => ({ criterion: p.name, points: p.micro(s, now) / 1_000_000 })),
        }),
      }
    }
    case 'event': {
      const key = trackerKey(timesSpec(rule.filter, keepFor(rule.count)))
      return leaf({
        value: (s, now) => testNumber(countIn(timesOf(s, key), rule.within, now), rule.count),
        next: (s, now) => windowBreak(timesOf(s, key), rule.within, now),
        values: (s, now) => ({
          count: countIn(timesOf(s, key), rule.within, now),
          latest: timesOf(s, key).map(iso),
        }),
      })
    }
    case 'aggregate': {
      const key = trackerKey(valuesSpec(rule.filter, rule.property, rule.within))
      const test = toMicro(rule.test)
      const state = (s: ProfileState) => s.trackers[key] as ValuesState | undefined
      return leaf({
        value: (s, now) => testAggregate(rule.fn, statsOf(state(s), rule.within, now), test),
        next: (s, now) => {
          const st = state(s)
          return st && 'entries' in st
            ? windowBreak(
                st.entries.map((e) => e[0]),
                rule.within,
                now,
              )
            : null
        },
        values: (s, now) => {
          const st = statsOf(state(s), rule.within, now)
          const amount = (m: number | null) => (m === null ? null : m / 1_000_000)
          const value =
            rule.fn === 'sum'
              ? st.sum
              : rule.fn === 'avg'
                ? st.n === 0
                  ? null
                  : st.sum / st.n
                : rule.fn === 'min'
                  ? st.min
                  : st.max
          return { [rule.fn]: amount(value), events: st.n }
        },
      })
    }
    case 'sequence': {
      const firstKey = trackerKey(timesSpec(rule.first, 1))
      const thenKey = trackerKey(timesSpec(rule.notFollowedBy, 1))
      const latest = (s: ProfileState, key: string, now: number) => {
        const t = timesOf(s, key)[0]
        return t === undefined || t > now ? null : t
      }
      const open = (s: ProfileState, now: number) => {
        const a = latest(s, firstKey, now)
        const b = latest(s, thenKey, now)
        return a !== null && (b === null || b <= a) ? a : null
      }
      return leaf({
        value: (s, now) => {
          const a = open(s, now)
          if (a === null) return false
          return (
            (rule.olderThan === null || a <= now - rule.olderThan) &&
            (rule.within === null || a > now - rule.within)
          )
        },
        next: (s, now) => {
          let best: number | null = null
          // A kept timestamp still ahead of `now` (only when evaluating in the past) counts then.
          for (const key of [firstKey, thenKey]) {
            const t = timesOf(s, key)[0]
            if (t !== undefined && t > now) best = earliest(best, t)
          }
          const a = open(s, now)
          if (a === null) return best
          if (rule.olderThan !== null && a + rule.olderThan > now)
            best = earliest(best, a + rule.olderThan)
          if (rule.within !== null && a + rule.within > now) best = earliest(best, a + rule.within)
          return best
        },
        values: (s, now) => ({
          latest: iso(latest(s, firstKey, now)),
          followedBy: iso(latest(s, thenKey, now)),
        }),
      })
    }
  }
}

/** The first instant after `now` at which the node's answer differs from its answer at `now`. */
function nextChange(
  node: Node,
  s: ProfileState,
  now: number,
  at: boolean = node.value(s, now),
): number | null {
  let t = now
  for (;;) {
    const b = node.next(s, t)
    if (b === null) return null
    // A break that does not move forward would loop for ever: a bug in a node's `next`.
    if (b <= t)
      throw new Error(
        `nextChangeAt: ${describeRule(node.rule)} reported a change at ${b}, not after ${t}`,
      )
    if (node.value(s, b) !== at) return b
    t = b
  }
}

function explainNode(node: Node, s: ProfileState, now: number): Explanation {
  return {
    rule: describeRule(node.rule),
    path: node.path,
    result: node.value(s, now),
    values: node.values(s, now),
    nextChangeAt: nextChange(node, s, now),
    children: node.children.map((c) => explainNode(c, s, now)),
  }
}

/**
 * A rule compiled for streaming evaluation over one profile's state.
 * @example
 * const c = new CompiledRule(desugar(rule), (key) => segments.get(key))
 * for (const e of events) c.plan.apply(state, e)
 * c.evaluate(state, clock.now()) // { member: true, nextChangeAt: 1767225600000 }
 */
export class CompiledRule {
  readonly plan: StatePlan
  private readonly root: Node

  constructor(
    readonly rule: CoreRule,
    resolve: SegmentResolver = () => undefined,
  ) {
    this.root = build(rule, [], resolve, 0)
    this.plan = new StatePlan([rule], resolve)
  }

  evaluate(state: ProfileState, now: number): Evaluation {
    const member = this.root.value(state, now)
    return { member, nextChangeAt: nextChange(this.root, state, now, member) }
  }

  explain(state: ProfileState, now: number): Explanation {
    return explainNode(this.root, state, now)
  }
}
