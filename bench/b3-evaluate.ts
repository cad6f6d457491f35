/**
 * B3 — incremental evaluation in-process: every generated message goes through what the engine
 * does per message (traits, trackers, the dependency index, re-evaluating only the segments it
 * can affect), against json-logic-js and json-rules-engine evaluating the same rules per
 * message over naive per-profile event lists (what a rules engine leaves you to keep).
 *
 * One pass, interleaved: segflow handles every message; on a sample of messages the baselines
 * evaluate every rule for that profile at that instant, and their answers are checked against
 * segflow's memberships (the figures are only comparable if the answers are the same).
 */
import jsonLogic from 'json-logic-js'
import type { RulesLogic } from 'json-logic-js'
import { Engine as RulesEngine } from 'json-rules-engine'
import type { NestedCondition, TopLevelCondition } from 'json-rules-engine'
import { eventKey, WorkspaceSegments } from '../src/engine/segments.js'
import { emptyState } from '../src/evaluate/state.js'
import type { ProfileState } from '../src/evaluate/state.js'
import { parseDuration } from '../src/shared/time.js'
import type { SegmentRecord } from '../src/store/store.js'
import { messages, segments } from './gen.js'
import type { GenMessage } from './gen.js'

export interface B3Options {
  readonly profiles: number
  readonly segments: number
  readonly events: number
  /** Every n-th message is also evaluated by json-logic-js / json-rules-engine. */
  readonly logicEvery: number
  readonly rulesEngineEvery: number
}

export interface B3Figures {
  readonly profiles: number
  readonly segments: number
  readonly events: number
  readonly segflowEventsPerSecond: number
  /** Segments re-checked per message, as a share of all segments. */
  readonly recheckedShare: number
  readonly jsonLogicEventsPerSecond: number
  readonly jsonRulesEngineEventsPerSecond: number
  readonly ratioVsJsonLogic: number
  readonly ratioVsJsonRulesEngine: number
  /** Sampled (profile, segment) answers compared, and how many differed. */
  readonly compared: number
  readonly disagreements: number
  readonly heapMbAfter: number
  /** What the engine persists per profile: tracker states, memberships and timers, as JSON. */
  readonly stateBytesPerProfile: number
  /** Heap growth per profile while holding every state in memory (after a GC, when exposed). */
  readonly heapBytesPerProfile: number
}

interface Naive {
  traits: Record<string, unknown>
  events: { type: string; name: string | null; ts: number }[]
}

/** Counting matching events in (now − within, now], the slow obvious way. */
function countWithin(p: Naive, type: string, name: string | null, within: number, now: number) {
  let n = 0
  for (const e of p.events)
    if (e.type === type && (name === null || e.name === name) && e.ts > now - within && e.ts <= now)
      n++
  return n
}

type Json = Record<string, unknown>

/** The generator's rules in json-logic, with `count_within` and earlier segments as vars. */
function toLogic(rule: unknown): RulesLogic {
  const r = rule as Json
  if (r.all) return { and: (r.all as unknown[]).map(toLogic) } as RulesLogic
  if (r.not) return { '!': toLogic(r.not) } as RulesLogic
  if (r.segment) return { var: `seg.${r.segment as string}` } as RulesLogic
  if (r.trait) {
    const v = { var: `traits.${r.trait as string}` }
    if ('eq' in r) return { '===': [v, r.eq] } as RulesLogic
    if ('in' in r) return { in: [v, r.in] } as RulesLogic
    if ('gte' in r) return { '>=': [v, r.gte] } as RulesLogic
    if ('gt' in r) return { '>': [v, r.gt] } as RulesLogic
  }
  if (r.within) {
    const count = r.count as { gte: number }
    return {
      '>=': [
        {
          count_within: [
            (r.type as string | undefined) ?? 'track',
            (r.event as string | undefined) ?? null,
            parseDuration(r.within as string),
          ],
        },
        count.gte,
      ],
    } as unknown as RulesLogic
  }
  throw new Error(`no json-logic for ${JSON.stringify(rule)}`)
}

/** The same rules as json-rules-engine conditions: traits by path, counts as a fact with params. */
function toConditions(rule: unknown): NestedCondition {
  const r = rule as Json
  if (r.all) return { all: (r.all as unknown[]).map(toConditions) }
  if (r.not) return { not: toConditions(r.not) }
  if (r.segment) return { condition: r.segment as string }
  if (r.trait) {
    const base = { fact: 'traits', path: `$.${r.trait as string}` }
    if ('eq' in r) return { ...base, operator: 'equal', value: r.eq }
    if ('in' in r) return { ...base, operator: 'in', value: r.in }
    if ('gte' in r) return { ...base, operator: 'greaterThanInclusive', value: r.gte }
    if ('gt' in r) return { ...base, operator: 'greaterThan', value: r.gt }
  }
  if (r.within) {
    return {
      fact: 'count',
      params: {
        type: (r.type as string | undefined) ?? 'track',
        name: (r.event as string | undefined) ?? null,
        within: parseDuration(r.within as string),
      },
      operator: 'greaterThanInclusive',
      value: (r.count as { gte: number }).gte,
    }
  }
  throw new Error(`no json-rules-engine condition for ${JSON.stringify(rule)}`)
}

