import { isDeepStrictEqual } from 'node:util'
import type { Explanation } from '../evaluate/compile.js'
import { emptyState } from '../evaluate/state.js'
import type { TrackerState } from '../evaluate/state.js'
import { desugar, isStageKey, scoreRefs, STAGE_PREFIX, usesReachable } from '../rules/desugar.js'
import type { DesugarContext } from '../rules/desugar.js'
import { parseRule, SEGMENT_KEY } from '../rules/parse.js'
import type { RuleIssue } from '../rules/parse.js'
import { checkReferences } from '../rules/references.js'
import { checkRuleSource, ruleToYaml } from '../rules/source.js'
import type { RuleFormat, SourceIssue } from '../rules/source.js'
import type { Rule } from '../rules/types.js'
import type { Clock } from '../shared/clock.js'
import { SegflowError } from '../shared/errors.js'
import { isPlainObject } from '../shared/json.js'
import type { JsonValue } from '../shared/json.js'
import { dialectFor, param, raw, RuleCompiler, sql } from '../sql/index.js'
import type { Frag } from '../sql/index.js'
import { isUnavailableError } from '../store/errors.js'
import type { MemberRow, SegmentRecord, Store } from '../store/store.js'
import type { ConsentMode } from '../privacy/index.js'
import type { Engine } from './engine.js'
import { desugarContext, modelSnapshot, snapshotConsentMode, versionFor } from './segments.js'

export type SizeStep = 'hour' | 'day'
const STEP_MS: Record<SizeStep, number> = { hour: 3_600_000, day: 86_400_000 }
/** Steps answered when `from` is not given. */
const DEFAULT_STEPS = 30
/** The most steps one answer holds (a year of days, or about 14 months of hours). */
const MAX_STEPS = 10_000

export interface SegmentSizes {
  readonly segment: string
  readonly step: SizeStep
  readonly from: string
  readonly to: string
  readonly createdAt: string
  readonly points: {
    readonly start: string
    readonly end: string
    /** Members at `end` (transitions before it). */
    readonly size: number
    readonly entered: number
    readonly exited: number
    /** The step has not ended yet: `size` is today's. */
    readonly partial?: true
  }[]
  readonly current: { readonly at: string; readonly size: number; readonly reachable: number }
}

/** How long a backfill waits before retrying a page the database could not take. */
const BACKFILL_RETRY_MS = 1000
import { unknownProfile } from './unknown-profile.js'

export interface SegmentView {
  readonly key: string
  readonly name: string
  readonly description: string
  readonly priority: number
  readonly version: number
  /** The version memberships reflect (lags `version` while computing). */
  readonly liveVersion: number | null
  readonly status: 'computing' | 'live'
  readonly progress: { readonly done: number; readonly total: number } | null
  readonly size: number
  /** Members marketing email can reach: an address, subscribed, and consent as required. */
  readonly reachable: number
  readonly rule: JsonValue
  readonly createdAt: string
  readonly updatedAt: string
}

/** A segment member as the members listing shows it. */
export interface MemberView {
  readonly id: string
  readonly userId: string | null
  /** The `email` trait, when it is a string. */
  readonly email: string | null
  readonly enteredAt: string
}

const memberView = (r: MemberRow): MemberView => ({
  id: r.profileId,
  userId: r.userId,
  email: r.email,
  enteredAt: new Date(r.enteredAt).toISOString(),
})

export interface Sample {
  readonly id: string
  readonly userId: string | null
}

export interface Counted {
  readonly count: number
  readonly sample: readonly Sample[]
}

const iso = (ms: number) => new Date(ms).toISOString()

/** An explanation as the admin API shows it: `nextChangeAt` as ISO-8601 (or null). */
export interface ExplanationView extends Omit<Explanation, 'nextChangeAt' | 'children'> {
  readonly nextChangeAt: string | null
  readonly children: readonly ExplanationView[]
}

function explanationView(e: Explanation): ExplanationView {
  return {
    ...e,
    nextChangeAt: e.nextChangeAt === null ? null : iso(e.nextChangeAt),
    children: e.children.map(explanationView),
  }
}
const SAMPLE = 10

function invalidRule(issues: readonly Pick<RuleIssue, 'path' | 'message'>[]): SegflowError {
  return new SegflowError(
    'invalid_rule',
    `the rule is not valid: ${issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('; ')}`,
    {
      details: { issues: issues.map((i) => ({ path: i.path, message: i.message })) },
    },
  )
}

