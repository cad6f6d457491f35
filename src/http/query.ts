import { SegflowError } from '../shared/errors.js'

/** A `limit` query parameter: a whole number from 1 to 1000, `fallback` when absent. */
export function parseLimit(raw: unknown, fallback: number): number {
  if (raw === undefined) return fallback
  const n = Number(raw)
  if (!Number.isInteger(n) || n < 1 || n > 1000) {
    throw new SegflowError(
      'invalid_request',
      `limit ${JSON.stringify(raw)} must be a whole number from 1 to 1000`,
    )
  }
  return n
}
