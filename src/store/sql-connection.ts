/** What the shared SQL store needs of a dialect's connection. */

export type Row = Record<string, unknown>

/**
 * One connection's worth of SQL, written with `?` placeholders. The dialects differ only in
 * how they run statements and in the few hooks below; every query is shared.
 */
export interface SqlConnection {
  all(sql: string, params?: readonly unknown[]): Promise<Row[]>
  run(sql: string, params?: readonly unknown[]): Promise<number>
  /**
   * `head VALUES (?, …), (?, …) tail` for many rows; returns the rows affected. SQLite runs a
   * prepared one-row statement per row, PostgreSQL sends multi-row statements.
   */
  insertMany(head: string, rows: readonly (readonly unknown[])[], tail: string): Promise<number>
  /**
   * `head AND (c1, c2, …) IN rows`: deletes (or updates) the rows whose `columns` match one
   * of `rows` (all text). Returns the rows affected.
   */
  matchMany(
    head: string,
    headParams: readonly unknown[],
    columns: readonly string[],
    rows: readonly (readonly string[])[],
  ): Promise<number>
}

/** The small places where the SQL itself differs between dialects. */
export interface DialectHooks {
  /** A predicate fragment testing `column` against one bound array parameter. */
  inArray(column: string): string
  /** How an array is bound for `inArray`. */
  arrayParam(values: readonly string[]): unknown
  /** A JSON column value as read back from the driver. */
  decodeJson(value: unknown): unknown
  /**
   * The value of top-level `key` of JSON column `column` when it is a string; other values may
   * come back as they are (callers keep only strings), missing ones as NULL.
   */
  jsonText(column: string, key: string): string
  readonly outbox: OutboxDialect
}

/**
 * How a dialect reads the transition outbox in commit order (see outbox.ts). Every query
 * returns the columns named; `?` placeholders as everywhere.
 */
export interface OutboxDialect {
  /** `tx, seq`: the horizon; every transition at or before it is committed (or never will be). */
  readonly horizon: string
  /** A predicate on `transitions`: after position (?, ?) and at or before position (?, ?). */
  readonly range: string
  /** How the two positions are bound for `range`. */
  rangeParams(after: { tx: number; seq: number }, upTo: { tx: number; seq: number }): unknown[]
  /** `ORDER BY` of positions. */
  readonly order: string
  /** `seq, snapshot`: a mark of what this transaction has seen (see OutboxMark). */
  readonly mark: string
  /**
   * `held`: true while committed transitions lie beyond the horizon (a transaction that began
   * earlier is still open). Null when commit order is seq order and nothing is ever held.
   */
  readonly held: string | null
}