/** Parses a rule from a request, or throws `invalid_rule` with every issue and its path. */
export function ruleFromRequest(json: unknown): Rule {
  const r = parseRule(json)
  if (!r.ok) throw invalidRule(r.issues)
  return r.rule
}

/**
 * Segments as the admin API and `segflow apply` see them: publishing (a new version is
 * backfilled in the background), deleting, previews and diffs in SQL, members, history and
 * explanations.
 */
export class SegmentService {
  private readonly jobs = new Map<string, Promise<void>>()

  constructor(
    private readonly store: Store,
    private readonly engine: Engine,
    private readonly clock: Clock,
    private readonly onError: (e: unknown) => void = () => undefined,
    /** Other things that use a segment (automations), which stop it being deleted. */
    private readonly usedBy: (
      workspaceId: string,
      key: string,
    ) => Promise<string[]> = async () => [],
  ) {}

  private stopped = false

  /** Lets the backfill pages in progress finish and starts no more. */
  async stop(): Promise<void> {
    this.stopped = true
    await Promise.all(this.jobs.values())
  }

  /** Resumes the backfills of segments left computing by a stop. */
  resume(): void {
    for (const ws of this.engine.workspaceIds()) {
      for (const seg of this.engine.segments(ws)?.segments.values() ?? []) {
        if (seg.record.status === 'computing') this.startBackfill(ws, seg.key, seg.record.version)
      }
    }
  }

  async list(workspaceId: string): Promise<SegmentView[]> {
    const [segments, counts] = await Promise.all([
      this.records(workspaceId),
      this.counts(workspaceId),
    ])
    return segments.map((s) => view(s, counts.get(s.key)))
  }

  async get(workspaceId: string, key: string): Promise<SegmentView> {
    const s = await this.record(workspaceId, key)
    return view(s, (await this.counts(workspaceId)).get(key))
  }

  /** Members per segment, and those marketing email can reach under the consent mode. */
  private async counts(workspaceId: string) {
    return this.store.segmentCounts(workspaceId, await this.consentMode(workspaceId))
  }

  /** The workspace's email consent mode (opt_in unless its email settings say otherwise). */
  private async consentMode(workspaceId: string): Promise<ConsentMode> {
    const settings = await this.store.messaging.getEmailSettings(workspaceId)
    return settings?.consent?.mode ?? 'opt_in'
  }

