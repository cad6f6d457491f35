/**
 * Positions in the transition outbox, dialect-neutral.
 *
 * A transition's position is (tx, seq): on PostgreSQL `tx` is the id of the transaction that
 * wrote it (`pg_current_xact_id()`), on SQLite always 0 (one writer at a time: commit order
 * is seq order). Consumers read in position order and only up to the store's horizon, a
 * position before which nothing can still be committed, so a row never appears behind a
 * consumer's read position however transactions interleave.
 */

export interface OutboxPosition {
  /** The writing transaction's id (xid8, within 2^53 in practice); 0 on SQLite. */
  readonly tx: number
  readonly seq: number
}

export const OUTBOX_START: OutboxPosition = { tx: 0, seq: 0 }

/** Negative, zero or positive as `a` is before, at or after `b`. */
export function comparePositions(a: OutboxPosition, b: OutboxPosition): number {
  return a.tx !== b.tx ? a.tx - b.tx : a.seq - b.seq
}

/**
 * Where something (a webhook, an automation) started reading: transitions committed after it
 * are new to it. `snapshot` is PostgreSQL's `pg_current_snapshot()` as text at creation
 * (`xmin:xmax:xip,…`), null on SQLite and for rows made before it was recorded; then `seq`
 * decides.
 */
export interface OutboxMark {
  readonly seq: number
  readonly snapshot: string | null
}

/**
 * Whether a transition was committed after `mark` was taken: on PostgreSQL, whether its
 * transaction is invisible in the creation snapshot (so a transaction in flight at creation
 * counts, all of it, whatever its seqs); on SQLite, whether its seq is higher.
 */
export function isAfterMark(
  mark: OutboxMark,
  t: { readonly seq: number; readonly txid: number },
): boolean {
  if (mark.snapshot === null) return t.seq > mark.seq
  // Rows written before transaction ids were recorded have tx 0: they are older than any mark.
  if (t.txid === 0) return false
  const [xmin, xmax, xip] = mark.snapshot.split(':')
  if (t.txid < Number(xmin)) return false
  if (t.txid >= Number(xmax)) return true
  return (xip ?? '').split(',').some((x) => x !== '' && Number(x) === t.txid)
}