function record(key: string, rule: unknown): SegmentRecord {
  return {
    workspaceId: 'bench',
    key,
    version: 1,
    name: key,
    description: '',
    priority: 0,
    rule: rule as SegmentRecord['rule'],
    models: null,
    liveVersion: 1,
    liveRule: rule as SegmentRecord['rule'],
    liveModels: null,
    status: 'live',
    backfillCursor: null,
    backfillDone: 0,
    backfillTotal: 0,
    createdAt: 0,
    updatedAt: 0,
  }
}

const gc = (globalThis as { gc?: () => void }).gc

export async function runB3(o: B3Options): Promise<B3Figures> {
  gc?.()
  const heapBefore = process.memoryUsage().heapUsed
  const defs = segments(o.segments, 7)
  const segs = new WorkspaceSegments(defs.map((d) => record(d.key, d.rule)))
  const compiled = new Map(defs.map((d) => [d.key, segs.segments.get(d.key)!.current!.compiled]))

  // ---- json-logic-js: one custom operation for counts, reading the current profile ----
  let current: Naive = { traits: {}, events: [] }
  let now = 0
  jsonLogic.add_operation('count_within', (type: string, name: string | null, within: number) =>
    countWithin(current, type, name, within, now),
  )
  const logic = defs.map((d) => ({ key: d.key, logic: toLogic(d.rule) }))

  // ---- json-rules-engine: every segment a named condition, each a rule ----
  const jre = new RulesEngine([], { allowUndefinedFacts: true })
  for (const d of defs) {
    const c = toConditions(d.rule)
    const top = ('all' in c || 'any' in c || 'not' in c ? c : { all: [c] }) as TopLevelCondition
    jre.setCondition(d.key, top)
    jre.addRule({
      name: d.key,
      conditions: { all: [{ condition: d.key }] },
      event: { type: d.key },
    })
  }
  jre.addFact('count', (params: Record<string, unknown>) =>
    countWithin(
      current,
      params.type as string,
      params.name as string | null,
      params.within as number,
      now,
    ),
  )

  const states = new Map<string, ProfileState>()
  // Timers as the engine keeps them: the earliest nextChangeAt per (profile, segment).
  const timers = new TimerHeap()
  // Each profile's due instants by segment, next to its state (small maps, cache-friendly).
  const dues = new Map<string, Map<string, number>>()
  const naive = new Map<string, Naive>()
  let segflowMs = 0
  let rechecked = 0
  let logicMs = 0
  let logicEvents = 0
  let jreMs = 0
  let jreEvents = 0
  let compared = 0
  let disagreements = 0
  let n = 0

  const handle = (m: GenMessage) => {
    let state = states.get(m.userId)
    const created = state === undefined
    if (!state) {
      state = emptyState()
      states.set(m.userId, state)
    }
    const traits: string[] = []
    if (m.traits) {
      for (const [k, v] of Object.entries(m.traits)) {
        if (state.traits[k] !== v) traits.push(k)
        state.traits[k] = v as never
      }
    }
    state.firstSeen =
      state.firstSeen === null ? m.timestamp : Math.min(state.firstSeen, m.timestamp)
    state.lastSeen = state.lastSeen === null ? m.timestamp : Math.max(state.lastSeen, m.timestamp)
    const events: string[] = []
    if (m.type !== 'identify') {
      events.push(eventKey(m.type, m.name), eventKey(m.type, null))
      segs.plan.apply(state, {
        type: m.type,
        name: m.name,
        timestamp: m.timestamp,
        properties: m.properties as never,
      })
    }
    const change = { events, traits, seen: true }
    const keys = created ? segs.forNewProfile(m.userId, change) : segs.affected(change)
    rechecked += keys.length
    evaluate(m.userId, state, keys, m.timestamp)
  }

  const evaluate = (userId: string, state: ProfileState, keys: readonly string[], at: number) => {
    let due = dues.get(userId)
    if (!due) dues.set(userId, (due = new Map()))
    for (const key of keys) {
      const r = compiled.get(key)!.evaluate(state, at)
      if (r.member) state.segments.add(key)
      else state.segments.delete(key)
      if (r.nextChangeAt === null) due.delete(key)
      else if (due.get(key) !== r.nextChangeAt) {
        due.set(key, r.nextChangeAt)
        timers.push(r.nextChangeAt, userId, key)
      }
    }
  }

  /** Fires every timer due by `upTo`, each at its own instant. */
  const fire = (upTo: number) => {
    for (;;) {
      const t = timers.peek()
      if (!t || t.at > upTo) return
      timers.pop()
      const due = dues.get(t.userId)!
      if (due.get(t.key) !== t.at) continue // replaced by a later evaluation
      due.delete(t.key)
      rechecked++
      evaluate(t.userId, states.get(t.userId)!, segs.dependentsOf(t.key), t.at)
    }
  }

  for (const m of messages({ seed: 42, profiles: o.profiles, events: o.events })) {
    n++
    const t0 = performance.now()
    fire(m.timestamp)
    handle(m)
    segflowMs += performance.now() - t0

    let p = naive.get(m.userId)
    if (!p) {
      p = { traits: {}, events: [] }
      naive.set(m.userId, p)
    }
    if (m.traits) Object.assign(p.traits, m.traits)
    if (m.type !== 'identify') p.events.push({ type: m.type, name: m.name, ts: m.timestamp })
    current = p
    now = m.timestamp

    if (n % o.logicEvery === 0) {
      const t1 = performance.now()
      const seg: Record<string, boolean> = {}
      for (const l of logic)
        seg[l.key] = Boolean(jsonLogic.apply(l.logic, { traits: p.traits, seg }))
      logicMs += performance.now() - t1
      logicEvents++
      const members = states.get(m.userId)!.segments
      for (const l of logic) {
        compared++
        if (seg[l.key] !== members.has(l.key)) disagreements++
      }
    }
    if (n % o.rulesEngineEvery === 0) {
      const t2 = performance.now()
      await jre.run({ traits: p.traits })
      jreMs += performance.now() - t2
      jreEvents++
    }
  }
  // The naive baselines' lists are not segflow's: drop them before weighing segflow's state.
  naive.clear()
  gc?.()
  const heapAfter = process.memoryUsage().heapUsed
  let stateBytes = 0
  for (const [userId, st] of states) {
    stateBytes += JSON.stringify(st.trackers).length
    for (const k of st.segments) stateBytes += userId.length + k.length + 16
    for (const k of dues.get(userId)?.keys() ?? []) stateBytes += userId.length + k.length + 16
  }
  const rate = (count: number, ms: number) => (ms === 0 ? 0 : Math.round((count / ms) * 1000))
  const segflowRate = rate(n, segflowMs)
  const logicRate = rate(logicEvents, logicMs)
  const jreRate = rate(jreEvents, jreMs)
  return {
    profiles: o.profiles,
    segments: o.segments,
    events: n,
    segflowEventsPerSecond: segflowRate,
    recheckedShare: Number((rechecked / (n * o.segments)).toFixed(4)),
    jsonLogicEventsPerSecond: logicRate,
    jsonRulesEngineEventsPerSecond: jreRate,
    ratioVsJsonLogic: Number((segflowRate / Math.max(1, logicRate)).toFixed(1)),
    ratioVsJsonRulesEngine: Number((segflowRate / Math.max(1, jreRate)).toFixed(1)),
    compared,
    disagreements,
    heapMbAfter: Math.round(heapAfter / 1e6),
    stateBytesPerProfile: Math.round(stateBytes / states.size),
    heapBytesPerProfile: Math.round((heapAfter - heapBefore) / states.size),
  }
}

/** A binary min-heap of timers by instant (sifting moves the hole, no swaps). */
class TimerHeap {
  private readonly items: { at: number; userId: string; key: string }[] = []

  push(at: number, userId: string, key: string): void {
    const a = this.items
    const item = { at, userId, key }
    let i = a.length
    a.push(item)
    while (i > 0) {
      const parent = (i - 1) >> 1
      const p = a[parent]!
      if (p.at <= at) break
      a[i] = p
      i = parent
    }
    a[i] = item
  }

  peek(): { at: number; userId: string; key: string } | undefined {
    return this.items[0]
  }

  pop(): void {
    const a = this.items
    const last = a.pop()!
    const n = a.length
    if (n === 0) return
    let i = 0
    for (;;) {
      let m = 2 * i + 1
      if (m >= n) break
      if (m + 1 < n && a[m + 1]!.at < a[m]!.at) m++
      if (a[m]!.at >= last.at) break
      a[i] = a[m]!
      i = m
    }
    a[i] = last
  }
}
