/**
 * The engine against the oracle over a simulated hour: 10,000 profiles, 50 random segments
 * (some referring to others), messages arriving in batches at random instants (some late),
 * timers firing in between. The engine's final memberships and its complete list of
 * transitions (each once, with its instant and reason) must equal what the oracle derives by
 * evaluating every profile and segment at every instant where the answer could change.
 */
import fc from 'fast-check'
import { afterAll, describe, expect, it } from 'vitest'
import { desugar } from '../src/rules/desugar.js'
import type { CoreRule, Rule, ScoreModel } from '../src/rules/types.js'
import { modelToJson } from '../src/scoring/model.js'
import { parseInstant } from '../src/shared/time.js'
import { rng } from '../bench/gen.js'
import { oracle } from './oracle.js'
import type { OracleEvent } from './oracle.js'
import {
  DURATIONS,
  MODEL_KEYS,
  modelArb,
  propertiesArb,
  ruleArb,
  T0 as ARB_T0,
} from './helpers/rule-arbitraries.js'
import { ruleToJson } from '../src/rules/serialize.js'
import { Scenario, WS } from './helpers/scenario.js'
import { testStoreKinds } from './helpers/stores.js'

const PROFILES = Number(process.env.SEGFLOW_RANDOM_PROFILES ?? 10_000)
const SEGMENTS = 50
const EVENTS = 3 * PROFILES
const BATCHES = 600
const SEED = Number(process.env.SEGFLOW_RANDOM_SEED ?? 20261128)

const T0 = Date.parse('2026-06-01T09:00:00Z')
const HOUR = 3_600_000
const MIN = 60_000
/** The generators' durations (30m … 7d) become minutes, so that windows open and close within the hour. */
const SCALED = [1 * MIN, 5 * MIN, 10 * MIN, 15 * MIN, 20 * MIN, 30 * MIN]
const scaleDuration = (d: number) => SCALED[DURATIONS.indexOf(d)] ?? d
/** The generators' instants span two weeks from their T0: squeeze them into the hour. */
const scaleInstant = (t: number) => Math.round(T0 + ((t - ARB_T0) / (14 * 86_400_000)) * HOUR)

/** Rewrites a generated rule onto the hour's time scale. */
function rescale<R>(r: R): R {
  const json = JSON.stringify(r, (key, value) => {
    if (
      (key === 'duration' || key === 'within' || key === 'olderThan' || key === 'halfLife') &&
      typeof value === 'number'
    )
      return scaleDuration(value)
    if (key === 'instant' && typeof value === 'number') return scaleInstant(value)
    return value
  })
  return JSON.parse(json) as R
}

interface SimMessage {
  readonly userId: string
  readonly type: 'identify' | 'track' | 'page'
  readonly name: string | null
  readonly timestamp: number
  readonly traits: Record<string, unknown> | null
  readonly properties: Record<string, unknown> | null
}

interface Batch {
  readonly at: number
  readonly messages: SimMessage[]
}

const NAMES = [
  'Viewed Pricing',
  'Product Added',
  'Order Completed',
  'Email Opened',
  'Email Clicked',
]

