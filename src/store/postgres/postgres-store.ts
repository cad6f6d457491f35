import pg from 'pg'
import { SqlStore } from '../sql-store.js'
import type { DialectHooks, Row, SqlConnection } from '../sql-store.js'
import { ERASED_TABLES } from '../sql-privacy.js'
import type { ScrubReport } from '../store.js'

export interface PostgresStoreOptions {
  /** A libpq connection string, e.g. `postgres://user@127.0.0.1:5432/segflow`. */
  readonly connectionString: string
  /**
   * Schema holding segflow's tables; created when missing. Default: the connection's own
   * search_path (normally `public`).
   */
  readonly schema?: string
  /** Connections in the pool. Default 10. */
  readonly poolSize?: number
  /** How long a query waits for a connection before failing as unavailable. Default 5000. */
  readonly connectTimeoutMs?: number
}

const hooks: DialectHooks = {
  inArray: (p) => `= ANY(${p}::text[])`,
  arrayParam: (values) => values,
  decodeJson: (v) => v, // pg parses json and jsonb itself
  jsonText: (c, k) => `CASE WHEN jsonb_typeof(${c} -> '${k}') = 'string' THEN ${c} ->> '${k}' END`,
  // Transactions commit in any order, so seq order is not commit order. Each transition row
  // records its transaction's id (txid, xid8); a position is (txid, seq), and the horizon is
  // the oldest transaction still running (the snapshot's xmin): every transaction below it has
  // ended, so no row can still appear before it. A long transaction delays readers, it never
  // makes them skip. The index transitions_outbox (txid, seq) serves every one of these.
  outbox: {
    horizon: `SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS tx, 0 AS seq`,
    range: `(txid, seq) > (?::xid8, ?) AND (txid, seq) <= (?::xid8, ?)`,
    rangeParams: (after, upTo) => [String(after.tx), after.seq, String(upTo.tx), upTo.seq],
    order: `txid, seq`,
    mark: `SELECT COALESCE(MAX(seq), 0) AS seq, pg_current_snapshot()::text AS snapshot FROM transitions`,
    held: `SELECT COALESCE((SELECT txid FROM transitions ORDER BY txid DESC LIMIT 1), '0'::xid8)
      >= pg_snapshot_xmin(pg_current_snapshot()) AS held`,
  },
}

// BIGINT (int8) and COUNT(*) come back as strings by default; every value segflow stores
// in them is a millisecond time or a counter well inside 2^53.
const INT8_OID = 20
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === INT8_OID) return (v: string) => Number(v)
    return pg.types.getTypeParser(oid, format)
  },
}

const placeholderCache = new Map<string, string>()

/** `?` placeholders to `$1, $2, …`. segflow's SQL never has a `?` inside a literal. */
function toNumbered(sql: string): string {
  let out = placeholderCache.get(sql)
  if (out === undefined) {
    let n = 0
    out = sql.replace(/\?/g, () => `$${++n}`)
    if (placeholderCache.size > 2000) placeholderCache.clear()
    placeholderCache.set(sql, out)
  }
  return out
}

const MAX_PARAMS = 65_535
const MAX_ROWS_PER_STATEMENT = 1000

class PostgresConnection implements SqlConnection {
  /** The previous query on a transaction's client; the next one waits for it. */
  private tail: Promise<unknown> = Promise.resolve()

  constructor(
    private readonly conn: pg.Pool | pg.PoolClient,
    /** One client runs one query at a time: callers may still start several at once. */
    private readonly serial = false,
  ) {}

  private readonly q = {
    query: (text: string, params?: unknown[]): Promise<pg.QueryResult> => {
      if (!this.serial) return this.conn.query(text, params)
      const run = this.tail.then(() => this.conn.query(text, params))
      this.tail = run.catch(() => undefined)
      return run
    },
  }

  // Without parameters the text is sent as it is: DDL (function bodies) may hold a `?`.
  async all(sql: string, params: readonly unknown[] = []): Promise<Row[]> {
    const text = params.length === 0 ? sql : toNumbered(sql)
    return (await this.q.query(text, params as unknown[])).rows as Row[]
  }

  async run(sql: string, params: readonly unknown[] = []): Promise<number> {
    const text = params.length === 0 ? sql : toNumbered(sql)
    return (await this.q.query(text, params as unknown[])).rowCount ?? 0
  }

