import { isMap, isNode, isScalar, LineCounter, parseDocument } from 'yaml'
import { parseRule } from './parse.js'
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
function locate(
  issue: RuleIssue,
  doc: ReturnType<typeof parseDocument>,
  lines: LineCounter,
): RuleIssue {
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
