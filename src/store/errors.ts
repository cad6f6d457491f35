/**
 * Whether a store error is about the data itself (so retrying the same data fails again),
 * rather than the store being unavailable: PostgreSQL's class 22 (data exception), SQLite's
 * TOOBIG and MISMATCH.
 */
export function isDataError(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code
  if (typeof code !== 'string') return false
  return /^22[0-9A-Z]{3}$/.test(code) || code === 'SQLITE_TOOBIG' || code === 'SQLITE_MISMATCH'
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENOTFOUND',
  'EHOSTUNREACH',
])
// Class 08: connection exception; 57P01–57P03: admin shutdown, crash shutdown, cannot connect
// now (starting up); 53300: too many connections; 53100: disk full.
const PG_UNAVAILABLE = /^(08[0-9A-Z]{3}|57P0[123]|53300|53100)$/
// node-postgres reports a dropped or unreachable server with plain Errors, not codes.
const PG_MESSAGES =
  /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error and is not queryable|Connection terminated unexpectedly/
const SQLITE_UNAVAILABLE = /^SQLITE_(BUSY|LOCKED|FULL|IOERR|CANTOPEN|READONLY)/

/**
 * Whether a store error means the store cannot be reached or cannot take writes right now
 * (a database restarting, a network failure, a full disk), so the same request may succeed
 * later: answered 503 `unavailable` with Retry-After, never 500.
 */
export function isUnavailableError(e: unknown): boolean {
  if (e === null || typeof e !== 'object') return false
  const { code, message } = e as { code?: unknown; message?: unknown }
  if (typeof code === 'string') {
    if (NETWORK_CODES.has(code) || PG_UNAVAILABLE.test(code) || SQLITE_UNAVAILABLE.test(code))
      return true
  }
  if (typeof message === 'string' && PG_MESSAGES.test(message)) return true
  const cause = (e as { cause?: unknown }).cause
  // AggregateError (connecting to several addresses) and wrapped errors.
  const inner = (e as { errors?: unknown }).errors
  if (Array.isArray(inner) && inner.some(isUnavailableError)) return true
  return cause !== undefined && cause !== e && isUnavailableError(cause)
}
