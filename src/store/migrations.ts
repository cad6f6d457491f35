import type { StoreKind } from './store.js'

/** Column types that differ between the dialects; everything else in the DDL is shared. */
interface Types {
  /** Milliseconds since the epoch, counters. */
  readonly int: string
  readonly json: string
  /** An ever-increasing row number that is never reused. */
  readonly seqPk: string
}

const TYPES: Record<StoreKind, Types> = {
  sqlite: { int: 'INTEGER', json: 'TEXT', seqPk: 'INTEGER PRIMARY KEY AUTOINCREMENT' },
  postgres: {
    int: 'BIGINT',
    json: 'JSONB',
    seqPk: 'BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY',
  },
}

export interface Migration {
  readonly version: number
  readonly name: string
  /** Statements, run in order inside one transaction. */
  statements(t: Types): string[]
}

/**
 * Versioned migrations. A migration, once released, never changes: add a new one.
 */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'workspaces, keys, profiles, identities, events, merges',
    statements: (t) => [
      `CREATE TABLE workspaces (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        created_at ${t.int} NOT NULL
      )`,
      `CREATE TABLE api_keys (
        id TEXT PRIMARY KEY,
        workspace_id TEXT NOT NULL REFERENCES workspaces (id),
        kind TEXT NOT NULL CHECK (kind IN ('write', 'admin')),
        name TEXT NOT NULL,
        hash TEXT NOT NULL UNIQUE,
        prefix TEXT NOT NULL,
        created_at ${t.int} NOT NULL,
        revoked_at ${t.int}
      )`,
      `CREATE INDEX api_keys_workspace ON api_keys (workspace_id)`,
      `CREATE TABLE profiles (
        workspace_id TEXT NOT NULL,
        id TEXT NOT NULL,
        user_id TEXT,
        traits ${t.json} NOT NULL,
        trait_times ${t.json} NOT NULL,
        first_seen ${t.int},
        last_seen ${t.int},
        created_at ${t.int} NOT NULL,
        updated_at ${t.int} NOT NULL,
        merged_into TEXT,
        PRIMARY KEY (workspace_id, id)
      )`,
      `CREATE INDEX profiles_merged_into ON profiles (workspace_id, merged_into)
        WHERE merged_into IS NOT NULL`,
      `CREATE TABLE identities (
        workspace_id TEXT NOT NULL,
        value TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('user', 'anonymous', 'email', 'alias')),
        profile_id TEXT NOT NULL,
        created_at ${t.int} NOT NULL,
        PRIMARY KEY (workspace_id, value, kind)
      )`,
      `CREATE INDEX identities_profile ON identities (workspace_id, profile_id)`,
      `CREATE TABLE events (
        seq ${t.seqPk},
        workspace_id TEXT NOT NULL,
        message_id TEXT NOT NULL,
        profile_id TEXT NOT NULL,
        type TEXT NOT NULL,
        name TEXT,
        ts ${t.int} NOT NULL,
        received_at ${t.int} NOT NULL,
        user_id TEXT,
        anonymous_id TEXT,
        properties ${t.json},
        traits ${t.json},
        payload ${t.json} NOT NULL
      )`,
      // The dedupe index: a messageId is stored once per workspace, forever.
      `CREATE UNIQUE INDEX events_message_id ON events (workspace_id, message_id)`,
      `CREATE INDEX events_profile_ts ON events (workspace_id, profile_id, ts)`,
      `CREATE TABLE merges (
        workspace_id TEXT NOT NULL,
        id TEXT NOT NULL,
        from_profile_id TEXT NOT NULL,
        into_profile_id TEXT NOT NULL,
        reason TEXT NOT NULL,
        message_id TEXT NOT NULL,
        at ${t.int} NOT NULL,
        PRIMARY KEY (workspace_id, id)
      )`,
      `CREATE INDEX merges_into ON merges (workspace_id, into_profile_id)`,
    ],
  },
]

export function migrationStatements(kind: StoreKind, m: Migration): string[] {
  return m.statements(TYPES[kind])
}

export const MIGRATIONS_TABLE = 'segflow_migrations'