  /**
   * Creates a segment or publishes a new version. The answer comes at once (status
   * `computing`); members are computed in the background. Publishing the same rule again
   * only updates the name, description and priority.
   */
  async publish(
    workspaceId: string,
    key: string,
    body: unknown,
    options: { system?: boolean } = {},
  ): Promise<{ segment: SegmentView; created: boolean }> {
    if (!SEGMENT_KEY.test(key)) {
      throw new SegflowError(
        'invalid_request',
        `segment key ${JSON.stringify(key)} must be lower-case letters, digits, - and _ (at most 64)`,
      )
    }
    if (isStageKey(key) && !options.system) {
      throw new SegflowError(
        'invalid_request',
        `segment keys starting with ${STAGE_PREFIX} are the lifecycle stages; change them with PUT /api/lifecycle`,
      )
    }
    if (!isPlainObject(body))
      throw new SegflowError(
        'invalid_body',
        'body must be a JSON object like {"name": "…", "rule": {…}}',
      )
    for (const k of Object.keys(body)) {
      if (!['name', 'description', 'rule', 'priority'].includes(k)) {
        throw new SegflowError(
          'invalid_body',
          `unknown field ${JSON.stringify(k)}; expected name, description, rule, priority`,
        )
      }
    }
    const name = body.name ?? key
    if (typeof name !== 'string' || name.trim() === '')
      throw new SegflowError('invalid_body', 'name must be non-empty text')
    const description = body.description ?? ''
    if (typeof description !== 'string')
      throw new SegflowError('invalid_body', 'description must be text')
    const priority = body.priority ?? 0
    if (typeof priority !== 'number' || !Number.isInteger(priority))
      throw new SegflowError('invalid_body', 'priority must be a whole number')
    if (body.rule === undefined) throw new SegflowError('invalid_body', 'rule is required')
    const rule = ruleFromRequest(body.rule)
    const json = body.rule as JsonValue
    const models = this.engine.models(workspaceId)
    const missing = scoreRefs(rule).filter((m) => !models.models.has(m))
    if (missing.length > 0) {
      throw invalidRule(
        missing.map((m) => ({
          path: '',
          message: `scoring model ${m} does not exist; create it with PUT /api/scores/${m}`,
        })),
      )
    }
    const snapshot = modelSnapshot(rule, models, this.engine.consentMode(workspaceId))

    const result = await this.store.write(async (tx) => {
      const existing = (await tx.listSegments(workspaceId)).find((s) => s.key === key)
      const graph: Record<string, Rule> = {}
      for (const s of this.engine.segments(workspaceId)?.segments.values() ?? [])
        graph[s.key] = desugarOf(s.record.rule)
      graph[key] = rule
      // The other segments were checked when they were published: a problem now is this rule's.
      const problems = checkReferences(graph)
      if (problems.length > 0)
        throw invalidRule(problems.map((p) => ({ path: '', message: p.message })))
      const now = this.clock.now()
      const sameRule =
        existing !== undefined &&
        isDeepStrictEqual(existing.rule, json) &&
        isDeepStrictEqual(existing.models, snapshot)
      const record: SegmentRecord = sameRule
        ? { ...existing, name, description, priority, updatedAt: now }
        : {
            workspaceId,
            key,
            // A key used before (the segment was deleted) goes on from its last version: the
            // old versions and transitions stay, each number meaning one rule.
            version:
              (existing?.version ??
                (await this.store.listSegmentVersions(workspaceId, key)).at(-1)?.version ??
                0) + 1,
            name,
            description,
            priority,
            rule: json,
            models: snapshot,
            liveVersion: existing?.liveVersion ?? null,
            liveRule: existing?.liveRule ?? null,
            liveModels: existing?.liveModels ?? null,
            status: 'computing',
            backfillCursor: null,
            backfillDone: 0,
            backfillTotal: await this.store.countProfiles(workspaceId),
            createdAt: existing?.createdAt ?? now,
            updatedAt: now,
          }
      await tx.upsertSegment(record)
      if (!sameRule) {
        await tx.insertSegmentVersion({
          workspaceId,
          key,
          version: record.version,
          name,
          description,
          rule: json,
          publishedAt: now,
        })
      }
      await this.engine.refresh(tx, workspaceId)
      return { record, created: existing === undefined, started: !sameRule }
    })
    if (result.started) this.startBackfill(workspaceId, key, result.record.version)
    return {
      segment: view(result.record, (await this.counts(workspaceId)).get(key)),
      created: result.created,
    }
  }

  /**
   * Deletes a segment: its members leave (`segment.exited`, reason `deleted`), its timers stop,
   * its history stays. A segment other segments refer to cannot be deleted until they no longer do.
   */
  async remove(
    workspaceId: string,
    key: string,
    options: { system?: boolean } = {},
  ): Promise<{ exited: number }> {
    await this.record(workspaceId, key)
    if (isStageKey(key) && !options.system) {
      throw new SegflowError(
        'invalid_request',
        `segment ${key} is a lifecycle stage; change the stages with PUT /api/lifecycle`,
      )
    }
    const referrers = this.engine.segments(workspaceId)?.referrers(key) ?? []
    const users = await this.usedBy(workspaceId, key)
    if (users.length > 0) {
      throw new SegflowError(
        'segment_in_use',
        `segment ${key} is used by automation ${users.join(', ')}; change or delete it first`,
        { details: { usedBy: users.map((k) => `automation:${k}`) } },
      )
    }
    if (referrers.length > 0) {
      throw new SegflowError(
        'segment_in_use',
        `segment ${key} is used by ${referrers.join(', ')}; change or delete those first`,
        {
          details: { usedBy: referrers },
        },
      )
    }
    return this.store.write(async (tx) => {
      const members: string[] = []
      for (let after: string | null = null; ;) {
        const page = await this.store.listMembers(workspaceId, key, after, 5000)
        members.push(...page)
        if (page.length < 5000) break
        after = page[page.length - 1]!
      }
      await this.engine.endSegment(tx, workspaceId, key, members)
      await tx.deleteSegment(workspaceId, key)
      await this.engine.refresh(tx, workspaceId)
      return { exited: members.length }
    })
  }

