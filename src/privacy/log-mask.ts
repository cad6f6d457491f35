import type { LoggerOptions } from 'pino'

/** Path segments after these name a person (a userId, an email, a profile id). */
const PERSON_PATHS = /^(\/api\/(?:profiles|email\/status)\/)([^/?]+)/

/** Path segments after these are credentials: analytics.js puts its write key in the URL. */
const KEY_PATHS = /^(\/v1\/projects\/)([^/?]+)/

/** A request URL as logs show it: the person or key it names, and any query string, masked. */
export function maskUrl(url: string): string {
  const [path, query] = url.split('?', 2) as [string, string | undefined]
  const masked = path.replace(PERSON_PATHS, '$1[person]').replace(KEY_PATHS, '$1[key]')
  return query === undefined ? masked : `${masked}?[query]`
}

/** A copy of `value` with the values of PII-flagged keys replaced by `[pii]`, at any depth. */
export function maskPii(value: unknown, pii: ReadonlySet<string>, depth = 0): unknown {
  if (pii.size === 0 || depth > 8 || value === null || typeof value !== 'object') return value
  if (Array.isArray(value)) return value.map((v) => maskPii(v, pii, depth + 1))
  // Only plain data is copied: requests, errors and other objects go to their serializers.
  const proto = Object.getPrototypeOf(value) as unknown
  if (proto !== Object.prototype && proto !== null) return value
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(value))
    out[k] = pii.has(k) ? '[pii]' : maskPii(v, pii, depth + 1)
  return out
}

/**
 * pino options that keep personal data out of the logs: request URLs name no person, and
 * fields flagged PII in any workspace's data schema (`pii()`, read at each line) are masked
 * wherever they appear in a logged object.
 */
export function privateLogOptions(pii: () => ReadonlySet<string>): LoggerOptions {
  return {
    formatters: {
      log: (obj) => maskPii(obj, pii()) as Record<string, unknown>,
    },
    serializers: {
      req: (req: { method?: string; url?: string; id?: unknown }) => ({
        id: req.id,
        method: req.method,
        url: maskUrl(req.url ?? ''),
      }),
    },
  }
}
