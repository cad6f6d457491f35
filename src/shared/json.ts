import type { Issue } from './errors.js'

export type JsonPrimitive = string | number | boolean | null
export type JsonValue = JsonPrimitive | JsonValue[] | { [key: string]: JsonValue }
export type JsonObject = { [key: string]: JsonValue }

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
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
