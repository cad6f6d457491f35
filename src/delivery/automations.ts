import { createHash } from 'node:crypto'
import { traitUpdate } from '../engine/message.js'
import type { Message } from '../engine/message.js'
import type { WriteOutcome } from '../engine/writer.js'
import type { TimerHost } from '../engine/scheduler.js'
import { realTimers } from '../engine/scheduler.js'
import { desugar, segmentRefs } from '../rules/desugar.js'
import type { DesugarContext } from '../rules/desugar.js'
import { formatPath, parseRule } from '../rules/parse.js'
import type { CoreRule } from '../rules/types.js'
import type { Clock } from '../shared/clock.js'
import { SegflowError } from '../shared/errors.js'
import { isPlainObject } from '../shared/json.js'
import { closestName } from '../shared/suggest.js'
import type { JsonObject, JsonValue } from '../shared/json.js'
import { parseDuration } from '../shared/time.js'
import { dialectFor, param, RuleCompiler, sql } from '../sql/index.js'
import type {
  AutomationRecord,
  AutomationRunRecord,
  DeliveryRecord,
  RunStatus,
  Store,
  StoredTransition,
  TransitionReason,
  WriteTx,
} from '../store/store.js'
import { profileSnapshot } from './address.js'
import { consumeOutbox, deliveryId, listenedSegments } from './dispatcher.js'
import { isAfterMark } from '../store/outbox.js'
import { CATEGORIES } from './email.js'
import type { Mailer } from './email.js'
import { Pump } from './pump.js'
import { retryDelay } from './schedule.js'

export type AutomationAction =
  | { readonly type: 'send_email'; readonly template: string; readonly category: string }
  | { readonly type: 'webhook'; readonly webhook: string }
  | { readonly type: 'set_trait'; readonly trait: string; readonly value: JsonValue }
  | { readonly type: 'unset_trait'; readonly trait: string }
  | { readonly type: 'add_tag'; readonly tag: string }
  | { readonly type: 'remove_tag'; readonly tag: string }

/** What an automation does with historical transitions. */
export type AutomationHistory = 'skip' | 'run'
const HISTORY: readonly AutomationHistory[] = ['skip', 'run']

export interface AutomationDefinition {
  readonly name: string
  readonly enabled: boolean
  readonly trigger: {
    readonly segment: string
    readonly on: 'entered' | 'exited'
    /** As written (`"2d"`), or null for at once. */
    readonly delay: string | null
    /**
     * Historical transitions (imports, messages or timers processed late): `skip` (the
     * default: a run is recorded as skipped, nothing is done) or `run`.
     */
    readonly history: AutomationHistory
  }
  /** A rule the person must match when the actions are about to run. */
  readonly conditions: JsonValue | null
  readonly actions: readonly AutomationAction[]
}

/** What a definition may refer to, to check it when saved. */
export interface AutomationRefs {
  readonly segments: ReadonlySet<string>
  readonly templates: ReadonlySet<string>
  readonly webhooks: ReadonlySet<string>
}

const KEY = /^[a-z0-9][a-z0-9_-]{0,63}$/
const ACTION_FIELDS: Record<AutomationAction['type'], readonly string[]> = {
  send_email: ['template', 'category'],
  webhook: ['webhook'],
  set_trait: ['trait', 'value'],
  unset_trait: ['trait'],
  add_tag: ['tag'],
  remove_tag: ['tag'],
}
/** The trait tags live in: a list of strings. */
export const TAGS_TRAIT = 'tags'
/**
 * The transitions that trigger automations: not a segment's first computation, deletion or
 * erasure. Historical ones (all imports among them) only with `trigger.history: run`.
 */
const TRIGGERING: ReadonlySet<TransitionReason> = new Set([
  'event',
  'import',
  'time',
  'rule_change',
  'merge',
])
const MAX_ACTIONS = 20

function bad(path: string, message: string): SegflowError {
  return new SegflowError('invalid_body', `${path}: ${message}`, { details: { path } })
}

function only(o: Record<string, unknown>, path: string, allowed: readonly string[]): void {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) {
      const near = closestName(k, allowed)
      throw bad(
        path ? `${path}.${k}` : k,
        `unknown field${near ? ` (did you mean ${near}?)` : ''}; expected ${allowed.join(', ')}`,
      )
    }
  }
}

