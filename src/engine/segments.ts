import { CompiledRule, MEMBERSHIPS } from '../evaluate/compile.js'
import { emptyState, StatePlan } from '../evaluate/state.js'
import type { ConsentMode } from '../privacy/consent.js'
import { desugar, scoreRefs, usesReachable } from '../rules/desugar.js'
import type { DesugarContext } from '../rules/desugar.js'
import { parseModel } from '../scoring/model.js'
import type { ParsedModel } from '../scoring/model.js'
import { parseRule } from '../rules/parse.js'
import { dependencyOrder } from '../rules/references.js'
import type { CoreRule, EventFilter, Rule, ScoreModel } from '../rules/types.js'
import type { JsonObject, JsonValue } from '../shared/json.js'
import type { ScoreModelRecord, SegmentRecord } from '../store/store.js'

/** What a rule reads: a message touching none of it cannot change the rule's answer. */
export interface Dependencies {
  /** `type\0name` of events it counts, or `type\0*` for any name of a type. */
  readonly events: Set<string>
  /** Top-level trait keys. */
  readonly traits: Set<string>
  /** first_seen / last_seen. */
  seen: boolean
  readonly segments: Set<string>
  /** Consent, email status, the email address (what the engine loads only when some rule reads it). */
  readonly contact: Set<ContactField>
}

/** What a person's reachability is made of, outside traits and events. */
export type ContactField = 'consent' | 'email_status' | 'email'

export function eventKey(type: string, name: string | null): string {
  return `${type}\u0000${name ?? '*'}`
}

/** The dependencies of a rule, with referenced segments as keys (not followed). */
export function dependenciesOf(rule: CoreRule, into?: Dependencies): Dependencies {
  const d = into ?? {
    events: new Set(),
    traits: new Set(),
    seen: false,
    segments: new Set(),
    contact: new Set(),
  }
  const filter = (f: EventFilter) => d.events.add(eventKey(f.type, f.name))
  switch (rule.kind) {
    case 'all':
    case 'any':
      for (const r of rule.rules) dependenciesOf(r, d)
      break
    case 'not':
      dependenciesOf(rule.rule, d)
      break
    case 'trait':
      d.traits.add(rule.path[0]!)
      break
    case 'event':
    case 'aggregate':
      filter(rule.filter)
      break
    case 'sequence':
      filter(rule.first)
      filter(rule.notFollowedBy)
      break
    case 'seen':
      d.seen = true
      break
    case 'segment':
      d.segments.add(rule.key)
      break
    case 'consent':
      d.contact.add('consent')
      break
    case 'email_status':
      d.contact.add('email_status')
      break
    case 'has_email':
      d.contact.add('email')
      break
    case 'score':
      for (const c of rule.definition?.criteria ?? []) {
        if (c.kind === 'rule') dependenciesOf(c.rule, d)
        else filter(c.filter)
      }
      break
  }
  return d
}

/** What a message changed on a profile: event keys, top-level trait keys, first/last seen. */
export interface Change {
  readonly events: Iterable<string>
  readonly traits: Iterable<string>
  readonly seen: boolean
  /** Consent stated, email status set, an email address linked. */
  readonly contact?: Iterable<ContactField>
}

/** One version of a segment's rule, compiled for the engine. */
export interface SegmentVersion {
  readonly version: number
  readonly rule: CoreRule
  readonly compiled: CompiledRule
}

/** A segment as the engine runs it: its live version and, while computing, the next one. */
export interface EngineSegment {
  readonly key: string
  readonly record: SegmentRecord
  /** The version members were last computed with; null for a new segment still computing. */
  readonly current: SegmentVersion | null
  /** The version being backfilled; it applies to profiles up to `record.backfillCursor`. */
  readonly next: SegmentVersion | null
  readonly deps: Dependencies
}

