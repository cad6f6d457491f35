import { desugar, scoreRefs, segmentRefs, usesReachable } from '../rules/desugar.js'
import { describeFilter, describeRule } from '../rules/describe.js'
import { parseNode, Reader } from '../rules/parse.js'
import type { RuleIssue } from '../rules/parse.js'
import { ruleToJson } from '../rules/serialize.js'
import type { Rule, ScoreCriterion, ScoreModel } from '../rules/types.js'
import { AT_LEAST_ONCE } from '../rules/types.js'
import { formatDuration } from '../shared/time.js'
import { isPlainObject } from '../shared/json.js'
import type { JsonObject } from '../shared/json.js'

/** Model keys: like segment keys. */
export const MODEL_KEY = /^[a-z0-9][a-z0-9_-]{0,63}$/
export const MAX_CRITERIA = 50
/** Points and caps stay far inside what millionths in 64-bit integers can sum. */
export const MAX_POINTS = 1_000_000

export interface ParsedModel {
  readonly name: string
  readonly description: string
  readonly model: ScoreModel
}

export type ModelResult = { ok: true; value: ParsedModel } | { ok: false; issues: RuleIssue[] }

/**
 * The preset engagement model: email opens and clicks, site visits and purchases, each worth
 * points per occurrence up to a cap, halving every 14 days, plus points for recency.
 */
export const ENGAGEMENT_PRESET: JsonObject = {
  name: 'Engagement',
  description:
    'Opens, clicks, visits and purchases (points halve every 14 days), plus recency of activity.',
  halfLife: '14d',
  criteria: [
    { name: 'Opened an email', event: 'Email Opened', points: 2, cap: 20 },
    { name: 'Clicked an email', event: 'Email Clicked', points: 5, cap: 30 },
    { name: 'Visited a page', type: 'page', points: 1, cap: 20 },
    { name: 'Purchased', event: 'Order Completed', points: 10, cap: 50 },
    { name: 'Active in the last 7 days', rule: { last_seen: { within_last: '7d' } }, points: 10 },
    { name: 'Active in the last 30 days', rule: { last_seen: { within_last: '30d' } }, points: 5 },
  ],
}

export const PRESETS: Readonly<Record<string, JsonObject>> = { engagement: ENGAGEMENT_PRESET }

/**
 * Parses a scoring model definition (as `PUT /api/scores/:key` receives it). `{"preset":
 * "engagement"}` stands for the preset. Every problem is reported with its path.
 * @example
 * parseModel('engagement', { halfLife: '14d', criteria: [{ event: 'Email Opened', points: 2, cap: 20 }] })
 */
export function parseModel(key: string, input: unknown): ModelResult {
  const r = new Reader()
  if (!isPlainObject(input)) {
    r.fail([], 'a scoring model must be an object like {"criteria": [...]}')
    return { ok: false, issues: r.issues }
  }
  if (input.preset !== undefined) {
    r.keys(input, [], ['preset'], 'a preset model')
    const preset = typeof input.preset === 'string' ? PRESETS[input.preset] : undefined
    if (!preset) r.fail(['preset'], `preset must be one of ${Object.keys(PRESETS).join(', ')}`)
    if (r.issues.length > 0 || !preset) return { ok: false, issues: r.issues }
    return parseModel(key, preset)
  }
  // The API is camelCase in both directions: `halfLife`, as `GET /api/scores/:key` shows it.
  // `half_life` (the spelling before version 12 of the schema) is refused with a suggestion.
  r.keys(input, [], ['name', 'description', 'halfLife', 'criteria'], 'a scoring model')
  const name = input.name === undefined ? key : r.text(input.name, ['name'], 'name')
  const description =
    input.description === undefined
      ? ''
      : r.text(input.description, ['description'], 'description', { empty: true })
  const halfLife =
    input.halfLife === undefined ? null : r.duration(input.halfLife, ['halfLife'], 'halfLife')
  const list = input.criteria
  const criteria: ScoreCriterion[] = []
  if (!Array.isArray(list) || list.length === 0) {
    r.fail(['criteria'], 'criteria must be a non-empty list')
  } else if (list.length > MAX_CRITERIA) {
    r.fail(['criteria'], `a model has at most ${MAX_CRITERIA} criteria, not ${list.length}`)
  } else {
    list.forEach((c, i) => {
      const parsed = criterion(r, c, ['criteria', i])
      if (parsed) criteria.push(parsed)
    })
  }
  if (r.issues.length > 0 || name === null || description === null)
    return { ok: false, issues: r.issues }
  return { ok: true, value: { name, description, model: { key, halfLife, criteria } } }
}

