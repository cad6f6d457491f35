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
