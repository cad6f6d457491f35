import { segmentRefs } from './desugar.js'
import type { Rule } from './types.js'

/** A segment that cannot be evaluated because of what it refers to. */
export interface ReferenceIssue {
  readonly segment: string
  readonly message: string
}

/**
 * Checks the references between segments: each must name a segment that exists, and no
 * segment may depend on itself through others. Reports each cycle once, as a path.
 * @example checkReferences({ a: ruleA, b: ruleB }) // [{ segment: 'a', message: 'segment a refers to itself: a → b → a' }]
 */
export function checkReferences(segments: Readonly<Record<string, Rule>>): ReferenceIssue[] {
  const issues: ReferenceIssue[] = []
  for (const [key, rule] of Object.entries(segments)) {
    for (const ref of segmentRefs(rule)) {
      if (!Object.hasOwn(segments, ref))
        issues.push({
          segment: key,
          message: `segment ${key} refers to segment ${ref}, which does not exist`,
        })
    }
  }
  const state = new Map<string, 'visiting' | 'done'>()
  const reported = new Set<string>()
  const visit = (key: string, trail: string[]) => {
    const s = state.get(key)
    if (s === 'done') return
    if (s === 'visiting') {
      const cycle = [...trail.slice(trail.indexOf(key)), key]
      const id = [...cycle.slice(0, -1)].sort().join(',')
      if (!reported.has(id)) {
        reported.add(id)
        issues.push({
          segment: key,
          message: `segment ${key} refers to itself: ${cycle.join(' → ')}`,
        })
      }
      return
    }
    state.set(key, 'visiting')
    const rule = segments[key]
    if (rule)
      for (const ref of segmentRefs(rule))
        if (Object.hasOwn(segments, ref)) visit(ref, [...trail, key])
    state.set(key, 'done')
  }
  for (const key of Object.keys(segments)) visit(key, [])
  return issues
}

/**
 * Segment keys in an order where every segment comes after those it refers to (for
 * evaluating cascades). Assumes checkReferences found nothing.
 */
export function dependencyOrder(segments: Readonly<Record<string, Rule>>): string[] {
  const order: string[] = []
  const seen = new Set<string>()
  const visit = (key: string) => {
    if (seen.has(key)) return
    seen.add(key)
    const rule = segments[key]
    if (rule) for (const ref of segmentRefs(rule)) visit(ref)
    order.push(key)
  }
  for (const key of Object.keys(segments)) visit(key)
  return order
}