  async insertMany(
    head: string,
    rows: readonly (readonly unknown[])[],
    tail: string,
  ): Promise<number> {
    const width = rows[0]?.length ?? 0
    if (width === 0) return 0
    const chunk = Math.min(MAX_ROWS_PER_STATEMENT, Math.floor(MAX_PARAMS / width))
    let changes = 0
    for (let start = 0; start < rows.length; start += chunk) {
      const part = rows.slice(start, start + chunk)
      const params: unknown[] = []
      const tuples: string[] = []
      for (const row of part) {
        const marks: string[] = []
        for (const v of row) {
          params.push(v)
          marks.push(`$${params.length}`)
        }
        tuples.push(`(${marks.join(', ')})`)
      }
      const res = await this.q.query(`${head} VALUES ${tuples.join(', ')} ${tail}`, params)
      changes += res.rowCount ?? 0
    }
    return changes
  }

  async matchMany(
    head: string,
    headParams: readonly unknown[],
    columns: readonly string[],
    rows: readonly (readonly string[])[],
  ): Promise<number> {
    if (rows.length === 0) return 0
    // One array per column, unnested back into rows: one statement whatever the count.
    const n = headParams.length
    const arrays = columns.map((_, i) => rows.map((r) => r[i]))
    const unnest = columns.map((_, i) => `$${n + i + 1}::text[]`).join(', ')
    const sql = `${toNumbered(head)} AND (${columns.join(', ')}) IN (SELECT * FROM unnest(${unnest}))`
    return (await this.q.query(sql, [...headParams, ...arrays])).rowCount ?? 0
  }
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/

/**
 * PostgreSQL, for when one file is not enough. Reads use the pool; each write transaction
 * takes one pooled client for its duration.
 */
export class PostgresStore extends SqlStore {
  readonly kind = 'postgres' as const
  protected readonly hooks = hooks
  protected readonly tableExists = `SELECT to_regclass(?::text) AS t`
  private readonly pool: pg.Pool
  private readonly poolConn: PostgresConnection
  private readonly schema: string | undefined

  constructor(options: PostgresStoreOptions) {
    super()
    if (options.schema !== undefined && !SCHEMA_NAME.test(options.schema)) {
      throw new TypeError(
        `schema ${JSON.stringify(options.schema)} must be lower-case letters, digits and underscores`,
      )
    }
    this.schema = options.schema
    this.pool = new pg.Pool({
      connectionString: options.connectionString,
      max: options.poolSize ?? 10,
      // While the server is down, a request waits at most this long for a connection and is
      // then answered 503, instead of queueing until the database returns.
      connectionTimeoutMillis: options.connectTimeoutMs ?? 5000,
      types,
      ...(options.schema ? { options: `-c search_path=${options.schema}` } : {}),
    })
    // An idle client losing its connection must not crash the process; the next query reconnects.
    this.pool.on('error', () => undefined)
    this.poolConn = new PostgresConnection(this.pool)
  }

  protected reader(): SqlConnection {
    return this.poolConn
  }

  protected async transaction<T>(fn: (conn: SqlConnection) => Promise<T>): Promise<T> {
    const client = await this.pool.connect()
    let broken: Error | undefined
    // A checked-out client is not watched by the pool: without a listener, the server going
    // away mid-transaction ('error' on the client) would crash the process. The failed query
    // rejects on its own; the client is then discarded rather than returned to the pool.
    const onError = (e: Error) => {
      broken = e
    }
    client.on('error', onError)
    try {
      await client.query('BEGIN')
      const result = await fn(new PostgresConnection(client, true))
      await client.query('COMMIT')
      return result
    } catch (e) {
      await client.query('ROLLBACK').catch((rollbackError: Error) => {
        broken = rollbackError
      })
      throw e
    } finally {
      client.off('error', onError)
      client.release(broken)
    }
  }

  protected async prepareMigration(conn: SqlConnection): Promise<void> {
    // Several processes may start at once; the lock is per schema and ends with the transaction.
    await conn.all(`SELECT pg_advisory_xact_lock(hashtext(?))`, [
      `segflow-migrate:${this.schema ?? ''}`,
    ])
    if (this.schema) await conn.run(`CREATE SCHEMA IF NOT EXISTS ${this.schema}`)
  }

  protected async scrub(): Promise<ScrubReport> {
    // VACUUM cannot run in a transaction. INDEX_CLEANUP ON: with few dead rows PostgreSQL would
    // otherwise skip the indexes, leaving the person's keys (email, ids) in them.
    await this.poolConn.run(`VACUUM (INDEX_CLEANUP ON) ${ERASED_TABLES.join(', ')}`)
    return { vacuumed: ERASED_TABLES }
  }

  protected async closeConnections(): Promise<void> {
    await this.pool.end()
  }
}