/** The version that applies to a profile now. */
export function versionFor(s: EngineSegment, profileId: string): SegmentVersion | null {
  if (s.next && s.record.backfillCursor !== null && profileId <= s.record.backfillCursor)
    return s.next
  return s.current
}

/** A workspace's scoring models, compiled, and a fingerprint that changes when any does. */
export interface ModelSet {
  readonly models: ReadonlyMap<string, ParsedModel & { readonly definition: JsonValue }>
  readonly fingerprint: string
}

export const NO_MODELS: ModelSet = { models: new Map(), fingerprint: '' }

/** The models of stored records (each validated when it was put). */
export function modelSet(records: readonly ScoreModelRecord[]): ModelSet {
  const models = new Map<string, ParsedModel & { definition: JsonValue }>()
  for (const r of records) {
    const parsed = parseModel(r.key, r.definition)
    if (!parsed.ok)
      throw new Error(`stored scoring model ${r.key} does not parse: ${parsed.issues[0]?.message}`)
    models.set(r.key, { ...parsed.value, definition: r.definition })
  }
  return {
    models,
    fingerprint: JSON.stringify(records.map((r) => [r.key, r.definition])),
  }
}

/**
 * How rules of a workspace are desugared: score conditions get the workspace's models,
 * `reachable` its consent mode.
 */
export function desugarContext(
  models: ModelSet,
  consentMode: ConsentMode = 'opt_in',
): DesugarContext {
  return { models: (key) => models.models.get(key)?.model, consentMode }
}

/**
 * In a version's snapshot, the consent mode its `reachable` conditions were compiled under
 * (model keys start with a letter or digit, so this key is never a model's).
 */
export const CONSENT_MODE_KEY = '$consent_mode'

/**
 * What a segment version keeps of its surroundings, so that it means the same until it is
 * republished: the definitions of the models it refers to, and the consent mode when it uses
 * `reachable`. Null when it needs neither.
 */
export function modelSnapshot(
  rule: Rule,
  models: ModelSet,
  consentMode: ConsentMode = 'opt_in',
): JsonObject | null {
  const refs = scoreRefs(rule).filter((k) => models.models.has(k))
  const reachable = usesReachable(rule)
  if (refs.length === 0 && !reachable) return null
  const out: JsonObject = {}
  for (const k of refs.sort()) out[k] = models.models.get(k)!.definition
  if (reachable) out[CONSENT_MODE_KEY] = consentMode
  return out
}

/** The consent mode a version's snapshot holds (opt_in when it holds none). */
export function snapshotConsentMode(snapshot: JsonValue | null): ConsentMode {
  const mode =
    snapshot !== null && typeof snapshot === 'object' && !Array.isArray(snapshot)
      ? snapshot[CONSENT_MODE_KEY]
      : undefined
  return mode === 'opt_out' ? 'opt_out' : 'opt_in'
}

/** A desugaring context from a version's snapshot of its models. */
function snapshotContext(snapshot: JsonValue | null, key: string): DesugarContext {
  const models = new Map<string, ScoreModel>()
  if (snapshot !== null && typeof snapshot === 'object' && !Array.isArray(snapshot)) {
    for (const [k, def] of Object.entries(snapshot)) {
      if (k === CONSENT_MODE_KEY) continue
      const parsed = parseModel(k, def)
      if (!parsed.ok)
        throw new Error(
          `scoring model ${k} kept with segment ${key} does not parse: ${parsed.issues[0]?.message}`,
        )
      models.set(k, parsed.value.model)
    }
  }
  return { models: (k) => models.get(k), consentMode: snapshotConsentMode(snapshot) }
}

function compileVersion(
  version: number,
  json: unknown,
  key: string,
  snapshot: JsonValue | null,
): SegmentVersion {
  const ctx = snapshotContext(snapshot, key)
  const parsed = parseRule(json)
  // Stored rules were validated when published; failing here is a bug or a hand-edited row.
  if (!parsed.ok)
    throw new Error(
      `stored rule of segment ${key} v${version} does not parse: ${parsed.issues[0]?.message}`,
    )
  const rule = desugar(parsed.rule, ctx)
  return { version, rule, compiled: new CompiledRule(rule, MEMBERSHIPS) }
}

