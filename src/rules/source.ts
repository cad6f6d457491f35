import { parse as parseYaml, stringify } from 'yaml'
import type { JsonValue } from '../shared/json.js'
import { parseRule } from './parse.js'
import type { RuleIssue } from './parse.js'
import type { Rule } from './types.js'
import { parseRuleYaml } from './yaml.js'

export type RuleFormat = 'yaml' | 'json'

/** A problem in a rule's text: its path in the rule (when known) and where it is (1-based). */
export interface SourceIssue {
  readonly path: string
  readonly message: string
  readonly line: number
  readonly column: number
}

export type CheckedSource =
  { ok: true; rule: Rule; json: JsonValue; issues: [] } | { ok: false; issues: SourceIssue[] }

/** Line and column (1-based) of an offset into `text`. */
function position(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, Math.max(0, Math.min(offset, text.length)))
  const lines = before.split('\n')
  return { line: lines.length, column: (lines.at(-1)?.length ?? 0) + 1 }
}

/**
 * Checks a rule written as YAML or JSON text, the way `segflow apply` reads segment files:
 * every issue carries its rule path and the line and column in the text, so an editor can
 * point at it. The one rule parser (parse.ts) decides; YAML adds only the positions.
 * @example checkRuleSource('trait: plan\neq: pro\n', 'yaml') // {ok: true, rule: …, json: …}
 */
export function checkRuleSource(text: string, format: RuleFormat): CheckedSource {
  if (text.trim() === '')
    return { ok: false, issues: [{ path: '', message: 'the rule is empty', line: 1, column: 1 }] }
  if (format === 'yaml') {
    const parsed = parseRuleYaml(text)
    // The rule as written (not the parsed tree): what PUT /api/segments/:key takes.
    if (parsed.ok)
      return {
        ok: true,
        rule: parsed.rule,
        json: parseYaml(text, { maxAliasCount: 100 }) as JsonValue,
        issues: [],
      }
    return { ok: false, issues: parsed.issues.map(located) }
  }
  let json: JsonValue
  try {
    json = JSON.parse(text) as JsonValue
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e)
    const at = /at position (\d+)/.exec(message)
    const offset = at ? Number(at[1]) : text.length
    return {
      ok: false,
      issues: [{ path: '', message: `JSON: ${message}`, ...position(text, offset) }],
    }
  }
  // The rule parser decides on exactly what JSON.parse read; JSON being YAML's flow style,
  // the YAML reader then only places the issues in the text.
  const direct = parseRule(json)
  if (direct.ok) return { ok: true, rule: direct.rule, json, issues: [] }
  const placed = parseRuleYaml(text)
  if (!placed.ok && placed.issues.every((i) => !i.message.startsWith('YAML:')))
    return { ok: false, issues: placed.issues.map(located) }
  // Text YAML reads differently (a tab, a duplicate key): the issues point at the start.
  return {
    ok: false,
    issues: direct.issues.map((i) => ({ path: i.path, message: i.message, line: 1, column: 1 })),
  }
}

function located(i: RuleIssue): SourceIssue {
  return { path: i.path, message: i.message, line: i.line ?? 1, column: i.column ?? 1 }
}

/** A rule (as written, JSON) as block YAML, the way the editor shows it. */
export function ruleToYaml(rule: JsonValue): string {
  return stringify(rule, { lineWidth: 0 })
}