  /**
   * Publishes a new version of every segment whose latest rule uses scoring model `model`,
   * compiled with the model as it now is (its members are recomputed, reason `rule_change`).
   * Returns the keys republished.
   */
  async republishForModel(workspaceId: string, model: string): Promise<string[]> {
    const keys: string[] = []
    for (const seg of this.engine.segments(workspaceId)?.segments.values() ?? []) {
      const r = seg.record
      if (!scoreRefs(desugarOf(r.rule)).includes(model)) continue
      await this.publish(
        workspaceId,
        r.key,
        { name: r.name, description: r.description, priority: r.priority, rule: r.rule },
        { system: true },
      )
      keys.push(r.key)
    }
    return keys
  }

  /**
   * The workspace's consent mode changed: takes it in, and publishes a new version of every
   * segment whose latest rule uses `reachable` under the old mode (its members are recomputed,
   * reason `rule_change`). Returns the keys republished.
   */
  async republishForConsentMode(workspaceId: string): Promise<string[]> {
    await this.engine.reload(workspaceId)
    const mode = this.engine.consentMode(workspaceId)
    const keys: string[] = []
    for (const seg of this.engine.segments(workspaceId)?.segments.values() ?? []) {
      const r = seg.record
      if (!usesReachable(desugarOf(r.rule)) || snapshotConsentMode(r.models) === mode) continue
      await this.publish(
        workspaceId,
        r.key,
        { name: r.name, description: r.description, priority: r.priority, rule: r.rule },
        { system: true },
      )
      keys.push(r.key)
    }
    return keys
  }

  /** How many people a rule matches now, and a few of them (SQL over everything stored). */
  async preview(workspaceId: string, ruleJson: unknown): Promise<Counted> {
    const rule = desugar(ruleFromRequest(ruleJson), this.ctx(workspaceId))
    return this.counted(workspaceId, (c, now) => c.expression(rule, now))
  }

  /** Who would enter and who would leave if `ruleJson` were published as `key`. */
  async diff(
    workspaceId: string,
    key: string,
    ruleJson: unknown,
  ): Promise<{ entering: Counted; exiting: Counted }> {
    await this.record(workspaceId, key)
    const rule = desugar(ruleFromRequest(ruleJson), this.ctx(workspaceId))
    const member = sql`EXISTS (SELECT 1 FROM memberships m WHERE m.workspace_id = p.workspace_id AND m.segment_key = ${param(key, 'text')} AND m.profile_id = p.id)`
    const [entering, exiting] = await Promise.all([
      this.counted(workspaceId, (c, now) => sql`${c.expression(rule, now)} AND NOT ${member}`),
      this.counted(workspaceId, (c, now) => sql`${member} AND NOT ${c.expression(rule, now)}`),
    ])
    return { entering, exiting }
  }

  private async counted(
    workspaceId: string,
    where: (c: RuleCompiler, now: number) => Frag,
  ): Promise<Counted> {
    const compiler = new RuleCompiler(dialectFor(this.store.kind))
    const now = this.clock.now()
    const base = sql`FROM profiles p WHERE p.workspace_id = ${param(workspaceId, 'text')} AND p.merged_into IS NULL AND ${where(compiler, now)}`
    const count = compiler.render(sql`SELECT COUNT(*) AS n ${base}`)
    const sample = compiler.render(
      sql`SELECT p.id AS id, p.user_id AS user_id ${base} ORDER BY p.id ${raw(`LIMIT ${SAMPLE}`)}`,
    )
    const [n, rows] = await Promise.all([
      this.store.query(count.sql, count.params),
      this.store.query(sample.sql, sample.params),
    ])
    return {
      count: Number(n[0]?.n ?? 0),
      sample: rows.map((r) => ({
        id: String(r.id),
        userId: r.user_id === null ? null : String(r.user_id),
      })),
    }
  }