/**
 * The segments of one workspace, compiled, with what the engine needs to evaluate only what a
 * change can affect: the union of their trackers, a dependency index, and an order in which
 * every segment comes after the segments it refers to.
 */
export class WorkspaceSegments {
  readonly segments = new Map<string, EngineSegment>()
  readonly plan: StatePlan
  /** Keys in dependency order. */
  readonly order: readonly string[]
  private readonly dependents = new Map<string, Set<string>>()
  private readonly byEvent = new Map<string, Set<string>>()
  private readonly byTrait = new Map<string, Set<string>>()
  private readonly bySeen = new Set<string>()
  private readonly byContact = new Map<ContactField, Set<string>>()
  /** What any segment reads of consent, email status and address (the engine loads only that). */
  readonly contact = new Set<ContactField>()

  /** How rules are desugared against the workspace's models now (previews, conditions). */
  readonly ctx: DesugarContext

  constructor(
    records: readonly SegmentRecord[],
    /** The workspace's scoring models now (versions are compiled with their own snapshot). */
    readonly models: ModelSet = NO_MODELS,
    /** The registry this one replaces: compiled versions that did not change are reused. */
    previous?: WorkspaceSegments,
    /** The workspace's consent mode now (versions are compiled with their own snapshot). */
    readonly consentMode: ConsentMode = 'opt_in',
  ) {
    const rules: CoreRule[] = []
    const graph: Record<string, Rule> = {}
    this.ctx = desugarContext(models, consentMode)
    const compiled = (
      key: string,
      version: number,
      json: unknown,
      snapshot: JsonValue | null,
    ): SegmentVersion => {
      const prev = previous?.segments.get(key)
      for (const v of [prev?.current, prev?.next]) if (v && v.version === version) return v
      return compileVersion(version, json, key, snapshot)
    }
    for (const r of records) {
      const current =
        r.liveVersion === null ? null : compiled(r.key, r.liveVersion, r.liveRule, r.liveModels)
      const next = r.status === 'computing' ? compiled(r.key, r.version, r.rule, r.models) : null
      const deps = dependenciesOf((current ?? next)!.rule)
      if (current && next) dependenciesOf(next.rule, deps)
      this.segments.set(r.key, { key: r.key, record: r, current, next, deps })
      for (const v of [current, next]) if (v) rules.push(v.rule)
      graph[r.key] = {
        kind: 'all',
        rules: [...deps.segments].map((key) => ({ kind: 'segment' as const, key })),
      }
      for (const e of deps.events) addTo(this.byEvent, e, r.key)
      for (const t of deps.traits) addTo(this.byTrait, t, r.key)
      if (deps.seen) this.bySeen.add(r.key)
      for (const c of deps.contact) {
        addTo(this.byContact, c, r.key)
        this.contact.add(c)
      }
      for (const ref of deps.segments) addTo(this.dependents, ref, r.key)
    }
    this.plan = new StatePlan(rules, MEMBERSHIPS)
    this.order = dependencyOrder(graph).filter((k) => this.segments.has(k))
    for (const seg of this.segments.values()) {
      const c = seg.record.backfillCursor
      if (seg.next && c !== null && (this.maxCursor === null || c > this.maxCursor))
        this.maxCursor = c
    }
  }

  /** The highest backfill cursor of a computing segment: profiles up to it use `next`. */
  private maxCursor: string | null = null
  /** Segments a profile with nothing known about it is in (their current versions). */
  private emptyMembers: string[] | undefined