function simulate(): {
  models: ScoreModel[]
  segments: [string, Rule][]
  batches: Batch[]
} {
  const random = rng(SEED)
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(random() * xs.length)]!
  const models = MODEL_KEYS.map((k, i) =>
    rescale(fc.sample(modelArb(k), { seed: SEED - 1 - i, numRuns: 1 })[0]!),
  )
  const keys: string[] = []
  const segments: [string, Rule][] = []
  for (let i = 0; i < SEGMENTS; i++) {
    const depth = 1 + Math.floor(random() * 3)
    const [rule] = fc.sample(ruleArb(depth, keys.slice(-5)), { seed: SEED + i, numRuns: 1 })
    const key = `s${i}`
    // Every model a rule names exists here (publishing refuses one that does not).
    const named = JSON.parse(
      JSON.stringify(rule).replaceAll('"model":"missing"', '"model":"m1"'),
    ) as Rule
    segments.push([key, rescale(named)])
    keys.push(key)
  }
  const properties = fc.sample(propertiesArb, { seed: SEED, numRuns: 500 })
  const minute = () => T0 + Math.floor(random() * 60) * MIN
  const traits = () => ({
    plan: pick(['pro', 'Pro', 'free', 'team', null]),
    country: pick(['US', 'us', 'DE']),
    age: pick([17, 18, 30.5, '18']),
    vip: random() < 0.5,
    tags: pick([['a', 'b'], ['pro'], [1, 2], []]),
    signup: pick([new Date(minute()).toISOString(), minute(), '2026-06-01 09:30', 'soon']),
    address: pick([{ city: 'Oslo' }, 'Oslo', { city: 'pro' }]),
    revenue: pick([1, 19.99, 'lots']),
  })
  // Batch instants: every 6 s with a random offset, so no two share a millisecond with a timer.
  const instants = Array.from(
    { length: BATCHES },
    (_, i) => T0 + i * 6000 + 1 + Math.floor(random() * 5000),
  )
  const batches: Batch[] = instants.map((at) => ({ at, messages: [] }))
  // Everyone is introduced in the first batches.
  for (let p = 0; p < PROFILES; p++) {
    const b = batches[Math.floor((p / PROFILES) * 10)]!
    b.messages.push({
      userId: `u${p}`,
      type: 'identify',
      name: null,
      timestamp: b.at,
      traits: traits(),
      properties: null,
    })
  }
  for (let n = 0; n < EVENTS; n++) {
    const b = batches[10 + Math.floor(random() * (BATCHES - 10))]!
    // Skewed activity: a few profiles do most things.
    const userId = `u${Math.floor(PROFILES * random() ** 2)}`
    const late = random() < 0.1 ? Math.floor(random() * 20 * MIN) : 0
    const r = random()
    if (r < 0.08) {
      b.messages.push({
        userId,
        type: 'identify',
        name: null,
        timestamp: b.at - late,
        traits: { plan: pick(['pro', 'free', 'team']), vip: random() < 0.5 },
        properties: null,
      })
    } else if (r < 0.25) {
      b.messages.push({
        userId,
        type: 'page',
        name: pick(['Home', 'Pricing', null]),
        timestamp: b.at - late,
        traits: null,
        properties: pick(properties),
      })
    } else {
      b.messages.push({
        userId,
        type: 'track',
        name: pick(NAMES),
        timestamp: b.at - late,
        traits: null,
        properties: pick(properties),
      })
    }
  }
  return { models, segments, batches }
}

const line = (userId: string, type: string, key: string, at: number, reason: string) =>
  `${userId} ${type === 'segment.entered' ? 'entered' : 'exited'} ${key} at +${at - T0}ms (${reason})`

