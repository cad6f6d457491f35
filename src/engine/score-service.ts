import { scoreRefs } from '../rules/desugar.js'
import { parseRule } from '../rules/parse.js'
import type { RuleIssue } from '../rules/parse.js'
import { formatDuration } from '../shared/time.js'
import { MODEL_KEY, parseModel, PRESETS } from '../scoring/model.js'
import type { Clock } from '../shared/clock.js'
import { SegflowError } from '../shared/errors.js'
import type { JsonValue } from '../shared/json.js'
import type { Store } from '../store/store.js'
import type { Engine } from './engine.js'
import type { ProfileInsights, ScoreBreakdown } from './insights.js'
import type { SegmentService } from './segment-service.js'
import { unknownProfile } from './unknown-profile.js'

export interface ScoreModelView {
  readonly key: string
  readonly name: string
  readonly description: string
  /** e.g. "14d"; null without decay. */
  readonly halfLife: string | null
  readonly criteria: readonly {
    name: string
    kind: 'rule' | 'event'
    points: number
    cap: number | null
  }[]
  /** The definition as written. */
  readonly definition: JsonValue
  /** Segments whose latest rule uses the model. */
  readonly usedBy: readonly string[]
  readonly createdAt: string
  readonly updatedAt: string
}

const iso = (ms: number) => new Date(ms).toISOString()

function invalidModel(issues: readonly RuleIssue[]): SegflowError {
  return new SegflowError(
    'invalid_model',
    `the scoring model is not valid: ${issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('; ')}`,
    { details: { issues: issues.map((i) => ({ path: i.path, message: i.message })) } },
  )
}

/**
 * Scoring models (`/api/scores`). Putting a model publishes a new version of every segment
 * that uses it, so memberships follow the new definition exactly (reason `rule_change`).
 */
export class ScoreService {
  constructor(
    private readonly store: Store,
    private readonly engine: Engine,
    private readonly segments: SegmentService,
    private readonly insights: ProfileInsights,
    private readonly clock: Clock,
  ) {}

  presets(): Record<string, JsonValue> {
    return { ...PRESETS }
  }

  async list(workspaceId: string): Promise<ScoreModelView[]> {
    const records = await this.store.write((tx) => tx.scoring.listScoreModels(workspaceId))
    return records.map((r) => this.view(workspaceId, r.key, r.definition, r.createdAt, r.updatedAt))
  }

  async get(workspaceId: string, key: string): Promise<ScoreModelView> {
    const r = (await this.store.write((tx) => tx.scoring.listScoreModels(workspaceId))).find(
      (m) => m.key === key,
    )
    if (!r) throw notFound(key)
    return this.view(workspaceId, r.key, r.definition, r.createdAt, r.updatedAt)
  }

  async put(
    workspaceId: string,
    key: string,
    body: unknown,
  ): Promise<{ model: ScoreModelView; created: boolean; republished: string[] }> {
    if (!MODEL_KEY.test(key))
      throw new SegflowError(
        'invalid_request',
        `model key ${JSON.stringify(key)} must be lower-case letters, digits, - and _ (at most 64)`,
      )
    // `GET /api/scores/presets` lists the presets: a model of that name could not be read.
    if (key === 'presets')
      throw new SegflowError(
        'invalid_request',
        'model key "presets" is reserved (GET /api/scores/presets lists the presets); choose another',
      )
    const parsed = parseModel(key, body)
    if (!parsed.ok) throw invalidModel(parsed.issues)
    const definition = body as JsonValue
    const now = this.clock.now()
    const { created, changed } = await this.store.write(async (tx) => {
      const existing = (await tx.scoring.listScoreModels(workspaceId)).find((m) => m.key === key)
      const same =
        existing !== undefined && JSON.stringify(existing.definition) === JSON.stringify(definition)
      if (!same)
        await tx.scoring.upsertScoreModel({
          workspaceId,
          key,
          definition,
          createdAt: existing?.createdAt ?? now,
          updatedAt: now,
        })
      await this.engine.refresh(tx, workspaceId)
      return { created: existing === undefined, changed: !same }
    })
    const republished = changed ? await this.segments.republishForModel(workspaceId, key) : []
    return { model: await this.get(workspaceId, key), created, republished }
  }

  async remove(workspaceId: string, key: string): Promise<void> {
    await this.get(workspaceId, key)
    const users = this.usedBy(workspaceId, key)
    if (users.length > 0)
      throw new SegflowError(
        'in_use',
        `scoring model ${key} is used by segment ${users.join(', ')}; change those first`,
        { details: { usedBy: users } },
      )
    await this.store.write(async (tx) => {
      await tx.scoring.deleteScoreModel(workspaceId, key)
      await this.engine.refresh(tx, workspaceId)
    })
  }

  /** A person's score under a model now, criterion by criterion. */
  async explain(
    workspaceId: string,
    profileRef: string,
    key: string,
  ): Promise<{ profile: string; model: string; at: string } & ScoreBreakdown> {
    await this.get(workspaceId, key)
    const id = await this.store.resolveProfileId(workspaceId, profileRef)
    const insight = id === null ? null : await this.insights.forProfile(workspaceId, id)
    if (id === null || !insight) throw await unknownProfile(this.store, workspaceId, profileRef)
    const b = insight.breakdowns[key]!
    return { profile: id, model: key, at: iso(this.clock.now()), ...b }
  }

  private usedBy(workspaceId: string, key: string): string[] {
    const out: string[] = []
    for (const seg of this.engine.segments(workspaceId)?.segments.values() ?? []) {
      for (const rule of [seg.record.rule, seg.record.liveRule]) {
        const parsed = rule === null ? null : parseRule(rule)
        if (parsed?.ok && scoreRefs(parsed.rule).includes(key)) {
          out.push(seg.key)
          break
        }
      }
    }
    return out.sort()
  }

  private view(
    workspaceId: string,
    key: string,
    definition: JsonValue,
    createdAt: number,
    updatedAt: number,
  ): ScoreModelView {
    const parsed = parseModel(key, definition)
    if (!parsed.ok) throw new Error(`stored scoring model ${key} does not parse`)
    const m = parsed.value
    return {
      key,
      name: m.name,
      description: m.description,
      halfLife: m.model.halfLife === null ? null : formatDuration(m.model.halfLife),
      criteria: m.model.criteria.map((c) => ({
        name: c.name,
        kind: c.kind,
        points: c.points,
        cap: c.kind === 'event' ? c.cap : null,
      })),
      definition,
      usedBy: this.usedBy(workspaceId, key),
      createdAt: iso(createdAt),
      updatedAt: iso(updatedAt),
    }
  }
}

function notFound(key: string): SegflowError {
  return new SegflowError(
    'model_not_found',
    `no scoring model ${JSON.stringify(key)} in this workspace`,
  )
}