  /**
   * A page of members in profile-id order after `cursor` (the `nextCursor` of the page before,
   * a profile id): one keyset query, so every member is listed once across pages and a page
   * costs the same wherever it starts. `reachable`: only those marketing email can reach (as
   * counted in the segment's `reachable` size). `search`: only members whose userId or email
   * starts with it (or whose profile id it is).
   */
  async members(
    workspaceId: string,
    key: string,
    q: { cursor: string | null; limit: number; reachable: boolean; search?: string | null },
  ): Promise<{ items: MemberView[]; nextCursor: string | null }> {
    await this.record(workspaceId, key)
    const rows = await this.store.memberPage(workspaceId, key, {
      after: q.cursor,
      limit: q.limit + 1,
      reachableUnder: q.reachable ? await this.consentMode(workspaceId) : null,
      search: q.search ?? null,
    })
    const page = rows.slice(0, q.limit)
    return {
      items: page.map(memberView),
      nextCursor: rows.length > q.limit ? page[page.length - 1]!.profileId : null,
    }
  }

  /**
   * Every member (or every reachable one), `batch` rows at a time, for an export: the segment
   * is checked now (an unknown one throws before anything is sent), then each batch is one
   * keyset query, so the whole list is never in memory.
   */
  async memberBatches(
    workspaceId: string,
    key: string,
    q: { reachable: boolean; batch?: number },
  ): Promise<AsyncIterable<MemberView[]>> {
    await this.record(workspaceId, key)
    const reachableUnder = q.reachable ? await this.consentMode(workspaceId) : null
    const limit = q.batch ?? 5000
    const store = this.store
    return (async function* () {
      for (let after: string | null = null; ;) {
        const rows = await store.memberPage(workspaceId, key, { after, limit, reachableUnder })
        if (rows.length > 0) yield rows.map(memberView)
        if (rows.length < limit) return
        after = rows[rows.length - 1]!.profileId
      }
    })()
  }

  /** Entered and exited per UTC day between `from` and `to` (default: the last 30 days). */
  async history(workspaceId: string, key: string, from: number | null, to: number | null) {
    await this.record(workspaceId, key)
    const end = to ?? this.clock.now() + 1
    const start = from ?? end - 30 * 86_400_000
    if (start >= end) throw new SegflowError('invalid_request', 'from must be before to')
    return {
      from: iso(start),
      to: iso(end),
      days: await this.store.segmentHistory(workspaceId, key, start, end),
    }
  }

  /**
   * The segment's exact size over time, from the hourly rollup written with its transitions:
   * per step (an hour or a UTC day) the entries, the exits and the size at the step's end
   * (the members then: every transition before that instant counted). Steps still running
   * are `partial`. With today's size and how many of the members email can reach.
   */
  async sizes(
    workspaceId: string,
    key: string,
    query: { from: number | null; to: number | null; step: SizeStep },
  ): Promise<SegmentSizes> {
    const record = await this.record(workspaceId, key)
    const now = this.clock.now()
    const step = STEP_MS[query.step]
    const to = query.to ?? now
    // Without `to` the range ends with the step now running, even when now is exactly on a
    // step boundary (then that step has only just begun); with `to` it ends with the step
    // `to` falls in, or at `to` itself on a boundary.
    const end = query.to === null ? now - (now % step) + step : Math.ceil(to / step) * step
    // By default the last 30 steps up to that end.
    const from = query.from ?? end - DEFAULT_STEPS * step
    if (from >= to) throw new SegflowError('invalid_request', 'from must be before to')
    const start = from - (from % step)
    const steps = (end - start) / step
    if (steps > MAX_STEPS) {
      throw new SegflowError(
        'invalid_request',
        `from ${iso(from)} to ${iso(to)} is ${steps} steps of a ${query.step}; at most ${MAX_STEPS} are answered (use step=day or a shorter range)`,
      )
    }
    const [{ before, buckets }, counts] = await Promise.all([
      this.store.segmentSizeBuckets(workspaceId, key, start, end),
      this.counts(workspaceId),
    ])
    const points: SegmentSizes['points'] = []
    let size = before
    let i = 0
    for (let s = start; s < end; s += step) {
      let entered = 0
      let exited = 0
      while (i < buckets.length && buckets[i]!.bucket < s + step) {
        entered += buckets[i]!.entered
        exited += buckets[i]!.exited
        i++
      }
      size += entered - exited
      points.push({
        start: iso(s),
        end: iso(s + step),
        size,
        entered,
        exited,
        ...(s + step > now ? { partial: true } : {}),
      })
    }
    const current = counts.get(key) ?? { size: 0, reachable: 0 }
    return {
      segment: key,
      step: query.step,
      from: iso(start),
      to: iso(end),
      createdAt: iso(record.createdAt),
      points,
      current: { at: iso(now), size: current.size, reachable: current.reachable },
    }
  }

