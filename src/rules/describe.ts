import { formatDuration } from '../shared/time.js'
import type {
  CoreRule,
  EventFilter,
  InstantTest,
  NumberTest,
  PropertyFilter,
  Rule,
  TimeTest,
  ValueTest,
} from './types.js'

const iso = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z')

function valueTest(t: ValueTest): string {
  const ic = 'ignoreCase' in t && t.ignoreCase ? ' (ignoring case)' : ''
  switch (t.op) {
    case 'in':
    case 'nin':
      return `${t.op} ${JSON.stringify(t.values)}${ic}`
    case 'between':
      return `between ${t.low} and ${t.high}`
    case 'older_than':
    case 'within_last':
      return `${t.op} ${formatDuration(t.duration)}`
    case 'before':
    case 'after':
      return `${t.op} ${iso(t.instant)}`
    case 'exists':
      return t.value ? 'exists' : 'does not exist'
    default:
      return `${t.op} ${JSON.stringify(t.value)}${ic}`
  }
}

function numberTest(t: NumberTest): string {
  return t.op === 'between' ? `between ${t.low} and ${t.high}` : `${t.op} ${t.value}`
}

function timeTest(t: TimeTest): string {
  return 'duration' in t ? `${t.op} ${formatDuration(t.duration)}` : `${t.op} ${iso(t.instant)}`
}

function where(w: readonly PropertyFilter[]): string {
  return w.length === 0
    ? ''
    : ` where ${w.map((f) => `${f.path.join('.')} ${valueTest(f.test)}`).join(' and ')}`
}

export function describeFilter(f: EventFilter): string {
  const name =
    f.name === null
      ? `any ${f.type}`
      : f.type === 'track'
        ? JSON.stringify(f.name)
        : `${f.type} ${JSON.stringify(f.name)}`
  return `${name}${where(f.where)}`
}

/**
 * One line of plain words for a node (its children are described separately).
 * @example describeRule({ kind: 'segment', key: 'vip' }) // 'in segment vip'
 */
export function describeRule(r: Rule | CoreRule): string {
  switch (r.kind) {
    case 'all':
      return `all of ${r.rules.length}`
    case 'any':
      return `any of ${r.rules.length}`
    case 'not':
      return 'not'
    case 'trait':
      return `trait ${r.path.join('.')} ${valueTest(r.test)}`
    case 'event':
      return `event ${describeFilter(r.filter)}, count ${numberTest(r.count)}${r.within === null ? ', ever' : ` within ${formatDuration(r.within)}`}`
    case 'seen':
      return `${r.which} seen ${timeTest(r.test)}`
    case 'segment':
      return `in segment ${r.key}`
    case 'score':
      return `score ${r.model} ${numberTest(r.test)}`
    case 'computed':
      return `${r.field} ${isInstantTest(r.test) ? instantTest(r.test) : numberTest(r.test)}`
    case 'lifecycle':
      return `in lifecycle stage ${r.stage}`
    case 'aggregate':
      return `${r.fn} of ${r.property.join('.')} over ${describeFilter(r.filter)}${r.within === null ? '' : ` within ${formatDuration(r.within)}`} ${numberTest(r.test)}`
    case 'sequence':
      return (
        `latest ${describeFilter(r.first)}` +
        (r.olderThan === null ? '' : ` at least ${formatDuration(r.olderThan)} old`) +
        (r.within === null ? '' : ` and within ${formatDuration(r.within)}`) +
        `, not followed by ${describeFilter(r.notFollowedBy)}`
      )
    case 'consent':
      return `consent for ${r.purpose} ${r.state}`
    case 'email_status':
      return `email status ${r.status}`
    case 'has_email':
      return 'has an email address'
    case 'reachable':
      return `reachable by ${r.channel}`
    case 'email':
      return `email ${r.action}${where(r.where)}, count ${numberTest(r.count)}${r.within === null ? ', ever' : ` within ${formatDuration(r.within)}`}`
  }
}

function instantTest(t: InstantTest): string {
  return t.op === 'exists'
    ? t.value
      ? 'exists'
      : 'does not exist'
    : `${t.op.replace('_', ' ')} ${formatDuration(t.duration)}`
}

function isInstantTest(t: InstantTest | NumberTest): t is InstantTest {
  return t.op === 'exists' || t.op === 'older_than' || t.op === 'within_last'
}
