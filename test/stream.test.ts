import { describe, expect, it } from 'vitest'
import { CompiledRule } from '../src/evaluate/compile.js'
import { emptyState, mergeTracker } from '../src/evaluate/state.js'
import type { EvalEvent, OccurrencesState, TimesState } from '../src/evaluate/state.js'
import { desugar } from '../src/rules/desugar.js'
import { parseRule } from '../src/rules/parse.js'

const T = Date.parse('2026-03-01T00:00:00Z')
const H = 3_600_000
const D = 24 * H

function compile(json: unknown): CompiledRule {
  const r = parseRule(json)
  if (!r.ok) throw new Error(r.issues.map((i) => i.message).join('; '))
  return new CompiledRule(desugar(r.rule))
}

const viewed = (timestamp: number, properties = {}): EvalEvent => ({
  type: 'track',
  name: 'Viewed Pricing',
  timestamp,
  properties,
})

describe('streaming state stays bounded', () => {
  it('keeps at most N + 1 timestamps for count >= N within D, after 100,000 matching events', () => {
    const c = compile({ event: 'Viewed Pricing', within: '7d', count: { gte: 3 } })
    const state = emptyState()
    // Out of order on purpose: late events land where their timestamp puts them.
    for (let i = 0; i < 100_000; i++)
      c.plan.apply(state, viewed(T - ((i * 7919) % 100_000) * 60_000))
    const trackers = Object.values(state.trackers) as TimesState[]
    expect(trackers).toHaveLength(1)
    expect(trackers[0]!.times.length).toBeLessThanOrEqual(4)
    expect(trackers[0]!.times).toEqual([T, T - 60_000, T - 120_000])
    // The third latest leaves the window first: that is when the answer changes.
    expect(c.evaluate(state, T)).toEqual({ member: true, nextChangeAt: T - 120_000 + 7 * D })
  })

  it('keeps only what can still be inside the window for a windowed sum', () => {
    const c = compile({
      aggregate: 'sum',
      event: 'Order Completed',
      property: 'revenue',
      within: '7d',
      gte: 100,
    })
    const state = emptyState()
    for (let i = 0; i < 10_000; i++) {
      c.plan.apply(state, {
        type: 'track',
        name: 'Order Completed',
        timestamp: T - (10_000 - i) * H,
        properties: { revenue: 1 },
      })
    }
    const [tracker] = Object.values(state.trackers) as { entries: [number, number][] }[]
    // 7 days of hourly orders before the newest: 168 entries, not 10,000.
    expect(tracker!.entries.length).toBe(168)
    expect(c.evaluate(state, T - H).member).toBe(true)
  })

  it('shares a tracker between conditions with the same spec, and only then', () => {
    const c = compile({
      all: [
        { event: 'Viewed Pricing', count: { gte: 2 } },
        {
          any: [
            { event: 'Viewed Pricing', within: '1d', count: { gte: 2 } },
            { trait: 'x', exists: true },
          ],
        },
        { not: { event: 'Viewed Pricing', within: '1d', count: { gt: 4 } } },
      ],
    })
    const filter = { type: 'track', name: 'Viewed Pricing', where: [] }
    expect([...c.plan.trackers.values()]).toEqual([
      { kind: 'times', filter, keep: 2 },
      { kind: 'times', filter, keep: 5 },
    ])
  })
})

describe('nextChangeAt', () => {
  it('is when the count falls below the threshold, not when the first event expires', () => {
    const c = compile({ event: 'Viewed Pricing', within: '7d', count: { gte: 2 } })
    const state = emptyState()
    for (const t of [T - 3 * D, T - 2 * D, T - D]) c.plan.apply(state, viewed(t))
    expect(c.evaluate(state, T)).toEqual({ member: true, nextChangeAt: T - 2 * D + 7 * D })
    expect(c.evaluate(state, T + 5 * D)).toEqual({ member: false, nextChangeAt: null })
  })

  it('is the exact instant a trait date becomes old enough', () => {
    const c = compile({ trait: 'trial_started', older_than: '14d' })
    const state = { ...emptyState(), traits: { trial_started: '2026-02-20T12:00:00Z' } }
    expect(c.evaluate(state, T)).toEqual({
      member: false,
      nextChangeAt: Date.parse('2026-03-06T12:00:00Z'),
    })
  })

  it('skips changes of a part that do not change the whole', () => {
    const c = compile({
      any: [
        { event: 'Viewed Pricing', within: '1d' },
        { trait: 'signup', within_last: '30d' },
      ],
    })
    const state = { ...emptyState(), traits: { signup: T - D } }
    c.plan.apply(state, viewed(T - H))
    // The event leaves its window at T + 23h, but the signup keeps the profile in until T + 29d.
    expect(c.evaluate(state, T)).toEqual({ member: true, nextChangeAt: T + 29 * D })
  })

  it('is null when nothing can change without a new event', () => {
    const c = compile({ all: [{ trait: 'plan', eq: 'pro' }, { event: 'Signed Up' }] })
    const state = { ...emptyState(), traits: { plan: 'pro' } }
    expect(c.evaluate(state, T)).toEqual({ member: false, nextChangeAt: null })
  })

  it('walks a cart abandonment through its window', () => {
    const c = compile({
      event: 'Product Added',
      not_followed_by: 'Order Completed',
      older_than: '1h',
      within: '2d',
    })
    const state = emptyState()
    c.plan.apply(state, { type: 'track', name: 'Product Added', timestamp: T, properties: {} })
    expect(c.evaluate(state, T)).toEqual({ member: false, nextChangeAt: T + H })
    expect(c.evaluate(state, T + H)).toEqual({ member: true, nextChangeAt: T + 2 * D })
    c.plan.apply(state, {
      type: 'track',
      name: 'Order Completed',
      timestamp: T + 2 * H,
      properties: {},
    })
    expect(c.evaluate(state, T + 2 * H)).toEqual({ member: false, nextChangeAt: null })
  })
})