function text(o: Record<string, unknown>, field: string, path: string): string {
  const v = o[field]
  if (typeof v !== 'string' || v.trim() === '')
    throw bad(`${path}.${field}`, 'must be non-empty text')
  return v
}

/**
 * Validates `PUT /api/automations/:key`, naming the path of the first problem: unknown fields,
 * a segment, template or webhook that does not exist, a bad delay or condition rule.
 */
export function parseAutomation(body: unknown, refs: AutomationRefs): AutomationDefinition {
  if (!isPlainObject(body))
    throw new SegflowError(
      'invalid_body',
      'body must be a JSON object like {"trigger": {"segment": "…", "on": "entered"}, "actions": [...]}',
    )
  only(body, '', ['name', 'enabled', 'trigger', 'conditions', 'actions'])
  if (body.name !== undefined && typeof body.name !== 'string') throw bad('name', 'must be text')
  if (body.enabled !== undefined && typeof body.enabled !== 'boolean')
    throw bad('enabled', 'must be true or false')
  const t = body.trigger
  if (!isPlainObject(t)) throw bad('trigger', 'must be like {"segment": "…", "on": "entered"}')
  only(t, 'trigger', ['segment', 'on', 'delay', 'history'])
  const segment = text(t, 'segment', 'trigger')
  if (!refs.segments.has(segment))
    throw bad('trigger.segment', `segment ${JSON.stringify(segment)} does not exist`)
  if (t.on !== 'entered' && t.on !== 'exited') throw bad('trigger.on', 'must be entered or exited')
  let delay: string | null = null
  if (t.delay !== undefined && t.delay !== null) {
    const ms = typeof t.delay === 'string' ? parseDuration(t.delay) : null
    if (ms === null || ms < 0) throw bad('trigger.delay', 'must be a duration like "30m" or "2d"')
    delay = ms === 0 ? null : (t.delay as string)
  }
  const history = t.history ?? 'skip'
  if (typeof history !== 'string' || !HISTORY.includes(history as AutomationHistory)) {
    const near = typeof history === 'string' ? closestName(history, HISTORY) : null
    throw bad(
      'trigger.history',
      `${JSON.stringify(history)} must be skip or run${near ? ` (did you mean ${near}?)` : ''}: whether historical transitions (imports, messages or timers processed late) run the actions`,
    )
  }
  let conditions: JsonValue | null = null
  if (body.conditions !== undefined && body.conditions !== null) {
    const r = parseRule(body.conditions)
    if (!r.ok) {
      const i = r.issues[0]!
      throw new SegflowError(
        'invalid_rule',
        `conditions${i.path ? `.${i.path}` : ''}: ${i.message}`,
        {
          details: {
            issues: r.issues.map((x) => ({
              path: `conditions.${formatPath(x.at)}`,
              message: x.message,
            })),
          },
        },
      )
    }
    for (const ref of segmentRefs(r.rule)) {
      if (!refs.segments.has(ref))
        throw new SegflowError(
          'invalid_rule',
          `conditions: segment ${JSON.stringify(ref)} does not exist`,
        )
    }
    conditions = body.conditions as JsonValue
  }
  if (!Array.isArray(body.actions) || body.actions.length === 0)
    throw bad('actions', 'must be a non-empty list of actions')
  if (body.actions.length > MAX_ACTIONS) throw bad('actions', `at most ${MAX_ACTIONS} actions`)
  const actions = body.actions.map((a, i): AutomationAction => {
    const path = `actions[${i}]`
    if (!isPlainObject(a)) throw bad(path, 'must be an object like {"type": "send_email", …}')
    const type = a.type as AutomationAction['type']
    if (typeof type !== 'string' || !Object.hasOwn(ACTION_FIELDS, type))
      throw bad(`${path}.type`, `must be one of ${Object.keys(ACTION_FIELDS).join(', ')}`)
    only(a, path, ['type', ...ACTION_FIELDS[type]])
    switch (type) {
      case 'send_email': {
        const template = text(a, 'template', path)
        if (!refs.templates.has(template))
          throw bad(`${path}.template`, `template ${JSON.stringify(template)} does not exist`)
        const category = a.category ?? 'marketing'
        if (typeof category !== 'string' || !CATEGORIES.includes(category))
          throw bad(`${path}.category`, `must be one of ${CATEGORIES.join(', ')}`)
        return { type, template, category }
      }
      case 'webhook': {
        const webhook = text(a, 'webhook', path)
        if (!refs.webhooks.has(webhook))
          throw bad(`${path}.webhook`, `webhook ${JSON.stringify(webhook)} does not exist`)
        return { type, webhook }
      }
      case 'set_trait':
        if (a.value === undefined || a.value === null)
          throw bad(`${path}.value`, 'is required (use unset_trait to remove a trait)')
        return { type, trait: text(a, 'trait', path), value: a.value as JsonValue }
      case 'unset_trait':
        return { type, trait: text(a, 'trait', path) }
      case 'add_tag':
      case 'remove_tag':
        return { type, tag: text(a, 'tag', path) }
    }
  })
  return {
    name: typeof body.name === 'string' ? body.name : '',
    enabled: body.enabled !== false,
    trigger: { segment, on: t.on, delay, history: history as AutomationHistory },
    conditions,
    actions,
  }
}

