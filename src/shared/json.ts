import type { Issue } from './errors.js'

export type JsonPrimitive = string | number | boolean | null
export type JsonValue = JsonPrimitive | JsonValue[] | { [key: string]: JsonValue }
export type JsonObject = { [key: string]: JsonValue }

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/**
 * Deepest nesting of objects and arrays accepted in stored JSON (a message, a profile's traits).
 * Far beyond real payloads, far below what would overflow a stack or SQLite's JSON depth (1,000).
 */
export const MAX_JSON_DEPTH = 64

/**
 * The first place where `v` nests containers (objects, arrays) more than `max` deep, as an
 * issue, or null. Iterative, so a hostile 16,000-level value is measured without a stack
 * overflow, and it stops at the first offender instead of walking the rest.
 * @example
 * nestingIssue({ a: [[1]] }, 'properties', 2) // { path: 'properties.a[0]', ... }
 */
export function nestingIssue(v: unknown, path: string, max: number): Issue | null {
  const stack: Array<{ v: unknown; path: string; depth: number }> = [{ v, path, depth: 0 }]
  for (let top = stack.pop(); top !== undefined; top = stack.pop()) {
    if (typeof top.v !== 'object' || top.v === null) continue
    const depth = top.depth + 1
    if (depth > max) {
      return {
        path: top.path,
        message: `${top.path || 'the value'} is nested more than ${max} levels deep; at most ${max} levels of objects and arrays are accepted`,
      }
    }
    if (Array.isArray(top.v)) {
      top.v.forEach((x, i) => stack.push({ v: x, path: `${top.path}[${i}]`, depth }))
    } else {
      for (const [k, x] of Object.entries(top.v))
        stack.push({ v: x, path: top.path ? `${top.path}.${k}` : k, depth })
    }
  }
  return null
}

/**
 * Makes every string of a message storable on both stores: a lone surrogate becomes U+FFFD
 * (as any UTF-8 encoder would make it), a NUL is an issue (neither a replacement nor a
 * silent drop would be what the sender meant). Keys are checked like values.
 */
export function sanitizeStrings(v: unknown, path: string, issues: Issue[]): unknown {
  if (typeof v === 'string') {
    if (v.includes('\u0000')) {
      issues.push({
        path,
        message: `${path || 'a value'} contains a NUL character (\\u0000), which cannot be stored`,
      })
      return v
    }
    return v.isWellFormed() ? v : v.toWellFormed()
  }
  if (Array.isArray(v)) return v.map((x, i) => sanitizeStrings(x, `${path}[${i}]`, issues))
  if (isPlainObject(v)) {
    const out: Record<string, unknown> = {}
    for (const [k, x] of Object.entries(v)) {
      const at = path ? `${path}.${k}` : k
      const key = sanitizeStrings(k, at, issues) as string
      out[key] = sanitizeStrings(x, at, issues)
    }
    return out
  }
  return v
}