  /** Why a profile is or is not in a segment now, condition by condition. */
  async explain(
    workspaceId: string,
    profileRef: string,
    key: string,
  ): Promise<{
    profile: string
    segment: string
    version: number
    member: boolean
    since: string | null
    /** The profile's latest transition in this segment: when, and why (an import, history). */
    lastTransition: {
      id: string
      type: string
      at: string
      reason: string
      historical: boolean
    } | null
    explanation: ExplanationView
  }> {
    const seg = this.engine.segments(workspaceId)?.segments.get(key)
    if (!seg) throw notFound(key)
    const id = await this.store.resolveProfileId(workspaceId, profileRef)
    const profile = id === null ? null : await this.store.getProfile(workspaceId, id)
    if (!profile || id === null) throw await unknownProfile(this.store, workspaceId, profileRef)
    const version = versionFor(seg, id) ?? seg.next!
    const [trackers, memberships, [last], consents, emailStatus, identities] = await Promise.all([
      this.store.profileTrackers(workspaceId, id),
      this.store.profileMemberships(workspaceId, id),
      this.store.listTransitions(workspaceId, {
        profileId: id,
        segmentKey: key,
        limit: 1,
        newestFirst: true,
      }),
      this.store.messaging.consents(workspaceId, id),
      this.store.messaging.emailStatus(workspaceId, id),
      this.store.identitiesOf(workspaceId, [id]),
    ])
    const state = {
      ...emptyState(),
      traits: profile.traits,
      firstSeen: profile.firstSeen,
      lastSeen: profile.lastSeen,
      consents: Object.fromEntries(consents.map((c) => [c.purpose, c.state])),
      emailStatus,
      hasEmail: identities.some((i) => i.kind === 'email'),
    }
    for (const t of trackers) state.trackers[t.key] = t.state as unknown as TrackerState
    for (const m of memberships) state.segments.add(m.segmentKey)
    const held = memberships.find((m) => m.segmentKey === key)
    return {
      profile: id,
      segment: key,
      version: version.version,
      member: held !== undefined,
      since: held ? iso(held.enteredAt) : null,
      lastTransition: last
        ? {
            id: last.id,
            type: last.type,
            at: iso(last.at),
            reason: last.reason,
            historical: last.historical,
          }
        : null,
      explanation: explanationView(version.compiled.explain(state, this.clock.now())),
    }
  }

  /**
   * Checks a rule's text (YAML or JSON) as publishing would, without publishing: the rule
   * language's issues with their line and column, then what only the workspace can tell (a
   * scoring model or a referenced segment that does not exist, a cycle through `key`).
   * `yaml` is the rule as block YAML, for an editor switching between the two.
   */
  async check(
    workspaceId: string,
    source: string,
    format: RuleFormat,
    key: string | null,
  ): Promise<{ ok: boolean; rule?: JsonValue; yaml?: string; issues: SourceIssue[] }> {
    const r = checkRuleSource(source, format)
    if (!r.ok) return { ok: false, issues: r.issues }
    const at = (needle: string) => lineOf(source, needle)
    const issues: SourceIssue[] = []
    const models = this.engine.models(workspaceId)
    for (const m of scoreRefs(r.rule))
      if (!models.models.has(m))
        issues.push({
          path: '',
          message: `scoring model ${m} does not exist; create it with PUT /api/scores/${m}`,
          ...at(m),
        })
    const graph: Record<string, Rule> = {}
    for (const s of this.engine.segments(workspaceId)?.segments.values() ?? [])
      graph[s.key] = desugarOf(s.record.rule)
    // A new segment (no key yet) cannot be part of a cycle: only its references are checked.
    const self = key ?? '\u0000draft'
    graph[self] = r.rule
    for (const p of checkReferences(graph)) {
      if (key === null && p.segment !== self) continue
      const missing = / refers to segment (\S+), which does not exist/.exec(p.message)?.[1]
      issues.push({
        path: '',
        message: key === null ? p.message.replace(`segment ${self} `, 'the rule ') : p.message,
        ...at(missing ?? key ?? ''),
      })
    }
    if (issues.length > 0) return { ok: false, issues }
    return { ok: true, rule: r.json, yaml: ruleToYaml(r.json), issues: [] }
  }

