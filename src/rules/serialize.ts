import type { JsonObject, JsonValue } from '../shared/json.js'
import { formatDuration } from '../shared/time.js'
import type { EventFilter, NumberTest, PropertyFilter, Rule, TimeTest, ValueTest } from './types.js'

/**
 * A rule back in the language's JSON form, such that `parseRule(ruleToJson(r))` gives `r`
 * again. Defaults are left out (count ≥ 1, type track, ignore_case false).
 * @example ruleToJson({ kind: 'segment', key: 'vip' }) // { segment: 'vip' }
 */
export function ruleToJson(r: Rule): JsonObject {
  switch (r.kind) {
    case 'all':
    case 'any':
      return { [r.kind]: r.rules.map(ruleToJson) }
    case 'not':
      return { not: ruleToJson(r.rule) }
    case 'trait':
      return { trait: r.path.join('.'), ...valueTest(r.test) }
    case 'event':
      return {
        ...filter(r.filter),
        ...(r.within === null ? {} : { within: formatDuration(r.within) }),
        ...(isDefaultCount(r.count) ? {} : { count: numberTest(r.count) }),
      }
    case 'seen':
      return { [`${r.which}_seen`]: timeTest(r.test) }
    case 'segment':
      return { segment: r.key }
    case 'score':
      return { score: r.model, ...numberTest(r.test) }
    case 'computed': {
      const t = r.test
      if (t.op === 'exists') return { computed: r.field, exists: t.value }
      if (t.op === 'older_than' || t.op === 'within_last')
        return { computed: r.field, [t.op]: formatDuration(t.duration) }
      return { computed: r.field, ...numberTest(t as NumberTest) }
    }
    case 'lifecycle':
      return { lifecycle: r.stage }
    case 'aggregate':
      return {
        aggregate: r.fn,
        ...filter(r.filter),
        property: r.property.join('.'),
        ...(r.within === null ? {} : { within: formatDuration(r.within) }),
        ...numberTest(r.test),
      }
    case 'sequence':
      return {
        ...filter(r.first),
        not_followed_by: filter(r.notFollowedBy),
        ...(r.olderThan === null ? {} : { older_than: formatDuration(r.olderThan) }),
        ...(r.within === null ? {} : { within: formatDuration(r.within) }),
      }
    case 'consent':
      return r.state === 'granted' ? { consent: r.purpose } : { consent: r.purpose, state: r.state }
    case 'email_status':
      return { email_status: r.status }
    case 'reachable':
      return { reachable: r.channel }
    case 'email':
      return {
        [`email_${r.action}`]: {
          ...(r.within === null ? {} : { within: formatDuration(r.within) }),
          ...(isDefaultCount(r.count) ? {} : { count: numberTest(r.count) }),
          ...(r.where.length === 0 ? {} : { where: r.where.map(property) }),
        },
      }
  }
}

function isDefaultCount(t: NumberTest): boolean {
  return t.op === 'gte' && t.value === 1
}

function filter(f: EventFilter): JsonObject {
  return {
    ...(f.name === null ? {} : { event: f.name }),
    ...(f.type === 'track' && f.name !== null ? {} : { type: f.type }),
    ...(f.where.length === 0 ? {} : { where: f.where.map(property) }),
  }
}

function property(p: PropertyFilter): JsonObject {
  return { property: p.path.join('.'), ...valueTest(p.test) }
}

function iso(ms: number): string {
  return new Date(ms).toISOString()
}

function valueTest(t: ValueTest): JsonObject {
  const ic: JsonObject = 'ignoreCase' in t && t.ignoreCase ? { ignore_case: true } : {}
  let operand: JsonValue
  switch (t.op) {
    case 'in':
    case 'nin':
      operand = [...t.values]
      break
    case 'between':
      operand = [t.low, t.high]
      break
    case 'older_than':
    case 'within_last':
      operand = formatDuration(t.duration)
      break
    case 'before':
    case 'after':
      operand = iso(t.instant)
      break
    default:
      operand = t.value
  }
  return { [t.op]: operand, ...ic }
}

function numberTest(t: NumberTest): JsonObject {
  return t.op === 'between' ? { between: [t.low, t.high] } : { [t.op]: t.value }
}

function timeTest(t: TimeTest): JsonObject {
  return 'duration' in t ? { [t.op]: formatDuration(t.duration) } : { [t.op]: iso(t.instant) }
}
