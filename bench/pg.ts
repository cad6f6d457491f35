/** The PostgreSQL server benchmarks run against (the one tests use), and its clean-up. */
import pg from 'pg'

export const PG_URL =
  process.env.SEGFLOW_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

/** Whether the server answers; benchmarks skip their PostgreSQL half when it does not. */
export async function pgReachable(): Promise<boolean> {
  const client = new pg.Client({ connectionString: PG_URL })
  try {
    await client.connect()
    return true
  } catch {
    return false
  } finally {
    await client.end().catch(() => undefined)
  }
}

/** Drops a benchmark's schema and everything in it. */
export async function dropSchema(schema: string): Promise<void> {
  const c = new pg.Client({ connectionString: PG_URL })
  await c.connect()
  try {
    await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
  } finally {
    await c.end()
  }
}

/** What a benchmark runs on: the embedded SQLite file or the PostgreSQL server. */
export type BenchStore = 'sqlite' | 'postgres'

/** The environment that points segflow at a store: a data directory or a schema. */
export function storeEnv(store: BenchStore, dir: string, schema: string): Record<string, string> {
  return store === 'sqlite'
    ? { SEGFLOW_DATA_DIR: dir }
    : { SEGFLOW_DATABASE_URL: PG_URL, SEGFLOW_DATABASE_SCHEMA: schema }
}