function definitionOf(a: AutomationRecord): AutomationDefinition {
  const d = a.definition as unknown as AutomationDefinition
  // Saved before the option existed: the default.
  return d.trigger.history ? d : { ...d, trigger: { ...d.trigger, history: 'skip' } }
}

function delayMs(d: AutomationDefinition): number {
  return d.trigger.delay === null ? 0 : (parseDuration(d.trigger.delay) ?? 0)
}

export interface AutomationView extends AutomationDefinition {
  readonly key: string
  readonly createdAt: string
  readonly updatedAt: string
}

export interface RunView {
  readonly automation: string
  readonly transitionId: string
  readonly profileId: string
  readonly segment: string
  readonly type: string
  readonly status: RunStatus
  readonly dueAt: string
  readonly step: number
  readonly attempts: number
  readonly detail: string | null
}

const iso = (ms: number) => new Date(ms).toISOString()

function view(a: AutomationRecord): AutomationView {
  return {
    key: a.key,
    ...definitionOf(a),
    createdAt: iso(a.createdAt),
    updatedAt: iso(a.updatedAt),
  }
}

/** A run's place in its automation's list, opaque to clients. */
function encodeRunCursor(r: AutomationRunRecord): string {
  return Buffer.from(JSON.stringify([r.createdAt, r.transitionId])).toString('base64url')
}

function decodeRunCursor(cursor: string): { createdAt: number; transitionId: string } {
  let v: unknown = null
  try {
    v = JSON.parse(Buffer.from(cursor, 'base64url').toString())
  } catch {
    // Not JSON: refused below like any other cursor this API did not return.
  }
  if (
    !Array.isArray(v) ||
    v.length !== 2 ||
    !Number.isSafeInteger(v[0]) ||
    typeof v[1] !== 'string'
  )
    throw new SegflowError(
      'invalid_request',
      `cursor ${JSON.stringify(cursor)} is not one this API returned`,
    )
  return { createdAt: v[0] as number, transitionId: v[1] }
}

function runView(r: AutomationRunRecord): RunView {
  return {
    automation: r.automationKey,
    transitionId: r.transitionId,
    profileId: r.profileId,
    segment: r.segmentKey,
    type: r.transitionType,
    status: r.status,
    dueAt: iso(r.dueAt),
    step: r.step,
    attempts: r.attempts,
    detail: r.detail,
  }
}

/** What an automation can depend on. */
export type Dependency = 'segment' | 'template' | 'webhook'

/** The automations (keys) whose trigger, conditions or actions use a segment, template or webhook. */
export async function automationsUsing(
  store: Store,
  workspaceId: string,
  kind: Dependency,
  key: string,
): Promise<string[]> {
  const out: string[] = []
  for (const a of await store.messaging.listAutomations(workspaceId)) {
    const d = definitionOf(a)
    let uses = false
    if (kind === 'segment') {
      const parsed = d.conditions === null ? null : parseRule(d.conditions)
      uses =
        d.trigger.segment === key || (parsed?.ok === true && segmentRefs(parsed.rule).includes(key))
    } else if (kind === 'template') {
      uses = d.actions.some((x) => x.type === 'send_email' && x.template === key)
    } else {
      uses = d.actions.some((x) => x.type === 'webhook' && x.webhook === key)
    }
    if (uses) out.push(a.key)
  }
  return out
}