describe.each(testStoreKinds())(
  'the engine against the oracle over a simulated hour on %s',
  (kind) => {
    let sc: Scenario
    afterAll(async () => {
      await sc?.close()
    })

    it(
      `${PROFILES} profiles, ${SEGMENTS} segments, ${EVENTS} events: same memberships, same transitions`,
      { timeout: 900_000 },
      async () => {
        const { models, segments, batches } = simulate()
        sc = await Scenario.open(kind, T0)
        for (const m of models) await sc.runtime.scores.put(WS, m.key, modelToJson(m))
        for (const [key, rule] of segments)
          await sc.runtime.segments.publish(WS, key, { rule: ruleToJson(rule) })
        for (const [key] of segments) await sc.runtime.segments.settled(WS, key)

        // ---- the engine ----
        let n = 0
        for (const b of batches) {
          await sc.advanceTo(b.at)
          const batch = b.messages.map((m) => ({
            type: m.type,
            messageId: `r${n++}`,
            userId: m.userId,
            ...(m.name !== null ? (m.type === 'track' ? { event: m.name } : { name: m.name }) : {}),
            ...(m.traits ? { traits: m.traits } : {}),
            ...(m.properties ? { properties: m.properties } : {}),
            timestamp: new Date(m.timestamp).toISOString(),
          }))
          for (let i = 0; i < batch.length; i += 2500) {
            const r = await sc.runtime.ingestor.batch(
              WS,
              { batch: batch.slice(i, i + 2500) },
              { bytes: 0, suspect: false },
            )
            expect(r.rejected).toEqual([])
          }
        }
        const end = T0 + HOUR
        await sc.advanceTo(end)

        const store = sc.runtime.store
        const userOf = new Map<string, string>()
        const engineLines: string[] = []
        for (let after = 0; ;) {
          const page = await store.listTransitions(WS, { afterSeq: after, limit: 50_000 })
          if (page.length === 0) break
          after = page[page.length - 1]!.seq
          for (const t of page) {
            let userId = userOf.get(t.profileId)
            if (userId === undefined) {
              userId = (await store.getProfile(WS, t.profileId))!.userId!
              userOf.set(t.profileId, userId)
            }
            engineLines.push(line(userId, t.type, t.segmentKey, t.at, t.reason))
          }
        }

        // ---- the oracle ----
        const byKey = new Map(models.map((m) => [m.key, m]))
        const ctx = { models: (k: string) => byKey.get(k) }
        const rules = new Map<string, CoreRule>(segments.map(([k, r]) => [k, desugar(r, ctx)]))
        const resolve = (key: string) => rules.get(key)
        const byUser = new Map<string, { events: OracleEvent[]; arrivals: number[] }>()
        let seq = 0
        for (const b of batches) {
          for (const m of b.messages) {
            const h = byUser.get(m.userId) ?? { events: [], arrivals: [] }
            byUser.set(m.userId, h)
            h.events.push({
              seq: seq++,
              type: m.type,
              name: m.name,
              timestamp: m.timestamp,
              properties: m.properties,
              traits: m.traits,
              activity: true,
            })
            h.arrivals.push(b.at)
          }
        }
        const oracleLines: string[] = []
        const oracleMembers = new Set<string>()
        for (const [userId, h] of byUser) {
          const arrivals = new Set(h.arrivals)
          // Every instant the answer could change: arrivals, and window edges after each timestamp and trait date.
          const instants = new Set<number>(h.arrivals)
          const dates: number[] = []
          for (const e of h.events) {
            dates.push(e.timestamp)
            for (const v of Object.values(e.traits ?? {})) {
              const t = typeof v === 'string' || typeof v === 'number' ? parseInstant(v) : null
              if (t !== null) dates.push(t)
            }
          }
          for (const d of dates) {
            instants.add(d)
            for (const s of SCALED) instants.add(d + s)
          }
          // Decayed points halve at every half-life after the event.
          for (const m of models)
            if (m.halfLife !== null)
              for (const e of h.events)
                for (let t = e.timestamp + m.halfLife; t <= end; t += m.halfLife) instants.add(t)
          const first = h.arrivals[0]!
          const sorted = [...instants].filter((t) => t >= first && t <= end).sort((a, b) => a - b)
          for (const [key, rule] of rules) {
            let member = false
            let upTo = 0
            for (const t of sorted) {
              while (upTo < h.events.length && h.arrivals[upTo]! <= t) upTo++
              const now = oracle(rule, h.events.slice(0, upTo), t, { segments: resolve })
              if (now !== member) {
                oracleLines.push(
                  line(
                    userId,
                    now ? 'segment.entered' : 'segment.exited',
                    key,
                    t,
                    arrivals.has(t) ? 'event' : 'time',
                  ),
                )
                member = now
              }
            }
            if (member) oracleMembers.add(`${userId} ${key}`)
          }
        }

        const sort = (xs: string[]) => [...xs].sort()
        expect(engineLines.length).toBeGreaterThan(PROFILES)
        expect(sort(engineLines)).toEqual(sort(oracleLines))
        const engineMembers = new Set<string>()
        for (const [key] of segments) {
          for (let after: string | null = null; ;) {
            const page = await store.listMembers(WS, key, after, 10_000)
            for (const id of page)
              engineMembers.add(
                `${userOf.get(id) ?? (await store.getProfile(WS, id))!.userId} ${key}`,
              )
            if (page.length < 10_000) break
            after = page[page.length - 1]!
          }
        }
        expect(engineMembers.size).toBe(oracleMembers.size)
        expect(sort([...engineMembers])).toEqual(sort([...oracleMembers]))
      },
    )
  },
)
