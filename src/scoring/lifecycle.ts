import { isStageKey, segmentRefs, stageSegment } from '../rules/desugar.js'
import { parseNode, Reader, STAGE_KEY } from '../rules/parse.js'
import type { RuleIssue } from '../rules/parse.js'
import { isPlainObject } from '../shared/json.js'
import type { JsonObject, JsonValue } from '../shared/json.js'

/** One lifecycle stage: who is in it, as a rule. */
export interface Stage {
  readonly key: string
  readonly name: string
  readonly description: string
  /** The rule as written (JSON). */
  readonly rule: JsonValue
}

export interface ParsedLifecycle {
  readonly stages: readonly Stage[]
}

export const MAX_STAGES = 20

/** Engaged within D: any track, page or screen event (the person doing something). */
const engaged = (d: string): JsonObject => ({
  any: [
    { type: 'track', within: d },
    { type: 'page', within: d },
    { type: 'screen', within: d },
  ],
})

/**
 * The default stages. New, Active, At-risk and Churned as commonly defined; Lapsing fills
 * the gap those four leave (last engaged 7 to 14 days ago), so that everyone who has been seen
 * is in exactly one stage.
 */
export const DEFAULT_STAGES: readonly Stage[] = [
  {
    key: 'new',
    name: 'New',
    description: 'First seen less than 7 days ago.',
    rule: { first_seen: { within_last: '7d' } },
  },
  {
    key: 'active',
    name: 'Active',
    description: 'Engaged (any event, page or screen view) within the last 7 days.',
    rule: engaged('7d'),
  },
  {
    key: 'lapsing',
    name: 'Lapsing',
    description: 'Last engaged 7 to 14 days ago.',
    rule: engaged('14d'),
  },
  {
    key: 'at_risk',
    name: 'At-risk',
    description: 'No engagement for 14 days, but seen within 30 days.',
    rule: { last_seen: { within_last: '30d' } },
  },
  {
    key: 'churned',
    name: 'Churned',
    description: 'No activity for 30 days.',
    rule: { last_seen: { older_than: '30d' } },
  },
]

export type LifecycleResult =
  { ok: true; value: ParsedLifecycle } | { ok: false; issues: RuleIssue[] }

/**
 * Parses a lifecycle (`PUT /api/lifecycle`): an ordered list of stages, first match wins;
 * `{"preset": "default"}` stands for the default stages.
 * @example parseLifecycle({ stages: [{ key: 'new', rule: { first_seen: { within_last: '7d' } } }] })
 */
export function parseLifecycle(input: unknown): LifecycleResult {
  const r = new Reader()
  if (!isPlainObject(input)) {
    r.fail([], 'a lifecycle must be an object like {"stages": [...]} or {"preset": "default"}')
    return { ok: false, issues: r.issues }
  }
  if (input.preset !== undefined) {
    r.keys(input, [], ['preset'], 'a preset lifecycle')
    if (input.preset !== 'default') r.fail(['preset'], 'preset must be "default"')
    return r.issues.length > 0
      ? { ok: false, issues: r.issues }
      : { ok: true, value: { stages: DEFAULT_STAGES } }
  }
  r.keys(input, [], ['stages'], 'a lifecycle')
  const list = input.stages
  const stages: Stage[] = []
  if (!Array.isArray(list) || list.length === 0) {
    r.fail(['stages'], 'stages must be a non-empty list')
  } else if (list.length > MAX_STAGES) {
    r.fail(['stages'], `a lifecycle has at most ${MAX_STAGES} stages, not ${list.length}`)
  } else {
    const seen = new Set<string>()
    list.forEach((s, i) => {
      const at = ['stages', i]
      if (!isPlainObject(s)) {
        r.fail(at, 'a stage must be an object like {"key": "active", "rule": {...}}')
        return
      }
      r.keys(s, at, ['key', 'name', 'description', 'rule'], 'a stage')
      const key = r.text(s.key, [...at, 'key'], 'key')
      if (key !== null && !STAGE_KEY.test(key)) {
        r.fail(
          [...at, 'key'],
          `stage key ${JSON.stringify(key)} must be lower-case letters, digits, - and _ (at most 40)`,
        )
        return
      }
      if (key !== null && seen.has(key)) {
        r.fail([...at, 'key'], `stage ${key} is listed twice`)
        return
      }
      if (key !== null) seen.add(key)
      const name = s.name === undefined ? key : r.text(s.name, [...at, 'name'], 'name')
      const description =
        s.description === undefined
          ? ''
          : r.text(s.description, [...at, 'description'], 'description', { empty: true })
      const before = r.issues.length
      const rule = parseNode(r, s.rule, [...at, 'rule'], 1)
      if (rule && segmentRefs(rule).some(isStageKey))
        r.fail([...at, 'rule'], 'a stage rule cannot refer to lifecycle stages')
      if (key === null || name === null || description === null || rule === null) return
      if (r.issues.length > before) return
      stages.push({ key, name, description, rule: s.rule as JsonValue })
    })
  }
  return r.issues.length > 0 ? { ok: false, issues: r.issues } : { ok: true, value: { stages } }
}

/**
 * The segment rule of each stage: its own rule and none of the earlier ones (first match
 * wins), so the stages never overlap.
 */
export function stageRules(
  stages: readonly Stage[],
): { key: string; stage: Stage; rule: JsonValue }[] {
  return stages.map((stage, i) => ({
    key: stageSegment(stage.key),
    stage,
    rule:
      i === 0
        ? stage.rule
        : { all: [stage.rule, { not: { any: stages.slice(0, i).map((s) => s.rule) } }] },
  }))
}
