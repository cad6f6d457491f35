import type { CoreRule, Rule } from './types.js'
import { EMAIL_EVENTS } from './types.js'

/**
 * Rewrites sugar into core nodes: `email_opened` / `email_clicked` become event conditions
 * on the `Email Opened` / `Email Clicked` track events.
 */
export function desugar(rule: Rule): CoreRule {
  switch (rule.kind) {
    case 'all':
    case 'any':
      return { kind: rule.kind, rules: rule.rules.map(desugar) }
    case 'not':
      return { kind: 'not', rule: desugar(rule.rule) }
    case 'email':
      return {
        kind: 'event',
        filter: { type: 'track', name: EMAIL_EVENTS[rule.action], where: rule.where },
        within: rule.within,
        count: rule.count,
      }
    default:
      return rule
  }
}

/** Every segment key a rule refers to, directly. */
export function segmentRefs(rule: Rule | CoreRule): string[] {
  switch (rule.kind) {
    case 'all':
    case 'any':
      return [...new Set(rule.rules.flatMap(segmentRefs))]
    case 'not':
      return segmentRefs(rule.rule)
    case 'segment':
      return [rule.key]
    default:
      return []
  }
}