describe('explain', () => {
  it('gives each node its result, what it saw and when it can next change', () => {
    const c = compile({
      all: [
        { trait: 'plan', eq: 'pro' },
        { event: 'Viewed Pricing', within: '7d', count: { gte: 2 } },
      ],
    })
    const state = { ...emptyState(), traits: { plan: 'pro' } }
    c.plan.apply(state, viewed(T - D))
    c.plan.apply(state, viewed(T - 2 * D))
    const e = c.explain(state, T)
    expect(e).toMatchObject({
      rule: 'all of 2',
      path: '',
      result: true,
      nextChangeAt: T + 5 * D,
      children: [
        {
          rule: 'trait plan eq "pro"',
          path: 'all[0]',
          result: true,
          values: { value: 'pro' },
          nextChangeAt: null,
        },
        {
          rule: 'event "Viewed Pricing", count gte 2 within 7d',
          path: 'all[1]',
          result: true,
          values: { count: 2 },
          nextChangeAt: T + 5 * D,
        },
      ],
    })
  })
})

describe('score state', () => {
  const model = {
    key: 'm',
    halfLife: D,
    criteria: [
      {
        kind: 'event' as const,
        name: 'views',
        filter: { type: 'track' as const, name: 'Viewed Pricing', where: [] },
        points: 1,
        cap: null,
        within: null,
      },
    ],
  }
  const scored = (gte: number) =>
    new CompiledRule(
      desugar(
        { kind: 'score', model: 'm', test: { op: 'gte', value: gte } },
        {
          models: () => model,
        },
      ),
    )

  it('keeps only occurrences decay has not yet taken to nothing, after 100,000 events', () => {
    const c = scored(3)
    const state = emptyState()
    for (let i = 0; i < 100_000; i++) c.plan.apply(state, viewed(T - ((i * 7919) % 100_000) * H))
    const [occ] = Object.values(state.trackers) as OccurrencesState[]
    // One point is 2^20 > 10^6 millionths: after 20 halvings (20 days) an event is worth nothing.
    expect(occ!.n).toBe(100_000)
    expect(occ!.times.length).toBe(20 * 24)
    expect(occ!.times[0]).toBe(T - (20 * 24 - 1) * H)
  })

  it('merges two profiles’ occurrences into what one profile with every event would hold', () => {
    const c = scored(2)
    const [key, spec] = [...c.plan.trackers][0]!
    const a = emptyState()
    const b = emptyState()
    const both = emptyState()
    const times = [T - 3 * D, T - 30 * D, T - H, T - 2 * D, T - 25 * D, T]
    times.forEach((t, i) => {
      c.plan.apply(i % 2 === 0 ? a : b, viewed(t))
      c.plan.apply(both, viewed(t))
    })
    const merged = {
      ...emptyState(),
      trackers: { [key]: mergeTracker(spec, a.trackers[key], b.trackers[key])! },
    }
    expect(merged.trackers[key]).toEqual(both.trackers[key])
    expect(c.evaluate(merged, T)).toEqual(c.evaluate(both, T))
    // 1 + 1 + ¼ (2 days old) + ⅛ (3 days old) = 2.375 now; below 2 once the event an hour old
    // halves, at T + 1d − 1h.
    expect(c.evaluate(both, T)).toEqual({ member: true, nextChangeAt: T + D - H })
  })
})
