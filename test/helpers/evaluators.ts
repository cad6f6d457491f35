/**
 * Runs one rule through the three evaluators for a few profiles: the streaming evaluator (state
 * built the way the engine builds it), SQL on each store, and the oracle over raw events.
 */
import type { Message } from '../../src/engine/message.js'
import { applyTraits } from '../../src/engine/traits.js'
import { Writer } from '../../src/engine/writer.js'
import type { CompiledRule } from '../../src/evaluate/compile.js'
import { emptyState } from '../../src/evaluate/state.js'
import type { ProfileState } from '../../src/evaluate/state.js'
import type { CoreRule } from '../../src/rules/types.js'
import { ManualClock } from '../../src/shared/clock.js'
import type { JsonObject } from '../../src/shared/json.js'
import { dialectFor, RuleCompiler } from '../../src/sql/index.js'
import type { ProfileRecord, Store } from '../../src/store/store.js'
import { oracle } from '../oracle.js'
import type { OracleEvent } from '../oracle.js'

export interface HistoryMessage {
  readonly type: 'identify' | 'track' | 'page'
  readonly name: string | null
  readonly timestamp: number
  readonly traits: JsonObject | null
  readonly properties: JsonObject | null
  /** False: an operator's change (profile API, CSV), not the person's activity. */
  readonly activity?: boolean
}

export interface EvalProfile {
  readonly userId: string
  readonly messages: readonly Message[]
  readonly events: readonly OracleEvent[]
  readonly state: ProfileState
}

let seqCounter = 0

/** Profiles u0, u1, … from histories (empty ones skipped), with stream state and oracle events. */
export function buildProfiles(
  ws: string,
  compiled: CompiledRule,
  histories: readonly (readonly HistoryMessage[])[],
  shuffle = 0,
): EvalProfile[] {
  const profiles: EvalProfile[] = []
  histories.forEach((history, i) => {
    if (history.length === 0) return
    const userId = `u${i}`
    const messages: Message[] = history.map((h) => ({
      workspaceId: ws,
      type: h.type,
      messageId: `${ws}-${userId}-${seqCounter++}`,
      userId,
      anonymousId: null,
      name: h.name,
      properties: h.type === 'identify' ? null : h.properties,
      traits: h.traits,
      groupId: null,
      previousId: null,
      timestamp: h.timestamp,
      receivedAt: h.timestamp,
      payload: {},
      activity: h.activity ?? true,
    }))
    const events: OracleEvent[] = messages.map((m, seq) => ({
      seq,
      type: m.type,
      name: m.name,
      timestamp: m.timestamp,
      properties: m.properties,
      traits: m.traits,
      activity: m.activity !== false,
    }))
    profiles.push({ userId, messages, events, state: streamState(compiled, messages, shuffle) })
  })
  return profiles
}

/** The streaming state, built as the engine would: traits in arrival order, events in any order. */
export function streamState(
  compiled: CompiledRule,
  messages: readonly Message[],
  shuffle: number,
): ProfileState {
  const state = emptyState()
  const record = { traits: {}, traitTimes: {} } as ProfileRecord
  for (const m of messages) {
    if (m.type === 'identify' && m.traits) applyTraits(record, m.traits, m.timestamp)
    if (m.activity !== false) {
      state.firstSeen =
        state.firstSeen === null ? m.timestamp : Math.min(state.firstSeen, m.timestamp)
      state.lastSeen = state.lastSeen === null ? m.timestamp : Math.max(state.lastSeen, m.timestamp)
    }
  }
  state.traits = record.traits
  const order = [...messages]
  // A fixed permutation per case: trackers must not care in which order events arrive.
  for (let i = order.length - 1; i > 0; i--) {
    const j = (shuffle + i * 7919) % (i + 1)
    ;[order[i], order[j]] = [order[j]!, order[i]!]
  }
  for (const m of order) {
    if (m.type !== 'identify') {
      compiled.plan.apply(state, {
        type: m.type,
        name: m.name,
        timestamp: m.timestamp,
        properties: m.properties,
      })
    }
  }
  return state
}

/** Writes the profiles' messages to a store; returns internal profile id → userId. */
export async function writeProfiles(
  store: Store,
  ws: string,
  profiles: readonly EvalProfile[],
): Promise<Map<string, string>> {
  await new Writer(store, new ManualClock(0)).write(profiles.flatMap((p) => p.messages))
  const ids = new Map<string, string>()
  for (const p of profiles) ids.set((await store.resolveProfileId(ws, p.userId))!, p.userId)
  return ids
}

/** userIds SQL finds at `now`, sorted. */
export async function sqlMembers(
  store: Store,
  ids: Map<string, string>,
  rule: CoreRule,
  resolve: (key: string) => CoreRule | undefined,
  ws: string,
  now: number,
): Promise<string[]> {
  const q = new RuleCompiler(dialectFor(store.kind), resolve).members(rule, {
    workspaceId: ws,
    now,
  })
  const rows = await store.query(q.sql, q.params)
  return rows.map((r) => ids.get(String(r.id))!).sort()
}

export function streamMembers(
  compiled: CompiledRule,
  profiles: readonly EvalProfile[],
  now: number,
): string[] {
  return profiles.filter((p) => compiled.evaluate(p.state, now).member).map((p) => p.userId)
}

export function oracleMembers(
  rule: CoreRule,
  profiles: readonly EvalProfile[],
  now: number,
  resolve: (key: string) => CoreRule | undefined,
): string[] {
  return profiles
    .filter((p) => oracle(rule, p.events, now, { segments: resolve }))
    .map((p) => p.userId)
}
