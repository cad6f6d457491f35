import { isStageKey, stageSegment } from '../rules/desugar.js'
import { DEFAULT_STAGES, parseLifecycle, stageRules } from '../scoring/lifecycle.js'
import type { Stage } from '../scoring/lifecycle.js'
import type { Clock } from '../shared/clock.js'
import { SegflowError } from '../shared/errors.js'
import type { JsonValue } from '../shared/json.js'
import type { Store } from '../store/store.js'
import type { Engine } from './engine.js'
import type { SegmentService } from './segment-service.js'

export interface StageView {
  readonly key: string
  readonly name: string
  readonly description: string
  readonly rule: JsonValue
  /** The segment holding the stage's people: webhooks and automations use this key. */
  readonly segment: string
  readonly size: number
}

export interface LifecycleView {
  readonly enabled: boolean
  readonly stages: readonly StageView[]
  /** When not enabled: what `{"preset": "default"}` would install. */
  readonly defaults?: readonly Stage[]
}

/**
 * Lifecycle stages (`/api/lifecycle`): an ordered list of rules, first match wins. Each stage
 * is kept as a segment `lifecycle-<stage>` whose rule is the stage's rule and none of the
 * earlier ones, so a person is in at most one stage, moves between stages at the exact instant
 * (a stage change is an exit and an entry, which webhooks and automations see), and rules
 * can say `lifecycle: at_risk`.
 */
export class LifecycleService {
  constructor(
    private readonly store: Store,
    private readonly engine: Engine,
    private readonly segments: SegmentService,
    private readonly clock: Clock,
  ) {}

  async get(workspaceId: string): Promise<LifecycleView> {
    const stages = await this.stages(workspaceId)
    if (stages === null) return { enabled: false, stages: [], defaults: DEFAULT_STAGES }
    const sizes = await this.store.segmentSizes(workspaceId)
    return {
      enabled: true,
      stages: stages.map((s) => ({
        ...s,
        segment: stageSegment(s.key),
        size: sizes.get(stageSegment(s.key)) ?? 0,
      })),
    }
  }

  /** Installs or changes the stages; stages no longer listed are deleted (their people exit). */
  async put(workspaceId: string, body: unknown): Promise<LifecycleView> {
    const parsed = parseLifecycle(body)
    if (!parsed.ok) {
      throw new SegflowError(
        'invalid_lifecycle',
        `the lifecycle is not valid: ${parsed.issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('; ')}`,
        { details: { issues: parsed.issues.map((i) => ({ path: i.path, message: i.message })) } },
      )
    }
    const wanted = stageRules(parsed.value.stages)
    const keep = new Set(wanted.map((w) => w.key))
    const dropped = this.stageSegments(workspaceId).filter((k) => !keep.has(k))
    await this.refuseIfReferenced(workspaceId, dropped)
    await this.store.write((tx) =>
      tx.scoring.putLifecycle({
        workspaceId,
        definition: { stages: parsed.value.stages.map((s) => ({ ...s })) } as JsonValue,
        updatedAt: this.clock.now(),
      }),
    )
    for (const w of wanted) {
      await this.segments.publish(
        workspaceId,
        w.key,
        {
          name: w.stage.name,
          description: w.stage.description || `Lifecycle stage ${w.stage.key}`,
          rule: w.rule,
        },
        { system: true },
      )
    }
    for (const k of dropped) await this.segments.remove(workspaceId, k, { system: true })
    return this.get(workspaceId)
  }

  /** Turns lifecycle stages off: every stage segment is deleted (its people exit). */
  async remove(workspaceId: string): Promise<void> {
    const stages = this.stageSegments(workspaceId)
    await this.refuseIfReferenced(workspaceId, stages)
    for (const k of stages) await this.segments.remove(workspaceId, k, { system: true })
    await this.store.write((tx) => tx.scoring.deleteLifecycle(workspaceId))
  }

  /** Which stage a person is in, and why: each stage's explanation, in order. */
  async explain(workspaceId: string, profileRef: string) {
    const stages = await this.stages(workspaceId)
    if (stages === null)
      throw new SegflowError(
        'not_found',
        'lifecycle stages are not enabled; PUT /api/lifecycle first',
      )
    const out = []
    let profile = profileRef
    let current: { stage: string; since: string | null } | null = null
    for (const s of stages) {
      const e = await this.segments.explain(workspaceId, profileRef, stageSegment(s.key))
      profile = e.profile
      if (e.member) current = { stage: s.key, since: e.since }
      out.push({ stage: s.key, name: s.name, member: e.member, explanation: e.explanation })
    }
    return {
      profile,
      stage: current?.stage ?? null,
      since: current?.since ?? null,
      stages: out,
    }
  }

  private async stages(workspaceId: string): Promise<Stage[] | null> {
    const [row] = await this.store.write((tx) => tx.scoring.listLifecycles(workspaceId))
    if (!row) return null
    const parsed = parseLifecycle(row.definition)
    if (!parsed.ok) throw new Error(`stored lifecycle of ${workspaceId} does not parse`)
    return [...parsed.value.stages]
  }

  private stageSegments(workspaceId: string): string[] {
    return [...(this.engine.segments(workspaceId)?.segments.keys() ?? [])].filter(isStageKey)
  }

  /** A stage other segments refer to cannot be dropped until they no longer do. */
  private async refuseIfReferenced(workspaceId: string, keys: readonly string[]): Promise<void> {
    const segs = this.engine.segments(workspaceId)
    for (const k of keys) {
      const users = [
        ...(segs?.referrers(k) ?? []).filter((r) => !isStageKey(r)),
        ...(await this.segments.users(workspaceId, k)),
      ]
      if (users.length > 0)
        throw new SegflowError(
          'segment_in_use',
          `lifecycle stage ${k} is used by ${users.join(', ')}; change those first`,
          { details: { usedBy: users } },
        )
    }
  }
}