function criterion(r: Reader, v: unknown, at: (string | number)[]): ScoreCriterion | null {
  if (!isPlainObject(v))
    return r.fail(at, 'a criterion must be an object with "event" or "rule", and "points"')
  const points = r.number(v.points, [...at, 'points'], 'points')
  if (points !== null && Math.abs(points) > MAX_POINTS)
    r.fail([...at, 'points'], `points must be between -${MAX_POINTS} and ${MAX_POINTS}`)
  const name =
    v.name === undefined ? undefined : (r.text(v.name, [...at, 'name'], 'name') ?? undefined)
  if (v.rule !== undefined) {
    r.keys(v, at, ['name', 'rule', 'points'], 'a rule criterion')
    const before = r.issues.length
    const rule = parseNode(r, v.rule, [...at, 'rule'], 1)
    if (rule === null || points === null || r.issues.length > before) return null
    if (segmentRefs(rule).length > 0 || scoreRefs(rule).length > 0) {
      return r.fail(
        [...at, 'rule'],
        'a criterion rule cannot refer to segments, lifecycle stages or scores (a score is made of the person’s own data)',
      )
    }
    if (usesReachable(rule)) {
      return r.fail(
        [...at, 'rule'],
        'a criterion rule cannot use reachable (it follows the consent mode, which a model does not keep); write {"email_status": "subscribed"} and {"consent": "email_marketing"}',
      )
    }
    return { kind: 'rule', name: name ?? describeRule(rule), rule: desugar(rule), points }
  }
  r.keys(v, at, ['name', 'event', 'type', 'where', 'points', 'cap', 'within'], 'an event criterion')
  const filter = r.filter(v, at, { nameRequired: false })
  const within = v.within === undefined ? null : r.duration(v.within, [...at, 'within'], 'within')
  let cap: number | null = null
  if (v.cap !== undefined) {
    cap = r.number(v.cap, [...at, 'cap'], 'cap')
    if (cap !== null && (cap <= 0 || cap > MAX_POINTS * 1000))
      return r.fail([...at, 'cap'], `cap must be above 0 and at most ${MAX_POINTS * 1000}`)
  }
  if (filter === null || points === null || (v.within !== undefined && within === null)) return null
  if (v.cap !== undefined && cap === null) return null
  return {
    kind: 'event',
    name: name ?? `${describeFilter(filter)}${within === null ? '' : ` within ${v.within}`}`,
    filter,
    points,
    cap,
    within,
  }
}

/**
 * A model back in its JSON form, such that `parseModel(key, modelToJson(m))` gives `m`
 * again (criterion rules as core rules: no sugar left in them).
 */
export function modelToJson(m: ScoreModel): JsonObject {
  return {
    ...(m.halfLife === null ? {} : { halfLife: formatDuration(m.halfLife) }),
    criteria: m.criteria.map((c): JsonObject => {
      if (c.kind === 'rule')
        return { name: c.name, rule: ruleToJson(c.rule as Rule), points: c.points }
      const f = c.filter
      return {
        name: c.name,
        ...(f.name === null ? {} : { event: f.name }),
        ...(f.type === 'track' && f.name !== null ? {} : { type: f.type }),
        ...(f.where.length === 0
          ? {}
          : {
              where:
                ruleToJson({ kind: 'event', filter: f, within: null, count: AT_LEAST_ONCE })
                  .where ?? [],
            }),
        points: c.points,
        ...(c.cap === null ? {} : { cap: c.cap }),
        ...(c.within === null ? {} : { within: formatDuration(c.within) }),
      }
    }),
  }
}