/** `/api/automations`: definitions and their runs. */
export class AutomationService {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly segmentKeys: (workspaceId: string) => ReadonlySet<string>,
  ) {}

  async list(workspaceId: string): Promise<AutomationView[]> {
    return (await this.store.messaging.listAutomations(workspaceId)).map(view)
  }

  async get(workspaceId: string, key: string): Promise<AutomationView> {
    return view(await this.record(workspaceId, key))
  }

  async put(
    workspaceId: string,
    key: string,
    body: unknown,
  ): Promise<{ automation: AutomationView; created: boolean }> {
    if (!KEY.test(key))
      throw new SegflowError(
        'invalid_request',
        `automation key ${JSON.stringify(key)} must be lower-case letters, digits, - and _`,
      )
    const [templates, webhooks] = await Promise.all([
      this.store.messaging.listTemplates(workspaceId),
      this.store.delivery.listWebhooks(workspaceId),
    ])
    const definition = parseAutomation(body, {
      segments: this.segmentKeys(workspaceId),
      templates: new Set(templates.map((t) => t.key)),
      webhooks: new Set(webhooks.map((w) => w.id)),
    })
    const now = this.clock.now()
    return this.store.write(async (tx) => {
      const existing = (await tx.messaging.listAutomations(workspaceId)).find((a) => a.key === key)
      // A new automation acts on what happens from now on, never on past transitions.
      const record: AutomationRecord = {
        workspaceId,
        key,
        definition: definition as unknown as JsonValue,
        from: existing?.from ?? (await tx.delivery.outboxMark()),
        createdAt: existing?.createdAt ?? now,
        updatedAt: now,
      }
      await tx.messaging.upsertAutomation(record)
      return { automation: view(record), created: existing === undefined }
    })
  }

  async remove(workspaceId: string, key: string): Promise<void> {
    const gone = await this.store.write((tx) => tx.messaging.deleteAutomation(workspaceId, key))
    if (!gone) throw notFound(key)
  }

  /**
   * One page of an automation's runs, oldest first: `nextCursor` (null on the last page) asks
   * for the next one, like every other paged list.
   */
  async runs(
    workspaceId: string,
    key: string,
    q: { limit: number; cursor: string | null },
  ): Promise<{ items: RunView[]; nextCursor: string | null }> {
    await this.record(workspaceId, key)
    const rows = await this.store.messaging.listRuns(workspaceId, {
      automationKey: key,
      limit: q.limit + 1,
      after: q.cursor === null ? null : decodeRunCursor(q.cursor),
    })
    const page = rows.slice(0, q.limit)
    const last = page[page.length - 1]
    return {
      items: page.map(runView),
      nextCursor: rows.length > q.limit && last ? encodeRunCursor(last) : null,
    }
  }

  private async record(workspaceId: string, key: string): Promise<AutomationRecord> {
    const a = (await this.store.messaging.listAutomations(workspaceId)).find((x) => x.key === key)
    if (!a) throw notFound(key)
    return a
  }
}

function notFound(key: string): SegflowError {
  return new SegflowError('not_found', `no automation ${JSON.stringify(key)} in this workspace`)
}

/** The outbox consumer name of the automation fan-out. */
export const AUTOMATION_CURSOR = 'automations'

/**
 * Reads the transition outbox from where it left off and schedules one run per matching
 * automation and transition, in the same transaction as the new read position. Runs are keyed
 * by (automation, transition): reading a transition twice schedules nothing twice.
 */
export async function automationFanOut(
  tx: WriteTx,
  now: number,
  limit = 500,
): Promise<{ created: number; more: boolean }> {
  let automations: AutomationRecord[] = []
  return consumeOutbox(
    tx,
    AUTOMATION_CURSOR,
    limit,
    async () => {
      automations = (await tx.messaging.listAutomations()).filter((a) => definitionOf(a).enabled)
      return listenedSegments(automations.map((a) => [definitionOf(a).trigger.segment]))
    },
    (transitions) => tx.messaging.insertRuns(runsFor(automations, transitions, now)),
  )
}

