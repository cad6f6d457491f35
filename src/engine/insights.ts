import type { ScoreModel } from '../rules/types.js'
import type { Clock } from '../shared/clock.js'
import { dialectFor, profileValues, RuleCompiler } from '../sql/index.js'
import type { MembershipRecord, Store } from '../store/store.js'
import type { Engine } from './engine.js'
import { isStageKey, STAGE_PREFIX } from '../rules/desugar.js'

/** Computed fields of a person, as the profile API and templates show them. */
export interface ComputedFields {
  readonly last_purchase_at: string | null
  readonly purchase_count: number
  readonly total_revenue: number
  /** Whole days since first seen; null when never seen. */
  readonly account_age_days: number | null
  readonly last_email_opened_at: string | null
  readonly last_email_clicked_at: string | null
  /** Engagements (track, page and screen events) in the last 7 days, and in the 7 before. */
  readonly engagement_this_week: number
  readonly engagement_last_week: number
  /** This week's engagements minus last week's. */
  readonly engagement_velocity: number
}

export interface CriterionPoints {
  readonly criterion: string
  readonly kind: 'rule' | 'event'
  readonly points: number
}

export interface ScoreBreakdown {
  readonly score: number
  readonly criteria: readonly CriterionPoints[]
}

export interface LifecycleStage {
  readonly stage: string
  readonly name: string
  readonly since: string
}

export interface Insight {
  readonly scores: Record<string, number>
  readonly breakdowns: Record<string, ScoreBreakdown>
  readonly computed: ComputedFields
  readonly lifecycle: LifecycleStage | null
}

const DAY = 86_400_000
const iso = (v: unknown) =>
  v === null || v === undefined ? null : new Date(Number(v)).toISOString()
const n = (v: unknown) => (v === null || v === undefined ? 0 : Number(v))

/**
 * What segflow derives about a person beyond their traits: every scoring model's score (with
 * each criterion's part), the computed fields and the lifecycle stage, at one instant. Scores
 * and fields come from one SQL query over everything stored, so they mean exactly what the
 * same names mean in rules; the stage is the lifecycle segment the person is in.
 */
export class ProfileInsights {
  constructor(
    private readonly store: Store,
    private readonly engine: Engine,
    private readonly clock: Clock,
  ) {}

  /**
   * Insights of several profiles; `memberships` (by profile id), when the caller has already
   * read them, saves reading them again for the stage.
   */
  async forProfiles(
    workspaceId: string,
    ids: readonly string[],
    memberships?: ReadonlyMap<string, readonly MembershipRecord[]>,
  ): Promise<Map<string, Insight>> {
    const now = this.clock.now()
    const models = [...this.engine.models(workspaceId).models.values()].map((m) => m.model)
    const q = profileValues(new RuleCompiler(dialectFor(this.store.kind)), models, {
      workspaceId,
      ids,
      now,
    })
    const [rows, stages] = await Promise.all([
      this.store.query(q.sql, q.params),
      this.stages(workspaceId, ids, memberships),
    ])
    const out = new Map<string, Insight>()
    for (const r of rows) {
      const id = String(r.id)
      const breakdowns: Record<string, ScoreBreakdown> = {}
      const scores: Record<string, number> = {}
      models.forEach((m, i) => {
        const b = breakdown(m, (j) => n(r[`score_${i}_${j}`]))
        breakdowns[m.key] = b
        scores[m.key] = b.score
      })
      const firstSeen = r.first_seen === null || r.first_seen === undefined ? null : n(r.first_seen)
      const thisWeek = n(r.engaged_this_week)
      const lastWeek = n(r.engaged_last_week)
      out.set(id, {
        scores,
        breakdowns,
        computed: {
          last_purchase_at: iso(r.last_purchase_at),
          purchase_count: n(r.purchase_count),
          total_revenue: n(r.total_revenue_micro) / 1_000_000,
          account_age_days: firstSeen === null ? null : Math.floor((now - firstSeen) / DAY),
          last_email_opened_at: iso(r.last_email_opened_at),
          last_email_clicked_at: iso(r.last_email_clicked_at),
          engagement_this_week: thisWeek,
          engagement_last_week: lastWeek,
          engagement_velocity: thisWeek - lastWeek,
        },
        lifecycle: stages.get(id) ?? null,
      })
    }
    return out
  }

  async forProfile(
    workspaceId: string,
    id: string,
    memberships?: readonly MembershipRecord[],
  ): Promise<Insight | null> {
    const known = memberships ? new Map([[id, memberships]]) : undefined
    return (await this.forProfiles(workspaceId, [id], known)).get(id) ?? null
  }

  /** The lifecycle stage of each profile: the stage segment it is in (stages never overlap). */
  private async stages(
    workspaceId: string,
    ids: readonly string[],
    known?: ReadonlyMap<string, readonly MembershipRecord[]>,
  ): Promise<Map<string, LifecycleStage>> {
    const segs = this.engine.segments(workspaceId)
    const out = new Map<string, LifecycleStage>()
    if (!segs || ![...segs.segments.keys()].some(isStageKey)) return out
    for (const id of ids) {
      const held = known?.get(id) ?? (await this.store.profileMemberships(workspaceId, id))
      for (const m of held) {
        if (!isStageKey(m.segmentKey)) continue
        out.set(id, {
          stage: m.segmentKey.slice(STAGE_PREFIX.length),
          name: segs.segments.get(m.segmentKey)?.record.name ?? m.segmentKey,
          since: new Date(m.enteredAt).toISOString(),
        })
      }
    }
    return out
  }
}

function breakdown(m: ScoreModel, points: (j: number) => number): ScoreBreakdown {
  const criteria = m.criteria.map((c, j) => ({
    criterion: c.name,
    kind: c.kind,
    points: points(j) / 1_000_000,
  }))
  const micro = m.criteria.reduce((s, _, j) => s + points(j), 0)
  return { score: micro / 1_000_000, criteria }
}
