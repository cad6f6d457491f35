import Database from 'better-sqlite3'
import type { Database as SqliteDatabase, Statement } from 'better-sqlite3'
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { parseInstant } from '../../shared/time.js'
import { SqlStore } from '../sql-store.js'
import type { DialectHooks, Row, SqlConnection } from '../sql-store.js'
import type { ScrubReport } from '../store.js'

export interface SqliteStoreOptions {
  /** Path of the database file; its folder is created when missing. */
  readonly path: string
  /**
   * `PRAGMA synchronous`. Default `full`: a commit survives power loss. `normal` survives a
   * crash of the process (not of the machine) and commits faster.
   */
  readonly synchronous?: 'full' | 'normal'
  /** How long a statement waits for another process's lock. Default 5000 ms. */
  readonly busyTimeoutMs?: number
}

/** SQL functions the rule compiler's SQL calls (PostgreSQL gets them from a migration). */
function registerFunctions(db: SqliteDatabase): void {
  db.function('segflow_instant', { deterministic: true }, (v: unknown) =>
    typeof v === 'string' ? parseInstant(v) : null,
  )
}

const hooks: DialectHooks = {
  // A JSON array bound as one parameter: one prepared statement serves any list length.
  inArray: (p) => `IN (SELECT value FROM json_each(${p}))`,
  arrayParam: (values) => JSON.stringify(values),
  decodeJson: (v) => (typeof v === 'string' ? JSON.parse(v) : v),
  // ->> gives a JSON string as text and a number or boolean as a number: one parse per row.
  jsonText: (c, k) => `${c} ->> '$.${k}'`,
  // One writer at a time (BEGIN IMMEDIATE, across processes too): commit order is seq order,
  // so a position is just a seq and the horizon is the newest one.
  outbox: {
    horizon: `SELECT 0 AS tx, COALESCE(MAX(seq), 0) AS seq FROM transitions`,
    range: `seq > ? AND seq <= ?`,
    rangeParams: (after, upTo) => [after.seq, upTo.seq],
    order: `seq`,
    mark: `SELECT COALESCE(MAX(seq), 0) AS seq, NULL AS snapshot FROM transitions`,
    held: null,
  },
}

class SqliteConnection implements SqlConnection {
  private readonly statements = new Map<string, Statement>()
  constructor(readonly db: SqliteDatabase) {}

  private prepare(sql: string): Statement {
    let stmt = this.statements.get(sql)
    if (!stmt) {
      stmt = this.db.prepare(sql)
      // Bounded: the SQL texts are a fixed set except for ad-hoc admin queries.
      if (this.statements.size > 500) this.statements.clear()
      this.statements.set(sql, stmt)
    }
    return stmt
  }

  async all(sql: string, params: readonly unknown[] = []): Promise<Row[]> {
    return this.prepare(sql).all(...params) as Row[]
  }

  async run(sql: string, params: readonly unknown[] = []): Promise<number> {
    return this.prepare(sql).run(...params).changes
  }

  async insertMany(
    head: string,
    rows: readonly (readonly unknown[])[],
    tail: string,
  ): Promise<number> {
    const first = rows[0]
    if (!first) return 0
    const stmt = this.prepare(`${head} VALUES (${first.map(() => '?').join(', ')}) ${tail}`)
    let changes = 0
    for (const row of rows) changes += stmt.run(...row).changes
    return changes
  }

  async matchMany(
    head: string,
    headParams: readonly unknown[],
    columns: readonly string[],
    rows: readonly (readonly string[])[],
  ): Promise<number> {
    if (rows.length === 0) return 0
    const stmt = this.prepare(`${head} AND ${columns.map((c) => `${c} = ?`).join(' AND ')}`)
    let changes = 0
    for (const row of rows) changes += stmt.run(...headParams, ...row).changes
    return changes
  }
}

/**
 * The embedded store: one SQLite file in WAL mode. A writer connection holds the write
 * transactions; a second connection serves reads, which WAL lets run beside a write.
 */
export class SqliteStore extends SqlStore {
  readonly kind = 'sqlite' as const
  protected readonly hooks = hooks
  protected readonly tableExists = `SELECT name AS t FROM sqlite_master WHERE type = 'table' AND name = ?`
  private readonly writer: SqliteConnection
  private readonly readConn: SqliteConnection

  constructor(options: SqliteStoreOptions) {
    super()
    mkdirSync(dirname(options.path), { recursive: true })
    const busy = options.busyTimeoutMs ?? 5000
    const w = new Database(options.path, { timeout: busy })
    w.pragma('journal_mode = WAL')
    w.pragma(`synchronous = ${options.synchronous === 'normal' ? 'NORMAL' : 'FULL'}`)
    w.pragma('foreign_keys = ON')
    // Deleted rows are overwritten with zeros, free pages too: an erased person's bytes do not
    // linger in the file (the WAL is truncated after an erasure, see scrub).
    w.pragma('secure_delete = ON')
    this.writer = new SqliteConnection(w)
    const r = new Database(options.path, { timeout: busy })
    r.pragma('query_only = ON')
    this.readConn = new SqliteConnection(r)
    for (const db of [w, r]) registerFunctions(db)
  }

  protected reader(): SqlConnection {
    return this.readConn
  }

  protected async transaction<T>(fn: (conn: SqlConnection) => Promise<T>): Promise<T> {
    const db = this.writer.db
    db.exec('BEGIN IMMEDIATE')
    try {
      const result = await fn(this.writer)
      db.exec('COMMIT')
      return result
    } catch (e) {
      if (db.inTransaction) db.exec('ROLLBACK')
      throw e
    }
  }

  protected async prepareMigration(): Promise<void> {
    // BEGIN IMMEDIATE already holds the database's write lock.
  }

  protected async scrub(): Promise<ScrubReport> {
    // TRUNCATE copies every committed page into the file (their deleted content zeroed by
    // secure_delete) and cuts the log to zero bytes, so no older page image survives in it.
    // Busy when another process is reading from the log; the next erasure tries again.
    const [r] = this.writer.db.pragma('wal_checkpoint(TRUNCATE)') as { busy: number }[]
    return { walTruncated: r?.busy === 0 }
  }

  protected async closeConnections(): Promise<void> {
    this.readConn.db.close()
    this.writer.db.close()
  }
}