  /** Every published version of a segment, oldest first, each rule also as YAML. */
  async versions(
    workspaceId: string,
    key: string,
  ): Promise<{
    segment: string
    items: {
      version: number
      name: string
      description: string
      rule: JsonValue
      yaml: string
      publishedAt: string
    }[]
  }> {
    const rows = await this.store.listSegmentVersions(workspaceId, key)
    if (rows.length === 0) await this.record(workspaceId, key)
    return {
      segment: key,
      items: rows.map((v) => ({
        version: v.version,
        name: v.name,
        description: v.description,
        rule: v.rule,
        yaml: ruleToYaml(v.rule),
        publishedAt: iso(v.publishedAt),
      })),
    }
  }

  /** What outside the segments uses a segment (automations), as `automation:<key>`. */
  async users(workspaceId: string, key: string): Promise<string[]> {
    return (await this.usedBy(workspaceId, key)).map((k) => `automation:${k}`)
  }

  /** Resolves when the segment's current backfill (if any) has finished: for tests and tools. */
  async settled(workspaceId: string, key: string): Promise<void> {
    await this.jobs.get(`${workspaceId}\u0000${key}`)
  }

  private startBackfill(workspaceId: string, key: string, version: number): void {
    const id = `${workspaceId}\u0000${key}`
    const previous = this.jobs.get(id) ?? Promise.resolve()
    const job = previous.then(async () => {
      while (!this.stopped) {
        try {
          const record = await this.store.write((tx) =>
            this.engine.backfillPage(tx, workspaceId, key, version),
          )
          if (record === null || record.status === 'live') return
          // Let ingestion in between pages.
          await new Promise((r) => setImmediate(r))
        } catch (e) {
          this.onError(e)
          // The database is away (restarting, unreachable): the page rolled back, so the
          // backfill carries on from its stored cursor once the database answers again.
          if (isUnavailableError(e)) {
            await new Promise((r) => setTimeout(r, BACKFILL_RETRY_MS))
            continue
          }
          await this.engine.reload(workspaceId).catch(this.onError)
          return
        }
      }
    })
    this.jobs.set(id, job)
    void job.finally(() => {
      if (this.jobs.get(id) === job) this.jobs.delete(id)
    })
  }

  private ctx(workspaceId: string): DesugarContext {
    return desugarContext(this.engine.models(workspaceId), this.engine.consentMode(workspaceId))
  }

  private async records(workspaceId: string): Promise<SegmentRecord[]> {
    return [...(this.engine.segments(workspaceId)?.segments.values() ?? [])]
      .map((s) => s.record)
      .sort((a, b) => a.key.localeCompare(b.key))
  }

  private async record(workspaceId: string, key: string): Promise<SegmentRecord> {
    const seg = this.engine.segments(workspaceId)?.segments.get(key)
    if (!seg) throw notFound(key)
    return seg.record
  }
}

/** The line (and column) where `needle` first appears as a word in `text`; else 1:1. */
function lineOf(text: string, needle: string): { line: number; column: number } {
  if (needle === '') return { line: 1, column: 1 }
  const lines = text.split('\n')
  const word = new RegExp(
    `(^|[^A-Za-z0-9_-])${needle.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}($|[^A-Za-z0-9_-])`,
  )
  for (let i = 0; i < lines.length; i++) {
    const m = word.exec(lines[i]!)
    if (m) return { line: i + 1, column: m.index + m[1]!.length + 1 }
  }
  return { line: 1, column: 1 }
}

function desugarOf(json: JsonValue): Rule {
  const r = parseRule(json)
  return r.ok ? r.rule : { kind: 'all', rules: [] }
}

function notFound(key: string): SegflowError {
  return new SegflowError(
    'segment_not_found',
    `no segment ${JSON.stringify(key)} in this workspace`,
  )
}

function view(
  s: SegmentRecord,
  counts: { size: number; reachable: number } = { size: 0, reachable: 0 },
): SegmentView {
  return {
    key: s.key,
    name: s.name,
    description: s.description,
    priority: s.priority,
    version: s.version,
    liveVersion: s.liveVersion,
    status: s.status,
    progress:
      s.status === 'computing'
        ? { done: s.backfillDone, total: Math.max(s.backfillTotal, s.backfillDone) }
        : null,
    size: counts.size,
    reachable: counts.reachable,
    rule: s.rule,
    createdAt: iso(s.createdAt),
    updatedAt: iso(s.updatedAt),
  }
}
