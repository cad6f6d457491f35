import Database from 'better-sqlite3'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { randomBytes } from 'node:crypto'
import { PostgresStore } from '../../src/store/postgres/postgres-store.js'
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js'
import type { Store, StoreKind } from '../../src/store/store.js'

/** The PostgreSQL server tests use; each test gets its own schema in it. */
export const PG_URL =
  process.env.SEGFLOW_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

/** Stores under test: SEGFLOW_TEST_STORES=sqlite,postgres (default sqlite). */
export function testStoreKinds(): StoreKind[] {
  const raw = process.env.SEGFLOW_TEST_STORES ?? 'sqlite'
  const kinds = raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
  for (const k of kinds) {
    if (k !== 'sqlite' && k !== 'postgres')
      throw new Error(`SEGFLOW_TEST_STORES: unknown store ${k}`)
  }
  return kinds as StoreKind[]
}

/** Where a store's data lives, as the environment a segflow process would be given. */
export interface StoreLocation {
  readonly kind: StoreKind
  readonly env: Record<string, string>
  /** Opens a store on this location (several may be opened over its life). */
  open(): Store
  /** Removes everything (the temp folder or the schema). */
  destroy(): Promise<void>
}

export async function newStoreLocation(kind: StoreKind): Promise<StoreLocation> {
  if (kind === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'segflow-test-'))
    return {
      kind,
      env: { SEGFLOW_DATA_DIR: dir },
      open: () => new SqliteStore({ path: join(dir, 'segflow.db') }),
      destroy: async () => rmSync(dir, { recursive: true, force: true }),
    }
  }
  const schema = `t_${randomBytes(6).toString('hex')}`
  return {
    kind,
    env: { SEGFLOW_DATABASE_URL: PG_URL, SEGFLOW_DATABASE_SCHEMA: schema },
    open: () => new PostgresStore({ connectionString: PG_URL, schema, poolSize: 4 }),
    destroy: async () => {
      const client = new pg.Client({ connectionString: PG_URL })
      await client.connect()
      try {
        await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
      } finally {
        await client.end()
      }
    },
  }
}

/** A fresh location whose database exists, as `segflow serve` leaves it on its first start. */
export async function newCreatedLocation(kind: StoreKind): Promise<StoreLocation> {
  const location = await newStoreLocation(kind)
  const store = location.open()
  try {
    await store.migrate()
  } finally {
    await store.close()
  }
  return location
}

/** A migrated store on a fresh location, and how to get rid of both. */
export interface TestStore {
  readonly store: Store
  readonly location: StoreLocation
  cleanup(): Promise<void>
}

export async function newTestStore(kind: StoreKind): Promise<TestStore> {
  const location = await newStoreLocation(kind)
  const store = location.open()
  await store.migrate()
  return {
    store,
    location,
    cleanup: async () => {
      await store.close().catch(() => undefined)
      await location.destroy()
    },
  }
}

/**
 * Raw SQL on a location's database, beside any store open on it (for seeding old rows or
 * undoing a migration; no part of segflow). Returns the rows of each statement.
 */
export async function runSql(
  location: StoreLocation,
  statements: readonly string[],
): Promise<Record<string, unknown>[][]> {
  const out: Record<string, unknown>[][] = []
  if (location.kind === 'sqlite') {
    const db = new Database(join(location.env.SEGFLOW_DATA_DIR!, 'segflow.db'))
    try {
      for (const s of statements) {
        const stmt = db.prepare(s)
        out.push(stmt.reader ? (stmt.all() as Record<string, unknown>[]) : (stmt.run(), []))
      }
    } finally {
      db.close()
    }
    return out
  }
  const c = new pg.Client({
    connectionString: PG_URL,
    options: `-c search_path=${location.env.SEGFLOW_DATABASE_SCHEMA}`,
  })
  await c.connect()
  try {
    for (const s of statements) out.push((await c.query(s)).rows as Record<string, unknown>[])
  } finally {
    await c.end()
  }
  return out
}