function runsFor(
  automations: readonly AutomationRecord[],
  transitions: readonly StoredTransition[],
  now: number,
): AutomationRunRecord[] {
  const rows: AutomationRunRecord[] = []
  for (const t of transitions) {
    if (!TRIGGERING.has(t.reason)) continue
    for (const a of automations) {
      const d = definitionOf(a)
      if (
        a.workspaceId !== t.workspaceId ||
        !isAfterMark(a.from, t) ||
        d.trigger.segment !== t.segmentKey ||
        `segment.${d.trigger.on}` !== t.type
      )
        continue
      // Recorded, not silently dropped: the runs list says why nothing was sent.
      const skip = t.historical && d.trigger.history === 'skip'
      rows.push({
        workspaceId: t.workspaceId,
        automationKey: a.key,
        transitionId: t.id,
        transitionSeq: t.seq,
        transitionAt: t.at,
        profileId: t.profileId,
        segmentKey: t.segmentKey,
        transitionType: t.type,
        dueAt: skip ? t.at : t.at + delayMs(d),
        status: skip ? 'skipped' : 'scheduled',
        step: 0,
        attempts: 0,
        detail: skip
          ? `historical transition (reason ${t.reason}): not acted on, as trigger.history is skip (set it to run to act on history)`
          : null,
        createdAt: now,
        updatedAt: now,
      })
    }
  }
  return rows
}

export interface AutomationRunnerOptions {
  readonly mailer: Mailer
  /** Commits messages (trait and tag changes) as ingestion does. */
  readonly submit: (messages: readonly Message[]) => Promise<WriteOutcome[]>
  /** Wakes the webhook worker after a webhook action queued a delivery. */
  readonly kickDeliveries: () => void
  readonly timers?: TimerHost
  readonly random?: () => number
  readonly onError?: (e: unknown) => void
  /** How a workspace's conditions are desugared (its scoring models). Default: no models. */
  readonly desugarContext?: (workspaceId: string) => DesugarContext
}

type StepResult = { readonly ok: string } | { readonly retry: string } | { readonly fail: string }

/** A stable id for everything one step of one run does. */
function stepKey(r: AutomationRunRecord, step: number): string {
  return createHash('sha256')
    .update(`${r.workspaceId}\u0000${r.automationKey}\u0000${r.transitionId}\u0000${step}`)
    .digest('base64url')
    .slice(0, 24)
}

/**
 * Runs automation actions when they fall due. Every action of a run happens once: the run
 * records the next step after each action, and each action is idempotent on its own (emails
 * by a send id, webhook deliveries by a delivery id, trait changes by a message id), so a
 * crash between doing and recording repeats nothing. It wakes on new transitions and when the
 * next delayed run is due; it never polls.
 */
