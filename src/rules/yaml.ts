import { isMap, isNode, isScalar, LineCounter, parseAllDocuments, parseDocument } from 'yaml'
import type { Document } from 'yaml'
import { isPlainObject } from '../shared/json.js'
import type { JsonValue } from '../shared/json.js'
import { parseRule, SEGMENT_KEY } from './parse.js'
import type { ParsedRule, RuleIssue } from './parse.js'

/**
 * Parses a rule written in YAML. Issues carry the path and the line and column (1-based)
 * of the offending value in the text.
 * @example parseRuleYaml('all:\n  - trait: plan\n    eq: pro\n')
 */
export function parseRuleYaml(text: string): ParsedRule {
  const lines = new LineCounter()
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true })
  if (doc.errors.length > 0) {
    return {
      ok: false,
      issues: doc.errors.map((e) => {
        const pos = lines.linePos(e.pos[0])
        return {
          at: [],
          path: '',
          message: `YAML: ${e.message.split('\n')[0]}`,
          line: pos.line,
          column: pos.col,
        }
      }),
    }
  }
  const parsed = parseRule(doc.toJS({ maxAliasCount: 100 }))
  if (parsed.ok) return parsed
  return { ok: false, issues: parsed.issues.map((i) => locate(i, doc, lines)) }
}

/**
 * The position of the deepest node of the issue's path that exists in the document: the value,
 * or the key itself when the key is what is wrong.
 */
function locate(issue: RuleIssue, doc: Document.Parsed, lines: LineCounter): RuleIssue {
  const last = issue.at[issue.at.length - 1]
  if (typeof last === 'string' && issue.message.startsWith('unknown key')) {
    const parent = issue.at.length === 1 ? doc.contents : doc.getIn(issue.at.slice(0, -1), true)
    if (isMap(parent)) {
      const pair = parent.items.find((p) => isScalar(p.key) && p.key.value === last)
      if (pair && isNode(pair.key) && pair.key.range) {
        const pos = lines.linePos(pair.key.range[0])
        return { ...issue, line: pos.line, column: pos.col }
      }
    }
  }
  for (let n = issue.at.length; n >= 0; n--) {
    const node = n === 0 ? doc.contents : doc.getIn(issue.at.slice(0, n), true)
    if (isNode(node) && node.range) {
      const pos = lines.linePos(node.range[0])
      return { ...issue, line: pos.line, column: pos.col }
    }
  }
  return issue
}

/** One segment as written in a segments-as-code file. */
export interface SegmentDefinition {
  readonly key: string
  readonly name: string
  readonly description: string
  readonly priority: number
  /** The rule as written (JSON), already checked to parse. */
  readonly rule: JsonValue
}

export type ParsedSegments =
  { ok: true; segments: SegmentDefinition[] } | { ok: false; issues: RuleIssue[] }

const SEGMENT_FIELDS = ['key', 'name', 'description', 'priority', 'rule']

/**
 * Parses a segments-as-code YAML file: one segment per document (`---` between them), each
 * `{key, name?, description?, priority?, rule}`. Issues carry paths (`rule.all[1].within`) and
 * line and column.
 * @example parseSegmentsYaml('key: vip\nrule:\n  trait: vip\n  eq: true\n')
 */
export function parseSegmentsYaml(text: string): ParsedSegments {
  const lines = new LineCounter()
  const docs = parseAllDocuments(text, {
    lineCounter: lines,
    prettyErrors: false,
    uniqueKeys: true,
  })
  const issues: RuleIssue[] = []
  const segments: SegmentDefinition[] = []
  const list = Array.isArray(docs) ? docs : [docs]
  for (const doc of list) {
    if (doc.errors.length > 0) {
      for (const e of doc.errors) {
        const pos = lines.linePos(e.pos[0])
        issues.push({
          at: [],
          path: '',
          message: `YAML: ${e.message.split('\n')[0]}`,
          line: pos.line,
          column: pos.col,
        })
      }
      continue
    }
    const value: unknown = doc.toJS({ maxAliasCount: 100 })
    if (value === null || value === undefined) continue
    const local: RuleIssue[] = []
    const fail = (at: (string | number)[], message: string) =>
      local.push({ at, path: at.join('.'), message })
    if (!isPlainObject(value)) {
      fail([], 'a segment must be a mapping with key and rule')
    } else {
      for (const k of Object.keys(value))
        if (!SEGMENT_FIELDS.includes(k))
          fail([k], `unknown key "${k}"; expected ${SEGMENT_FIELDS.join(', ')}`)
      const key = value.key
      if (typeof key !== 'string' || !SEGMENT_KEY.test(key))
        fail(['key'], 'key must be a segment key: lower-case letters, digits, - and _')
      if (value.name !== undefined && typeof value.name !== 'string')
        fail(['name'], 'name must be text')
      if (value.description !== undefined && typeof value.description !== 'string')
        fail(['description'], 'description must be text')
      if (value.priority !== undefined && !Number.isInteger(value.priority))
        fail(['priority'], 'priority must be a whole number')
      if (value.rule === undefined) fail(['rule'], 'rule is required')
      else {
        const r = parseRule(value.rule)
        if (!r.ok)
          for (const i of r.issues)
            local.push({ ...i, at: ['rule', ...i.at], path: i.path ? `rule.${i.path}` : 'rule' })
      }
      if (local.length === 0) {
        segments.push({
          key: key as string,
          name: typeof value.name === 'string' ? value.name : (key as string),
          description: typeof value.description === 'string' ? value.description : '',
          priority: typeof value.priority === 'number' ? value.priority : 0,
          rule: value.rule as JsonValue,
        })
      }
    }
    issues.push(...local.map((i) => locate(i, doc, lines)))
  }
  return issues.length > 0 ? { ok: false, issues } : { ok: true, segments }
}
