import type { ConsentMode } from '../privacy/consent.js'
import { VELOCITY } from '../scoring/points.js'
import { MAX_INSTANT } from '../shared/time.js'
import type { CoreRule, NumberTest, Rule, ScoreModel } from './types.js'
import { EMAIL_EVENTS } from './types.js'

/** What desugaring needs from around the rule. */
export interface DesugarContext {
  /** The workspace's scoring models, by key (a `score` condition carries its model). */
  readonly models?: (key: string) => ScoreModel | undefined
  /**
   * The workspace's consent mode, which `reachable: email` follows (as marketing email and
   * the segment's reachable count do). Default `opt_in`, as for a workspace with no settings.
   */
  readonly consentMode?: ConsentMode
}

/** Segments holding lifecycle stages are `lifecycle-<stage>`, managed by PUT /api/lifecycle. */
export const STAGE_PREFIX = 'lifecycle-'

/** The segment that holds the people in a lifecycle stage. */
export function stageSegment(stage: string): string {
  return `${STAGE_PREFIX}${stage}`
}

/** Whether a segment key is a lifecycle stage's segment. */
export function isStageKey(key: string): boolean {
  return key.startsWith(STAGE_PREFIX)
}

const DAY = 86_400_000
const PURCHASE = { type: 'track', name: 'Order Completed', where: [] } as const
const INSTANT_EVENTS = {
  last_purchase_at: 'Order Completed',
  last_email_opened_at: EMAIL_EVENTS.opened,
  last_email_clicked_at: EMAIL_EVENTS.clicked,
} as const

const all = (...rules: CoreRule[]): CoreRule => ({ kind: 'all', rules })
const not = (rule: CoreRule): CoreRule => ({ kind: 'not', rule })

/**
 * Account age in whole days, A = ⌊(now − first seen) / 1 day⌋, tested through first_seen:
 * A ≥ n ⇔ first seen at least n days ago. Values are 0 or more (parse checks).
 */
function accountAge(t: NumberTest): CoreRule {
  const known: CoreRule = {
    kind: 'seen',
    which: 'first',
    test: { op: 'before', instant: MAX_INSTANT },
  }
  const atLeast = (days: number): CoreRule => ({
    kind: 'seen',
    which: 'first',
    test: { op: 'older_than', duration: days * DAY },
  })
  const gte = (x: number) => atLeast(Math.ceil(x))
  const gt = (x: number) => atLeast(Math.floor(x) + 1)
  switch (t.op) {
    case 'gte':
      return gte(t.value)
    case 'gt':
      return gt(t.value)
    case 'lt':
      return all(known, not(gte(t.value)))
    case 'lte':
      return all(known, not(gt(t.value)))
    case 'between':
      return all(gte(t.low), not(gt(t.high)))
    case 'eq':
      return all(gte(t.value), not(gte(t.value + 1)))
    case 'neq':
      return all(known, not(all(gte(t.value), not(gte(t.value + 1)))))
  }
}

function computed(rule: Extract<Rule, { kind: 'computed' }>): CoreRule {
  switch (rule.field) {
    case 'purchase_count':
      return { kind: 'event', filter: PURCHASE, within: null, count: rule.test as NumberTest }
    case 'total_revenue':
      return {
        kind: 'aggregate',
        fn: 'sum',
        filter: PURCHASE,
        property: ['revenue'],
        within: null,
        test: rule.test as NumberTest,
      }
    case 'account_age_days':
      return accountAge(rule.test as NumberTest)
    case 'engagement_velocity':
      return {
        kind: 'score',
        model: VELOCITY.key,
        test: rule.test as NumberTest,
        definition: VELOCITY,
      }
    case 'last_purchase_at':
    case 'last_email_opened_at':
    case 'last_email_clicked_at': {
      const filter = { type: 'track', name: INSTANT_EVENTS[rule.field], where: [] } as const
      const ever: CoreRule = { kind: 'event', filter, within: null, count: { op: 'gte', value: 1 } }
      const t = rule.test as Exclude<typeof rule.test, NumberTest>
      switch (t.op) {
        case 'exists':
          return t.value ? ever : not(ever)
        case 'within_last':
          return { kind: 'event', filter, within: t.duration, count: { op: 'gte', value: 1 } }
        case 'older_than':
          // The latest is at least D old: there is one, and none in the last D.
          return all(ever, {
            kind: 'event',
            filter,
            within: t.duration,
            count: { op: 'eq', value: 0 },
          })
      }
    }
  }
}

/**
 * Marketing email reaches a person with an address, whose email status is subscribed, who
 * granted email_marketing consent (opt_in) or did not refuse it (opt_out): the segment
 * `reachable` count (store: segmentCounts) and the mailer (privacy: consentRefusal) say the same.
 */
function reachable(mode: ConsentMode): CoreRule {
  const consent: CoreRule =
    mode === 'opt_in'
      ? { kind: 'consent', purpose: 'email_marketing', state: 'granted' }
      : not({ kind: 'consent', purpose: 'email_marketing', state: 'denied' })
  return all({ kind: 'has_email' }, { kind: 'email_status', status: 'subscribed' }, consent)
}

/** Whether a rule uses `reachable`, whose meaning follows the workspace's consent mode. */
export function usesReachable(rule: Rule): boolean {
  switch (rule.kind) {
    case 'all':
    case 'any':
      return rule.rules.some(usesReachable)
    case 'not':
      return usesReachable(rule.rule)
    case 'reachable':
      return true
    default:
      return false
  }
}

/**
 * Rewrites sugar into core nodes: `email_opened` / `email_clicked` become event conditions
 * on the `Email Opened` / `Email Clicked` track events; computed fields become the event,
 * aggregate, first-seen or score conditions they stand for; a lifecycle stage becomes its
 * segment; a score condition carries its model's definition; `reachable: email` becomes the
 * address, email status and consent conditions it stands for under the consent mode.
 */
export function desugar(rule: Rule, ctx: DesugarContext = {}): CoreRule {
  switch (rule.kind) {
    case 'all':
    case 'any':
      return { kind: rule.kind, rules: rule.rules.map((r) => desugar(r, ctx)) }
    case 'not':
      return { kind: 'not', rule: desugar(rule.rule, ctx) }
    case 'email':
      return {
        kind: 'event',
        filter: { type: 'track', name: EMAIL_EVENTS[rule.action], where: rule.where },
        within: rule.within,
        count: rule.count,
      }
    case 'score':
      return { ...rule, definition: ctx.models?.(rule.model) ?? null }
    case 'computed':
      return computed(rule)
    case 'lifecycle':
      return { kind: 'segment', key: stageSegment(rule.stage) }
    case 'reachable':
      return reachable(ctx.consentMode ?? 'opt_in')
    default:
      return rule
  }
}

/** Every segment key a rule refers to, directly (lifecycle stages are segments too). */
export function segmentRefs(rule: Rule | CoreRule): string[] {
  switch (rule.kind) {
    case 'all':
    case 'any':
      return [...new Set(rule.rules.flatMap(segmentRefs))]
    case 'not':
      return segmentRefs(rule.rule)
    case 'segment':
      return [rule.key]
    case 'lifecycle':
      return [stageSegment(rule.stage)]
    default:
      return []
  }
}

/** Every scoring model a rule refers to. */
export function scoreRefs(rule: Rule): string[] {
  switch (rule.kind) {
    case 'all':
    case 'any':
      return [...new Set(rule.rules.flatMap(scoreRefs))]
    case 'not':
      return scoreRefs(rule.rule)
    case 'score':
      return [rule.model]
    default:
      return []
  }
}