export class AutomationRunner {
  private readonly pump: Pump
  private readonly random: () => number

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly options: AutomationRunnerOptions,
  ) {
    this.random = options.random ?? Math.random
    this.pump = new Pump(
      clock,
      options.timers ?? realTimers,
      (stopping) => this.runDue(stopping),
      () => store.messaging.nextRunDue(),
      options.onError,
    )
  }

  start(): void {
    this.pump.start()
  }

  stop(): Promise<void> {
    return this.pump.stop()
  }

  kick(): void {
    this.pump.kick()
  }

  /** Schedules runs for new transitions, then runs what is due. Returns how many runs ended. */
  async runDue(stopping?: AbortSignal): Promise<number> {
    // Transitions held back by an open transaction (PostgreSQL) are waited for briefly; after
    // that they are read on a later run, when the next transition is written.
    await this.store.delivery.settleOutbox()
    for (;;) {
      if (stopping?.aborted) return 0
      const r = await this.store.write((tx) => automationFanOut(tx, this.clock.now()))
      if (!r.more) break
    }
    let ended = 0
    for (;;) {
      const due = await this.store.write((tx) => tx.messaging.dueRuns(this.clock.now(), 100))
      if (due.length === 0) return ended
      let progressed = false
      for (const run of due) {
        // A stop lets the run in progress finish; the others are run after the next start.
        if (stopping?.aborted) return ended
        const after = await this.runOne(run)
        if (after.status !== 'scheduled') ended++
        if (after.status !== 'scheduled' || after.dueAt > this.clock.now()) progressed = true
      }
      if (!progressed) return ended
    }
  }

  private async finish(
    run: AutomationRunRecord,
    status: RunStatus,
    detail: string | null,
    changes: Partial<AutomationRunRecord> = {},
  ): Promise<AutomationRunRecord> {
    const next = { ...run, ...changes, status, detail, updatedAt: this.clock.now() }
    await this.store.write((tx) => tx.messaging.updateRun(next))
    return next
  }

  private async runOne(run: AutomationRunRecord): Promise<AutomationRunRecord> {
    const a = (await this.store.messaging.listAutomations(run.workspaceId)).find(
      (x) => x.key === run.automationKey,
    )
    if (!a) return this.finish(run, 'skipped', 'automation deleted')
    const d = definitionOf(a)
    if (!d.enabled) return this.finish(run, 'skipped', 'automation disabled')
    const profileId = await this.store.resolveProfileId(run.workspaceId, run.profileId)
    if (profileId === null) return this.finish(run, 'skipped', 'the person no longer exists')
    if (run.step === 0) {
      const why = await this.blocked(run, d, profileId)
      if (why) return this.finish(run, 'skipped', why)
    }
    let current = run
    const notes = run.detail ? [run.detail] : []
    for (let step = run.step; step < d.actions.length; step++) {
      let result: StepResult
      try {
        result = await this.act(current, step, d.actions[step]!, profileId)
      } catch (e) {
        result = { retry: (e as Error).message }
      }
      if ('fail' in result)
        return this.finish(current, 'failed', [...notes, result.fail].join('; '))
      if ('retry' in result) {
        const wait = retryDelay(current.attempts + 1, this.random)
        if (wait === null)
          return this.finish(current, 'failed', [...notes, `gave up: ${result.retry}`].join('; '))
        return this.finish(
          current,
          'scheduled',
          [...notes, `retrying: ${result.retry}`].join('; '),
          {
            attempts: current.attempts + 1,
            dueAt: this.clock.now() + wait,
          },
        )
      }
      notes.push(result.ok)
      current = await this.finish(current, 'scheduled', notes.join('; '), {
        step: step + 1,
        attempts: 0,
      })
    }
    return this.finish(current, 'done', notes.join('; '))
  }

  /**
   * Why a run should not act: a delayed run whose person has moved since (left again, or
   * came back, after the transition), or conditions the person does not meet now.
   */
  private async blocked(
    run: AutomationRunRecord,
    d: AutomationDefinition,
    profileId: string,
  ): Promise<string | null> {
    if (delayMs(d) > 0) {
      const later = await this.store.listTransitions(run.workspaceId, {
        afterSeq: run.transitionSeq,
        profileId: run.profileId,
        segmentKey: run.segmentKey,
        limit: 1,
      })
      const member = (await this.store.profileMemberships(run.workspaceId, profileId)).some(
        (m) => m.segmentKey === run.segmentKey,
      )
      const want = run.transitionType === 'segment.entered'
      if (later.length > 0 || member !== want)
        return want ? 'no longer in the segment' : 'back in the segment'
    }
    if (d.conditions !== null) {
      const parsed = parseRule(d.conditions)
      if (!parsed.ok) return 'conditions no longer parse'
      if (
        !(await this.matches(
          run.workspaceId,
          desugar(parsed.rule, this.options.desugarContext?.(run.workspaceId)),
          profileId,
        ))
      )
        return 'conditions not met'
    }
    return null
  }

  /** Whether the person matches a rule now, over everything stored (the SQL evaluator). */
  private async matches(workspaceId: string, rule: CoreRule, profileId: string): Promise<boolean> {
    const c = new RuleCompiler(dialectFor(this.store.kind))
    const q = c.render(
      sql`SELECT 1 AS hit FROM profiles p WHERE p.workspace_id = ${param(workspaceId, 'text')} AND p.id = ${param(profileId, 'text')} AND p.merged_into IS NULL AND ${c.expression(rule, this.clock.now())}`,
    )
    return (await this.store.query(q.sql, q.params)).length > 0
  }

  private async act(
    run: AutomationRunRecord,
    step: number,
    action: AutomationAction,
    profileId: string,
  ): Promise<StepResult> {
    const key = stepKey(run, step)
    switch (action.type) {
      case 'send_email': {
        const out = await this.options.mailer.send({
          workspaceId: run.workspaceId,
          profileId,
          template: action.template,
          category: action.category,
          idempotencyKey: `automation:${key}`,
          automationKey: run.automationKey,
          transitionId: run.transitionId,
        })
        if (out.status === 'sent') return { ok: `email ${out.sendId} sent` }
        if (out.status === 'skipped') return { ok: `email skipped: ${out.reason}` }
        return out.permanent
          ? { fail: `email failed: ${out.error}` }
          : { retry: `email: ${out.error}` }
      }
      case 'webhook':
        return this.queueWebhook(run, step, action.webhook, profileId)
      case 'set_trait':
      case 'unset_trait':
        await this.identify(run, key, profileId, {
          [action.trait]: action.type === 'set_trait' ? action.value : null,
        })
        return { ok: `${action.type} ${action.trait}` }
      case 'add_tag':
      case 'remove_tag': {
        const p = await this.store.getProfile(run.workspaceId, profileId)
        const current = p?.traits[TAGS_TRAIT]
        const tags = Array.isArray(current) ? current.filter((x) => typeof x === 'string') : []
        const next =
          action.type === 'add_tag'
            ? tags.includes(action.tag)
              ? tags
              : [...tags, action.tag]
            : tags.filter((x) => x !== action.tag)
        await this.identify(run, key, profileId, { [TAGS_TRAIT]: next })
        return { ok: `${action.type} ${action.tag}` }
      }
    }
  }

  /** A trait change for the person, as an identify with a message id unique to this step. */
  private async identify(
    run: AutomationRunRecord,
    key: string,
    profileId: string,
    traits: JsonObject,
  ): Promise<void> {
    const [outcome] = await this.options.submit([
      traitUpdate({
        workspaceId: run.workspaceId,
        profileId,
        messageId: `automation-${key}`,
        traits,
        now: this.clock.now(),
        library: 'segflow-automation',
        payload: { automation: run.automationKey },
      }),
    ])
    if (!outcome) throw new Error('the trait change was not written')
  }

  private async queueWebhook(
    run: AutomationRunRecord,
    step: number,
    webhookId: string,
    profileId: string,
  ): Promise<StepResult> {
    const now = this.clock.now()
    const result = await this.store.write(async (tx): Promise<StepResult> => {
      const hooks = await tx.delivery.listWebhooks(run.workspaceId)
      if (!hooks.some((w) => w.id === webhookId))
        return { fail: `webhook ${webhookId} no longer exists` }
      const [profile] = await tx.loadProfiles(run.workspaceId, [profileId])
      const identities = await tx.delivery.identitiesOf(run.workspaceId, [profileId])
      const destination = `webhook:${webhookId}`
      const delivery: DeliveryRecord = {
        workspaceId: run.workspaceId,
        id: deliveryId(run.transitionId, `automation:${run.automationKey}:${step}:${destination}`),
        destination,
        profileId,
        transitionSeq: run.transitionSeq,
        payload: {
          type: 'automation.action',
          timestamp: iso(now),
          data: {
            automation: run.automationKey,
            step,
            transition: {
              id: run.transitionId,
              type: run.transitionType,
              at: iso(run.transitionAt),
              segment: { key: run.segmentKey },
            },
            profile: {
              ...profileSnapshot(profileId, profile, identities),
              traits: profile?.traits ?? {},
            },
          },
        },
        status: 'pending',
        attempts: 0,
        nextAttemptAt: now,
        lastStatus: null,
        lastError: null,
        createdAt: now,
        updatedAt: now,
      }
      const n = await tx.delivery.insertDeliveries([delivery])
      return {
        ok:
          n > 0
            ? `webhook delivery ${delivery.id} queued`
            : `webhook delivery ${delivery.id} already queued`,
      }
    })
    this.options.kickDeliveries()
    return result
  }
}
