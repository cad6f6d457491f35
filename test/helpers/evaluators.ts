/**
 * Runs one rule through the three evaluators for a few profiles: the streaming evaluator (state
 * built the way the engine builds it), SQL on each store, and the oracle over raw events.
 */
import { emailOf } from '../../src/engine/identity.js'
import type { Message } from '../../src/engine/message.js'
import type { ConsentState, EmailStatus, Purpose } from '../../src/privacy/consent.js'
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

/** An identify's `email` trait with this value is the profile's own address (unique per case). */
export const OWN_EMAIL = '<own>'

export interface HistoryMessage {
  /** `email_status`: the person's email status set then (`status`), not a message. */
  readonly type: 'identify' | 'track' | 'page' | 'email_status'
  readonly name: string | null
  readonly timestamp: number
  readonly traits: JsonObject | null
  readonly properties: JsonObject | null
  /** False: an operator's change (profile API, CSV), not the person's activity. */
  readonly activity?: boolean
  /** Consent the message states (as a `Consent Updated` event or a consent manager would). */
  readonly consent?: readonly { readonly purpose: Purpose; readonly state: ConsentState }[]
  readonly status?: EmailStatus
}

export interface EvalProfile {
  readonly userId: string
  readonly messages: readonly Message[]
  /** Email statuses set, in order, after the messages are written. */
  readonly statuses: readonly EmailStatus[]
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
    const own = (traits: JsonObject | null): JsonObject | null =>
      traits?.email === OWN_EMAIL ? { ...traits, email: `${userId}@example.test` } : traits
    const events: OracleEvent[] = history.map((h, seq) => ({
      seq,
      type: h.type,
      name: h.name,
      timestamp: h.timestamp,
      properties: h.type === 'identify' ? null : h.properties,
      traits: own(h.traits),
      activity: h.type !== 'email_status' && (h.activity ?? true),
      ...(h.consent ? { consent: h.consent } : {}),
      ...(h.status ? { status: h.status } : {}),
    }))
    const statuses = history.flatMap((h) =>
      h.type === 'email_status' && h.status ? [h.status] : [],
    )
    const messages: Message[] = history.flatMap((h) => {
      if (h.type === 'email_status') return []
      const m: Message = {
        workspaceId: ws,
        type: h.type,
        messageId: `${ws}-${userId}-${seqCounter++}`,
        userId,
        anonymousId: null,
        name: h.name,
        properties: h.type === 'identify' ? null : h.properties,
        traits: own(h.traits),
        groupId: null,
        previousId: null,
        timestamp: h.timestamp,
        receivedAt: h.timestamp,
        payload: {},
        activity: h.activity ?? true,
        ...(h.consent
          ? {
              consent: h.consent.map((c) => ({
                ...c,
                source: 'event' as const,
                evidence: { [c.purpose]: c.state === 'granted' },
              })),
            }
          : {}),
      }
      return [m]
    })
    // Only messages make a person: statuses alone name nobody.
    if (messages.length === 0) return
    const state = streamState(compiled, messages, shuffle)
    state.emailStatus = statuses[statuses.length - 1] ?? 'subscribed'
    profiles.push({ userId, messages, statuses, events, state })
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
  // Consent and address as the writer stores them: per purpose the latest statement (of two
  // at one instant, the later to arrive); an address once an identify names one.
  const said = new Map<Purpose, number>()
  for (const m of messages) {
    for (const c of m.consent ?? []) {
      if ((said.get(c.purpose) ?? -Infinity) > m.timestamp) continue
      said.set(c.purpose, m.timestamp)
      state.consents[c.purpose] = c.state
    }
    if (emailOf(m) !== null) state.hasEmail = true
  }
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
  for (const p of profiles) {
    const id = (await store.resolveProfileId(ws, p.userId))!
    ids.set(id, p.userId)
    if (p.statuses.length > 0)
      await store.write(async (tx) => {
        for (const s of p.statuses) await tx.messaging.setEmailStatus(ws, id, s, 'test', 0)
      })
  }
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