  /**
   * The segments to evaluate for a profile the batch created: those its first messages can
   * affect, and those an empty profile is in (`not …`, `count: {lt: 1}`). Every other segment
   * gives the same answer as for an empty profile — false — so it need not be evaluated.
   */
  forNewProfile(profileId: string, change: Change): readonly string[] {
    if (this.maxCursor !== null && profileId <= this.maxCursor) return this.order
    return this.remember(`n${signature(change)}`, () => {
      if (!this.emptyMembers) {
        const state = emptyState()
        for (const key of this.order) {
          const v = this.segments.get(key)!.current
          if (v && v.compiled.evaluate(state, 0).member) state.segments.add(key)
        }
        this.emptyMembers = [...state.segments]
      }
      const hit = this.reading(change)
      for (const k of this.emptyMembers) hit.add(k)
      return this.withDependents(hit)
    })
  }

  get size(): number {
    return this.segments.size
  }

  /**
   * The segments a change can affect: those reading the events, traits or first/last seen it
   * touched, and every segment that refers to one of them, in dependency order.
   */
  affected(change: Change): readonly string[] {
    return this.remember(`a${signature(change)}`, () => this.withDependents(this.reading(change)))
  }

  /**
   * Answers by what a change touched. Messages repeat the same few shapes (a page view, an
   * identify changing the same traits), and the registry never changes once built, so the
   * answer for a shape is computed once. Bounded: cleared when it reaches `MEMO_LIMIT` shapes.
   */
  private remember(sig: string, compute: () => readonly string[]): readonly string[] {
    const known = this.memo.get(sig)
    if (known) return known
    if (this.memo.size >= MEMO_LIMIT) this.memo.clear()
    const keys = Object.freeze(compute())
    this.memo.set(sig, keys)
    return keys
  }

  private readonly memo = new Map<string, readonly string[]>()

  /** The segments that read what a change touched (without their dependents). */
  private reading(change: Change): Set<string> {
    const hit = new Set<string>()
    for (const e of change.events) for (const k of this.byEvent.get(e) ?? []) hit.add(k)
    for (const t of change.traits) for (const k of this.byTrait.get(t) ?? []) hit.add(k)
    if (change.seen) for (const k of this.bySeen) hit.add(k)
    for (const c of change.contact ?? []) for (const k of this.byContact.get(c) ?? []) hit.add(k)
    return hit
  }

  /** `key` and every segment referring to it (transitively), in dependency order. */
  dependentsOf(key: string): readonly string[] {
    return this.remember(`d${key}`, () => this.withDependents([key]))
  }

  /** `keys` and every segment referring to them (transitively), in dependency order. */
  withDependents(keys: Iterable<string>): string[] {
    const all = new Set<string>()
    const visit = (k: string) => {
      if (all.has(k)) return
      all.add(k)
      for (const d of this.dependents.get(k) ?? []) visit(d)
    }
    for (const k of keys) visit(k)
    // Sorting the few hit keys by position beats filtering every segment.
    const position = (this.position ??= new Map(this.order.map((k, i) => [k, i])))
    return [...all]
      .filter((k) => position.has(k))
      .sort((a, b) => position.get(a)! - position.get(b)!)
  }

  private position: Map<string, number> | undefined

  /** Segments that refer to `key` directly. */
  referrers(key: string): string[] {
    return [...(this.dependents.get(key) ?? [])].sort()
  }
}

/** Distinct change shapes remembered per registry before the memo starts over. */
const MEMO_LIMIT = 4096

/** A change's shape as a string: what it touched, in the order it was touched. */
function signature(change: Change): string {
  let s = change.seen ? '1' : '0'
  for (const e of change.events) s += `\u0001${e}`
  s += '\u0002'
  for (const t of change.traits) s += `\u0001${t}`
  s += '\u0002'
  for (const c of change.contact ?? []) s += `\u0001${c}`
  return s
}

function addTo(map: Map<string, Set<string>>, key: string, value: string): void {
  const set = map.get(key)
  if (set) set.add(value)
  else map.set(key, new Set([value]))
}
