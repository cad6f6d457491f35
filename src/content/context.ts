import type { Insight } from '../engine/insights.js'
import { isStageKey } from '../rules/desugar.js'
import type { JsonObject } from '../shared/json.js'
import type { ProfileRecord } from '../store/store.js'

// Lifecycle stages are segments too, but templates see them as `lifecycle`, not as segments.
const isStage = isStageKey

/**
 * The person's one segment for templates: of the segments they are in, the one with the
 * highest priority (ties go to the first key in order); null when in none.
 */
export function primarySegment(
  memberships: readonly string[],
  priority: ReadonlyMap<string, number>,
): string | null {
  let best: string | null = null
  for (const key of memberships.filter((k) => !isStage(k)).sort()) {
    if (best === null || (priority.get(key) ?? 0) > (priority.get(best) ?? 0)) best = key
  }
  return best
}

/**
 * What a template sees: `profile`, `traits`, `segments` (keys the person is in),
 * `recipient.segment` (the highest-priority one), `computed` (fields like purchase_count),
 * `scores` (by model), `lifecycle` (the stage key, or nil) and `unsubscribe_url`.
 */
export function templateContext(
  p: ProfileRecord,
  memberships: readonly string[],
  priority: ReadonlyMap<string, number>,
  extra: {
    now: number
    unsubscribeUrl: string
    email: string | null
    insight?: Insight | null
  },
): JsonObject {
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString())
  const segments = memberships.filter((k) => !isStage(k)).sort()
  const insight = extra.insight ?? null
  const lifecycle = insight?.lifecycle?.stage ?? null
  return {
    profile: {
      id: p.id,
      user_id: p.userId,
      email: extra.email,
      first_seen: iso(p.firstSeen),
      last_seen: iso(p.lastSeen),
      traits: p.traits,
      lifecycle,
    },
    traits: p.traits,
    segments,
    recipient: { segment: primarySegment(segments, priority), email: extra.email },
    computed: insight ? ({ ...insight.computed } as JsonObject) : {},
    scores: insight ? insight.scores : {},
    lifecycle,
    unsubscribe_url: extra.unsubscribeUrl,
    now: iso(extra.now),
  }
}
