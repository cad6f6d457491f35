/**
 * The product's central promise: one rule, three evaluators, one answer. Random rules (every
 * node type, nested four and more deep), random histories for several profiles, and instants
 * chosen on window boundaries; the streaming evaluator, SQL on every configured store and the
 * oracle must name the same members, and the stream's nextChangeAt must be exact.
 *
 * SEGFLOW_PROPERTY_RUNS sets the number of cases (1,000 by default; `npm run test:long`
 * runs 100,000).
 */
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Message } from '../src/engine/message.js'
import { CompiledRule } from '../src/evaluate/compile.js'
import { desugar } from '../src/rules/desugar.js'
import type { ConsentMode } from '../src/privacy/consent.js'
import type { CoreRule, Rule, ScoreModel } from '../src/rules/types.js'
import { parseInstant } from '../src/shared/time.js'
import { oracle } from './oracle.js'
import {
  buildProfiles,
  oracleMembers,
  sqlMembers,
  streamMembers,
  writeProfiles,
} from './helpers/evaluators.js'
import type { HistoryMessage } from './helpers/evaluators.js'
import {
  DAY,
  DURATIONS,
  dateTraitArb,
  historiesArb,
  leafArb,
  modelArb,
  ruleArb,
  scoreLeafArb,
  ruleDepth,
  ruleKinds,
  STEP,
  T0,
} from './helpers/rule-arbitraries.js'
import { newTestStore, testStoreKinds } from './helpers/stores.js'
import type { TestStore } from './helpers/stores.js'

const RUNS = Number(process.env.SEGFLOW_PROPERTY_RUNS ?? 1000)

/** The workspace's consent mode, which `reachable: email` follows. */
const consentModeArb = fc.constantFrom<ConsentMode>('opt_in', 'opt_out')

const caseArb = fc.record({
  m1: modelArb('m1'),
  m2: modelArb('m2'),
  s1: ruleArb(2),
  s2: ruleArb(2, ['s1']),
  rule: fc.integer({ min: 4, max: 5 }).chain((d) => ruleArb(d, ['s1', 's2'])),
  histories: historiesArb,
  /** Which candidate instants to evaluate at, and how to shuffle event arrival. */
  picks: fc.array(fc.nat(), { minLength: 3, maxLength: 3 }),
  shuffle: fc.nat(),
  consentMode: consentModeArb,
})

let caseNo = 0
const coverage = { kinds: new Set<string>(), maxDepth: 0, members: 0, nonMembers: 0, changes: 0 }

/** Everything one case is checked against: every configured store. */
interface Harness {
  readonly stores: TestStore[]
}

interface Case {
  readonly m1: ScoreModel
  readonly m2: ScoreModel
  readonly s1: Rule
  readonly s2: Rule
  readonly rule: Rule
  readonly histories: readonly (readonly (Omit<HistoryMessage, 'timestamp'> & {
    readonly offset: number
  })[])[]
  readonly picks: readonly number[]
  readonly shuffle: number
  readonly consentMode: ConsentMode
}

/** Instants a trait can make a date operator flip at: its value as an instant, plus each duration. */
function traitInstants(messages: readonly Message[]): number[] {
  const out: number[] = []
  const visit = (v: unknown) => {
    if (typeof v === 'number' || typeof v === 'string') {
      const t = parseInstant(v)
      if (t !== null) out.push(t, ...DURATIONS.flatMap((d) => [t + d, t + d - 1]))
    } else if (v && typeof v === 'object') Object.values(v).forEach(visit)
  }
  for (const m of messages) if (m.traits) visit(m.traits)
  return out
}

