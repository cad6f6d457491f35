/**
 * Instants and durations, with one meaning everywhere: ingestion (timestamps), the rule
 * language (date operators) and, through `segflow_instant`, SQL on both stores. The SQL
 * function (a migration on PostgreSQL, a registered function on SQLite) implements exactly
 * this grammar, so the three evaluators agree on what is a date.
 */

/** YYYY-MM-DD, optionally THH:MM[:SS[.fraction]] and a zone (Z, ±HH, ±HHMM, ±HH:MM). */
export const ISO_INSTANT =
  /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?([Zz]|[+-]\d{2}(?::?\d{2})?)?)?$/

/** Largest |ms| accepted: the range of JavaScript dates. */
export const MAX_INSTANT = 8.64e15

/**
 * An ISO-8601 date-time or epoch milliseconds as ms since the epoch; null when it is not
 * one. A time without a zone is UTC (never the server's local time); a date alone is its
 * midnight UTC; fractions of a millisecond are cut off. Calendar dates must exist (no
 * 2026-02-30), hours run 00–23, minutes and seconds 00–59, years from 0001.
 * @example parseInstant('2026-03-01T10:00:00+01:00') // 1772355600000
 */
export function parseInstant(v: unknown): number | null {
  if (typeof v === 'number')
    return Number.isFinite(v) && Math.abs(v) < MAX_INSTANT ? Math.trunc(v) : null
  if (typeof v !== 'string') return null
  const m = ISO_INSTANT.exec(v)
  if (!m) return null
  const [, ys, mos, ds, hs, mis, ss, fraction, zone] = m
  const y = Number(ys)
  const mo = Number(mos)
  const d = Number(ds)
  const h = hs === undefined ? 0 : Number(hs)
  const mi = mis === undefined ? 0 : Number(mis)
  const s = ss === undefined ? 0 : Number(ss)
  if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo) || h > 23 || mi > 59 || s > 59)
    return null
  const ms = fraction === undefined ? 0 : Number(fraction.slice(0, 3).padEnd(3, '0'))
  let offset = 0
  if (zone !== undefined && zone !== 'Z' && zone !== 'z') {
    const digits = zone.slice(1).replace(':', '')
    const oh = Number(digits.slice(0, 2))
    const om = digits.length > 2 ? Number(digits.slice(2, 4)) : 0
    if (oh > 23 || om > 59) return null
    offset = (zone[0] === '-' ? -1 : 1) * (oh * 60 + om) * 60_000
  }
  // Date.UTC maps years 0–99 to 1900–1999; setUTCFullYear does not.
  const date = new Date(0)
  date.setUTCFullYear(y, mo - 1, d)
  date.setUTCHours(h, mi, s, ms)
  return date.getTime() - offset
}

function daysInMonth(y: number, mo: number): number {
  if (mo === 2) return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0 ? 29 : 28
  return [4, 6, 9, 11].includes(mo) ? 30 : 31
}

const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const

/** The longest duration a rule may name: 100 years. */
export const MAX_DURATION_MS = 100 * 365 * 86_400_000

/**
 * `30s`, `15m`, `2h`, `7d`, `4w` as milliseconds; null when not of that form or not
 * positive. One whole number and one unit: there is no month or year (their length varies).
 */
export function parseDuration(text: string): number | null {
  const m = /^(\d{1,7})([smhdw])$/.exec(text)
  if (!m) return null
  const ms = Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS]
  return ms > 0 && ms <= MAX_DURATION_MS ? ms : null
}

/** 604800000 → "7d": the largest of d, h, m, s that divides the duration (days, not weeks). */
export function formatDuration(ms: number): string {
  const units = [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ] as const
  for (const [unit, size] of units) if (ms % size === 0) return `${ms / size}${unit}`
  return `${ms}ms`
}