async function checkCase(h: Harness, c: Case): Promise<void> {
  const ws = `case-${caseNo++}`
  const models: Record<string, ScoreModel> = { m1: c.m1, m2: c.m2 }
  const ctx = { models: (key: string) => models[key], consentMode: c.consentMode }
  const registry: Record<string, CoreRule> = { s1: desugar(c.s1, ctx), s2: desugar(c.s2, ctx) }
  const resolve = (key: string) => registry[key]
  const core = desugar(c.rule, ctx)
  ruleKinds(c.rule, coverage.kinds)
  if (
    core !== c.rule ||
    c.rule.kind === 'segment' ||
    JSON.stringify(c.rule).includes('"segment"')
  ) {
    ruleKinds(c.s1, coverage.kinds)
    ruleKinds(c.s2, coverage.kinds)
  }
  coverage.maxDepth = Math.max(coverage.maxDepth, ruleDepth(c.rule))
  const compiled = new CompiledRule(core, resolve)

  const histories = c.histories.map((hist) =>
    hist.map((g) => ({ ...g, timestamp: T0 + g.offset * STEP })),
  )
  const profiles = buildProfiles(ws, compiled, histories, c.shuffle)
  const all = profiles.flatMap((p) => p.messages)
  const idsByStore: Map<string, string>[] = []
  for (const s of h.stores) idsByStore.push(await writeProfiles(s.store, ws, profiles))

  // Evaluate at the latest timestamp and at window edges after it (t + D and t + D − 1).
  const latest = all.length === 0 ? T0 : Math.max(...all.map((m) => m.timestamp))
  const edges = [
    ...all.flatMap((m) => DURATIONS.flatMap((d) => [m.timestamp + d, m.timestamp + d - 1])),
    ...traitInstants(all),
  ]
  const candidates = [...new Set(edges)].filter((t) => t > latest).sort((a, b) => a - b)
  // Dates held in traits flip date operators at their own edges: pick some of those too.
  const traitEdges = [...new Set(traitInstants(all))].filter((t) => t > latest)
  const instants = [
    latest,
    ...c.picks.map((k) => candidates[k % Math.max(1, candidates.length)] ?? latest + DAY),
    ...c.picks
      .slice(0, 2)
      .flatMap((k) => (traitEdges.length > 0 ? [traitEdges[k % traitEdges.length]!] : [])),
  ]

  for (const now of instants) {
    const byStream = streamMembers(compiled, profiles, now)
    const byOracle = oracleMembers(core, profiles, now, resolve)
    expect(byStream, `stream vs oracle at ${new Date(now).toISOString()}`).toEqual(byOracle)
    for (let k = 0; k < h.stores.length; k++) {
      const store = h.stores[k]!.store
      const bySql = await sqlMembers(store, idsByStore[k]!, core, resolve, ws, now)
      expect(bySql, `SQL on ${store.kind} vs oracle at ${new Date(now).toISOString()}`).toEqual(
        [...byOracle].sort(),
      )
    }
    coverage.members += byOracle.length
    coverage.nonMembers += profiles.length - byOracle.length

    // nextChangeAt is exact: the answer holds until just before it and differs at it.
    for (const p of profiles) {
      const { member, nextChangeAt } = compiled.evaluate(p.state, now)
      const at = (t: number) => oracle(core, p.events, t, { segments: resolve })
      if (nextChangeAt !== null) {
        coverage.changes++
        expect(nextChangeAt).toBeGreaterThan(now)
        expect(at(nextChangeAt - 1), `${p.userId} just before nextChangeAt`).toBe(member)
        expect(at(nextChangeAt), `${p.userId} at nextChangeAt`).toBe(!member)
        for (const t of candidates) if (t > now && t < nextChangeAt) expect(at(t)).toBe(member)
      } else {
        for (const t of candidates)
          if (t > now) expect(at(t), `${p.userId} with no change due`).toBe(member)
        expect(at(now + 400 * DAY)).toBe(member)
      }
      expect(compiled.explain(p.state, now).result).toBe(member)
    }
  }
}

describe('stream, SQL and oracle agree', () => {
  const kinds = testStoreKinds()
  const h: Harness = { stores: [] }
  beforeAll(async () => {
    for (const kind of kinds) h.stores.push(await newTestStore(kind))
  })
  afterAll(async () => {
    for (const s of h.stores) await s.cleanup()
  })

  it(
    `on ${RUNS} single conditions, one per node type, tested hard (stores: ${kinds.join(', ')})`,
    { timeout: Math.max(120_000, RUNS * 200) },
    async () => {
      const leafCase = fc.record({
        m1: modelArb('m1'),
        m2: modelArb('m2'),
        s1: ruleArb(2),
        s2: ruleArb(2, ['s1']),
        rule: fc.oneof(
          leafArb(['s1', 's2']),
          leafArb().map((rule) => ({ kind: 'not' as const, rule })),
          dateTraitArb,
          scoreLeafArb,
        ),
        histories: historiesArb,
        picks: fc.array(fc.nat(), { minLength: 4, maxLength: 4 }),
        shuffle: fc.nat(),
        consentMode: consentModeArb,
      })
      await fc.assert(
        fc.asyncProperty(leafCase, (c) => checkCase(h, c)),
        { numRuns: RUNS },
      )
    },
  )

  it(
    `on ${RUNS} random rules nested 4 and 5 deep (stores: ${kinds.join(', ')})`,
    { timeout: Math.max(120_000, RUNS * 200) },
    async () => {
      await fc.assert(
        fc.asyncProperty(caseArb, (c) => checkCase(h, c)),
        { numRuns: RUNS },
      )
      // The generators reached every node type, four levels deep, and both answers.
      expect([...coverage.kinds].sort()).toEqual(
        [
          'aggregate',
          'all',
          'any',
          'computed',
          'consent',
          'email',
          'email_status',
          'event',
          'not',
          'reachable',
          'score',
          'segment',
          'seen',
          'sequence',
          'trait',
        ].sort(),
      )
      expect(coverage.maxDepth).toBeGreaterThanOrEqual(4)
      expect(coverage.members).toBeGreaterThan(RUNS / 10)
      expect(coverage.nonMembers).toBeGreaterThan(RUNS / 10)
      expect(coverage.changes).toBeGreaterThan(RUNS / 10)
    },
  )
})
