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
  statements(t: Types, kind: StoreKind): string[]
}

/**
 * `segflow_instant(text)`: the ISO-8601 grammar of shared/time.ts parseInstant, statement for
 * statement, so SQL reads dates in traits exactly as the other evaluators do. SQLite gets
 * the same function registered from JavaScript on each connection.
 */
const SEGFLOW_INSTANT_PG = `CREATE OR REPLACE FUNCTION segflow_instant(v text) RETURNS bigint
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
DECLARE
  m text[];
  y int; mo int; d int; h int := 0; mi int := 0; s int := 0; ms int := 0;
  off bigint := 0; digits text; oh int; om int;
BEGIN
  m := regexp_match(v, '^(\\d{4})-(\\d{2})-(\\d{2})(?:[Tt ](\\d{2}):(\\d{2})(?::(\\d{2})(?:\\.(\\d+))?)?([Zz]|[+-]\\d{2}(?::?\\d{2})?)?)?$');
  IF m IS NULL THEN RETURN NULL; END IF;
  y := m[1]::int; mo := m[2]::int; d := m[3]::int;
  IF m[4] IS NOT NULL THEN h := m[4]::int; mi := m[5]::int; END IF;
  IF m[6] IS NOT NULL THEN s := m[6]::int; END IF;
  IF m[7] IS NOT NULL THEN ms := rpad(substr(m[7], 1, 3), 3, '0')::int; END IF;
  IF y < 1 OR mo < 1 OR mo > 12 OR d < 1 OR h > 23 OR mi > 59 OR s > 59 THEN RETURN NULL; END IF;
  IF d > extract(day FROM (make_date(y, mo, 1) + interval '1 month' - interval '1 day')) THEN RETURN NULL; END IF;
  IF m[8] IS NOT NULL AND m[8] NOT IN ('Z', 'z') THEN
    digits := replace(substr(m[8], 2), ':', '');
    oh := substr(digits, 1, 2)::int;
    om := CASE WHEN length(digits) > 2 THEN substr(digits, 3, 2)::int ELSE 0 END;
    IF oh > 23 OR om > 59 THEN RETURN NULL; END IF;
    off := (CASE WHEN left(m[8], 1) = '-' THEN -1 ELSE 1 END) * (oh * 60 + om) * 60000;
  END IF;
  RETURN (make_date(y, mo, d) - DATE '1970-01-01')::bigint * 86400000
    + h * 3600000 + mi * 60000 + s * 1000 + ms - off;
END
$fn$`

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
  {
    version: 2,
    name: 'segflow_instant(text) for date operators in SQL',
    statements: (_t, kind) => (kind === 'postgres' ? [SEGFLOW_INSTANT_PG] : []),
  },
  {
    version: 3,
    name: 'segments, versions, memberships, trackers, timers, transitions',
    statements: (t) => [
      `CREATE TABLE segments (
        workspace_id TEXT NOT NULL,
        key TEXT NOT NULL,
        version INTEGER NOT NULL,
        name TEXT NOT NULL,
        description TEXT NOT NULL,
        priority INTEGER NOT NULL,
        -- Rules are kept as the JSON text the user sent: JSONB would reorder their keys.
        rule TEXT NOT NULL,
        live_version INTEGER,
        live_rule TEXT,
        status TEXT NOT NULL CHECK (status IN ('computing', 'live')),
        backfill_cursor TEXT,
        backfill_done ${t.int} NOT NULL,
        backfill_total ${t.int} NOT NULL,
        created_at ${t.int} NOT NULL,
        updated_at ${t.int} NOT NULL,
        PRIMARY KEY (workspace_id, key)
      )`,
      `CREATE TABLE segment_versions (
        workspace_id TEXT NOT NULL,
        key TEXT NOT NULL,
        version INTEGER NOT NULL,
        name TEXT NOT NULL,
        description TEXT NOT NULL,
        rule TEXT NOT NULL,
        published_at ${t.int} NOT NULL,
        PRIMARY KEY (workspace_id, key, version)
      )`,
      `CREATE TABLE memberships (
        workspace_id TEXT NOT NULL,
        segment_key TEXT NOT NULL,
        profile_id TEXT NOT NULL,
        version INTEGER NOT NULL,
        entered_at ${t.int} NOT NULL,
        PRIMARY KEY (workspace_id, segment_key, profile_id)
      )`,
      `CREATE INDEX memberships_profile ON memberships (workspace_id, profile_id)`,
      // Per profile, the state of each event tracker the live rules need (evaluate/state.ts).
      `CREATE TABLE trackers (
        workspace_id TEXT NOT NULL,
        profile_id TEXT NOT NULL,
        key TEXT NOT NULL,
        state ${t.json} NOT NULL,
        PRIMARY KEY (workspace_id, profile_id, key)
      )`,
      // The instant a profile's membership of a segment next changes with no new event.
      `CREATE TABLE timers (
        workspace_id TEXT NOT NULL,
        profile_id TEXT NOT NULL,
        segment_key TEXT NOT NULL,
        due_at ${t.int} NOT NULL,
        PRIMARY KEY (workspace_id, profile_id, segment_key)
      )`,
      `CREATE INDEX timers_due ON timers (due_at)`,
      // The outbox: every membership change, written with the change itself.
      `CREATE TABLE transitions (
        seq ${t.seqPk},
        workspace_id TEXT NOT NULL,
        id TEXT NOT NULL,
        type TEXT NOT NULL CHECK (type IN ('segment.entered', 'segment.exited')),
        at ${t.int} NOT NULL,
        segment_key TEXT NOT NULL,
        segment_version INTEGER NOT NULL,
        profile_id TEXT NOT NULL,
        reason TEXT NOT NULL,
        recorded_at ${t.int} NOT NULL
      )`,
      `CREATE UNIQUE INDEX transitions_id ON transitions (workspace_id, id)`,
      `CREATE INDEX transitions_segment ON transitions (workspace_id, segment_key, at)`,
      `CREATE INDEX transitions_profile ON transitions (workspace_id, profile_id, seq)`,
    ],
  },
  {
    version: 4,
    name: 'webhooks, deliveries and their attempts, the outbox cursor',
    statements: (t) => [
      `CREATE TABLE webhooks (
        workspace_id TEXT NOT NULL,
        id TEXT NOT NULL,
        url TEXT NOT NULL,
        secrets TEXT NOT NULL,
        segments TEXT,
        types TEXT,
        status TEXT NOT NULL CHECK (status IN ('active', 'disabled')),
        disabled_reason TEXT,
        max_in_flight INTEGER NOT NULL,
        created_at ${t.int} NOT NULL,
        updated_at ${t.int} NOT NULL,
        PRIMARY KEY (workspace_id, id)
      )`,
      // One row per message to one destination; its id is the webhook-id, stable across retries.
      `CREATE TABLE deliveries (
        workspace_id TEXT NOT NULL,
        id TEXT NOT NULL,
        destination TEXT NOT NULL,
        profile_id TEXT NOT NULL,
        transition_seq ${t.int} NOT NULL,
        payload TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed', 'exhausted', 'cancelled')),
        attempts INTEGER NOT NULL,
        next_attempt_at ${t.int} NOT NULL,
        last_status INTEGER,
        last_error TEXT,
        created_at ${t.int} NOT NULL,
        updated_at ${t.int} NOT NULL,
        PRIMARY KEY (workspace_id, id)
      )`,
      `CREATE INDEX deliveries_due ON deliveries (status, next_attempt_at)`,
      `CREATE INDEX deliveries_order ON deliveries (workspace_id, destination, profile_id, transition_seq)`,
      `CREATE TABLE delivery_attempts (
        workspace_id TEXT NOT NULL,
        delivery_id TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        at ${t.int} NOT NULL,
        status INTEGER,
        error TEXT,
        duration_ms INTEGER NOT NULL,
        PRIMARY KEY (workspace_id, delivery_id, attempt)
      )`,
      // How far each consumer of the transition outbox has read.
      `CREATE TABLE outbox_cursors (
        name TEXT PRIMARY KEY,
        seq ${t.int} NOT NULL
      )`,
    ],
  },
  {
    version: 5,
    name: 'templates, email settings, subscription status, sends, automations and their runs',
    statements: (t) => [
      // Webhooks made before this version keep getting everything (0).
      `ALTER TABLE webhooks ADD COLUMN from_seq ${t.int} NOT NULL DEFAULT 0`,
      `CREATE TABLE templates (
        workspace_id TEXT NOT NULL,
        key TEXT NOT NULL,
        subject TEXT NOT NULL,
        html TEXT NOT NULL,
        text TEXT,
        updated_at ${t.int} NOT NULL,
        PRIMARY KEY (workspace_id, key)
      )`,
      `CREATE TABLE email_settings (
        workspace_id TEXT PRIMARY KEY,
        from_address TEXT NOT NULL,
        caps TEXT NOT NULL,
        consent TEXT,
        updated_at ${t.int} NOT NULL
      )`,
      // subscribed (the default when no row), unsubscribed or bounced.
      `CREATE TABLE email_status (
        workspace_id TEXT NOT NULL,
        profile_id TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('subscribed', 'unsubscribed', 'bounced')),
        reason TEXT,
        updated_at ${t.int} NOT NULL,
        PRIMARY KEY (workspace_id, profile_id)
      )`,
      `CREATE TABLE email_sends (
        workspace_id TEXT NOT NULL,
        id TEXT NOT NULL,
        profile_id TEXT NOT NULL,
        address TEXT NOT NULL,
        template_key TEXT NOT NULL,
        automation_key TEXT,
        transition_id TEXT,
        category TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('sending', 'sent', 'failed')),
        message_id TEXT NOT NULL,
        error TEXT,
        created_at ${t.int} NOT NULL,
        sent_at ${t.int},
        PRIMARY KEY (workspace_id, id)
      )`,
      `CREATE INDEX email_sends_profile ON email_sends (workspace_id, profile_id, category, created_at)`,
      `CREATE TABLE automations (
        workspace_id TEXT NOT NULL,
        key TEXT NOT NULL,
        definition TEXT NOT NULL,
        from_seq ${t.int} NOT NULL,
        created_at ${t.int} NOT NULL,
        updated_at ${t.int} NOT NULL,
        PRIMARY KEY (workspace_id, key)
      )`,
      // One run per automation and transition: its id makes every action happen once.
      `CREATE TABLE automation_runs (
        workspace_id TEXT NOT NULL,
        automation_key TEXT NOT NULL,
        transition_id TEXT NOT NULL,
        transition_seq ${t.int} NOT NULL,
        transition_at ${t.int} NOT NULL,
        profile_id TEXT NOT NULL,
        segment_key TEXT NOT NULL,
        transition_type TEXT NOT NULL,
        due_at ${t.int} NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('scheduled', 'done', 'skipped', 'failed')),
        step INTEGER NOT NULL,
        attempts INTEGER NOT NULL,
        detail TEXT,
        created_at ${t.int} NOT NULL,
        updated_at ${t.int} NOT NULL,
        PRIMARY KEY (workspace_id, automation_key, transition_id)
      )`,
      `CREATE INDEX automation_runs_due ON automation_runs (status, due_at)`,
      // Secrets segflow makes for itself (the key that signs tracking links).
      `CREATE TABLE instance_secrets (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL
      )`,
    ],
  },
  {
    version: 6,
    name: 'scoring models and lifecycle stages',
    statements: (t) => [
      `CREATE TABLE score_models (
        workspace_id TEXT NOT NULL,
        key TEXT NOT NULL,
        definition TEXT NOT NULL,
        created_at ${t.int} NOT NULL,
        updated_at ${t.int} NOT NULL,
        PRIMARY KEY (workspace_id, key)
      )`,
      `ALTER TABLE segments ADD COLUMN models TEXT`,
      `ALTER TABLE segments ADD COLUMN live_models TEXT`,
      `CREATE TABLE lifecycles (
        workspace_id TEXT PRIMARY KEY,
        definition TEXT NOT NULL,
        updated_at ${t.int} NOT NULL
      )`,
    ],
  },
  {
    version: 7,
    name: 'consent by purpose, audit log',
    statements: (t) => [
      `CREATE TABLE consents (
        workspace_id TEXT NOT NULL,
        profile_id TEXT NOT NULL,
        purpose TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('granted', 'denied')),
        at ${t.int} NOT NULL,
        source TEXT NOT NULL,
        evidence TEXT NOT NULL,
        message_id TEXT,
        PRIMARY KEY (workspace_id, profile_id, purpose)
      )`,
      // Append-only: segflow never updates or deletes a row of it.
      `CREATE TABLE audit_log (
        workspace_id TEXT NOT NULL,
        id TEXT NOT NULL,
        at ${t.int} NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT,
        status INTEGER NOT NULL,
        PRIMARY KEY (workspace_id, id)
      )`,
    ],
  },
  {
    version: 8,
    name: 'rights requests and the suppression list',
    statements: (t) => [
      `CREATE TABLE privacy_requests (
        workspace_id TEXT NOT NULL,
        id TEXT NOT NULL,
        type TEXT NOT NULL CHECK (type IN ('export', 'erasure')),
        regulation TEXT NOT NULL CHECK (regulation IN ('gdpr', 'ccpa')),
        subject_hash TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('received', 'completed', 'failed')),
        created_at ${t.int} NOT NULL,
        due_at ${t.int} NOT NULL,
        completed_at ${t.int},
        detail TEXT,
        PRIMARY KEY (workspace_id, id)
      )`,
      // Hashed identifiers of erased people: their later messages are dropped.
      `CREATE TABLE suppressions (
        workspace_id TEXT NOT NULL,
        hash TEXT NOT NULL,
        request_id TEXT NOT NULL,
        created_at ${t.int} NOT NULL,
        PRIMARY KEY (workspace_id, hash)
      )`,
    ],
  },
  {
    version: 9,
    name: 'data schemas (data minimisation)',
    statements: (t) => [
      // What each workspace collects (privacy/schema.ts).
      `CREATE TABLE schemas (
        workspace_id TEXT PRIMARY KEY,
        definition TEXT NOT NULL,
        updated_at ${t.int} NOT NULL
      )`,
    ],
  },
  {
    version: 10,
    name: 'the outbox in commit order; pending deliveries indexed for due-picking',
    statements: (t, kind) => [
      // PostgreSQL commits transactions in any order: each transition records its transaction
      // so that consumers read in commit order (store/outbox.ts). Rows from before get 0: they
      // sort before every new one, and a cursor at seq c becomes (0, c), so nothing consumed is
      // read again and nothing pending is skipped.
      ...(kind === 'postgres'
        ? [
            `ALTER TABLE transitions ADD COLUMN txid xid8 NOT NULL DEFAULT '0'`,
            `ALTER TABLE transitions ALTER COLUMN txid SET DEFAULT pg_current_xact_id()`,
            `CREATE INDEX transitions_outbox ON transitions (txid, seq)`,
          ]
        : []),
      `ALTER TABLE outbox_cursors ADD COLUMN tx ${t.int} NOT NULL DEFAULT 0`,
      // What a new webhook or automation had seen when it was made (OutboxMark); null: from_seq.
      `ALTER TABLE webhooks ADD COLUMN from_snapshot TEXT`,
      `ALTER TABLE automations ADD COLUMN from_snapshot TEXT`,
      // Due-picking reads one destination at a time in due order, and checks a person's
      // earlier pending delivery, both over pending rows only (a backlog of finished ones and
      // of disabled endpoints is never scanned).
      `DROP INDEX deliveries_due`,
      `CREATE INDEX deliveries_pending_due ON deliveries (workspace_id, destination, next_attempt_at, transition_seq)
        WHERE status = 'pending'`,
      `CREATE INDEX deliveries_pending_order ON deliveries (workspace_id, destination, profile_id, transition_seq)
        WHERE status = 'pending'`,
    ],
  },
  {
    version: 11,
    name: 'historical transitions (imports, late messages and timers); webhook history option',
    statements: (_t, kind) => [
      // Rows from before were all live as far as anyone can tell now: false.
      `ALTER TABLE transitions ADD COLUMN historical ${kind === 'postgres' ? 'BOOLEAN NOT NULL DEFAULT false' : 'INTEGER NOT NULL DEFAULT 0'}`,
      `ALTER TABLE webhooks ADD COLUMN history TEXT NOT NULL DEFAULT 'send' CHECK (history IN ('send', 'skip'))`,
    ],
  },
  {
    version: 12,
    name: 'scoring models spell halfLife as the API does',
    statements: () => {
      // Definitions are stored as JSON.stringify wrote them (no spaces), and `half_life` was
      // only ever a key of a model's top level (a segment version keeps {model: definition}).
      // Inside a JSON string every quote is escaped, so `"half_life":` is always that key.
      const rename = (col: string) => `${col} = replace(${col}, '"half_life":', '"halfLife":')`
      return [
        `UPDATE score_models SET ${rename('definition')} WHERE definition LIKE '%"half_life":%'`,
        `UPDATE segments SET ${rename('models')}, ${rename('live_models')}
          WHERE models LIKE '%"half_life":%' OR live_models LIKE '%"half_life":%'`,
      ]
    },
  },
  {
    version: 13,
    name: 'automation runs paged by cursor',
    // `GET /api/automations/:key/runs` pages one automation's runs in creation order.
    statements: () => [
      `CREATE INDEX automation_runs_list ON automation_runs (workspace_id, automation_key, created_at, transition_id)`,
    ],
  },
  {
    version: 14,
    name: 'imported message counters',
    // `segflow import` runs in a process of its own: what it stores is counted here, in the
    // transaction that stores it, and every server's /metrics reads it back.
    statements: (t) => [
      `CREATE TABLE imported_messages (
        workspace_id TEXT NOT NULL,
        type TEXT NOT NULL,
        count ${t.int} NOT NULL,
        PRIMARY KEY (workspace_id, type)
      )`,
    ],
  },
  {
    version: 15,
    name: "a profile's memberships in segment order",
    statements: () => [
      // Reading one profile's memberships ordered by segment (profile pages, the old member
      // listing) chose the primary key (workspace_id, segment_key, …) to skip the sort on
      // SQLite, scanning every membership of the workspace for each profile. With the segment
      // in this index both the lookup and the order come from it.
      `DROP INDEX memberships_profile`,
      `CREATE INDEX memberships_profile ON memberships (workspace_id, profile_id, segment_key)`,
    ],
  },
  {
    version: 16,
    name: 'segment sizes per hour, written with the transitions',
    statements: (t) => [
      // Entered and exited per segment and UTC hour: a segment's size at any hour boundary is
      // the sum of the buckets before it, without rescanning transitions (which erasure also
      // deletes: the counts hold no person).
      `CREATE TABLE segment_sizes (
        workspace_id TEXT NOT NULL,
        segment_key TEXT NOT NULL,
        bucket ${t.int} NOT NULL,
        -- The writing store's id: each process adds to rows of its own (no lock waits).
        writer TEXT NOT NULL,
        entered ${t.int} NOT NULL,
        exited ${t.int} NOT NULL,
        PRIMARY KEY (workspace_id, segment_key, bucket, writer)
      )`,
      // Counted from the transitions of the segments that exist, since they were (re)created.
      `INSERT INTO segment_sizes (workspace_id, segment_key, bucket, writer, entered, exited)
       SELECT t.workspace_id, t.segment_key, t.at - (t.at % 3600000), '',
              SUM(CASE WHEN t.type = 'segment.entered' THEN 1 ELSE 0 END),
              SUM(CASE WHEN t.type = 'segment.exited' THEN 1 ELSE 0 END)
       FROM transitions t JOIN segments s ON s.workspace_id = t.workspace_id
         AND s.key = t.segment_key AND t.recorded_at >= s.created_at
       GROUP BY t.workspace_id, t.segment_key, t.at - (t.at % 3600000)`,
    ],
  },
  {
    version: 17,
    name: 'users, workspace roles, sessions and set-password tokens',
    statements: (t) => [
      // People who log in (the dashboard); admin keys stay for scripts. `email_key` is the
      // address lower-cased in JavaScript (the same folding on both backends): unique, so
      // Ann@x.io and ann@x.io are one user.
      `CREATE TABLE users (
        id TEXT PRIMARY KEY,
        email TEXT NOT NULL,
        email_key TEXT NOT NULL UNIQUE,
        password_hash TEXT,
        disabled_at ${t.int},
        created_at ${t.int} NOT NULL,
        updated_at ${t.int} NOT NULL
      )`,
      `CREATE TABLE user_roles (
        user_id TEXT NOT NULL,
        workspace_id TEXT NOT NULL,
        role TEXT NOT NULL CHECK (role IN ('viewer', 'editor', 'admin')),
        created_at ${t.int} NOT NULL,
        updated_at ${t.int} NOT NULL,
        PRIMARY KEY (user_id, workspace_id)
      )`,
      `CREATE INDEX user_roles_workspace ON user_roles (workspace_id)`,
      // Only the SHA-256 of a session token is kept: a copy of the database logs nobody in.
      `CREATE TABLE sessions (
        token_hash TEXT PRIMARY KEY,
        user_id TEXT NOT NULL,
        workspace_id TEXT NOT NULL,
        csrf_token TEXT NOT NULL,
        created_at ${t.int} NOT NULL,
        last_seen_at ${t.int} NOT NULL
      )`,
      `CREATE INDEX sessions_user ON sessions (user_id)`,
      `CREATE TABLE password_tokens (
        token_hash TEXT PRIMARY KEY,
        user_id TEXT NOT NULL,
        created_at ${t.int} NOT NULL,
        expires_at ${t.int} NOT NULL,
        used_at ${t.int}
      )`,
      `CREATE INDEX password_tokens_user ON password_tokens (user_id)`,
    ],
  },
  {
    version: 18,
    name: 'events received per minute, written with the events',
    statements: (t) => [
      // Messages stored per workspace and UTC minute of arrival ("events in the last hour" on
      // the dashboard) without an index on the event log's arrival time. Rows per writing
      // process, as in segment_sizes. Counts, no person: erasure leaves them.
      `CREATE TABLE event_counts (
        workspace_id TEXT NOT NULL,
        minute ${t.int} NOT NULL,
        writer TEXT NOT NULL,
        n ${t.int} NOT NULL,
        PRIMARY KEY (workspace_id, minute, writer)
      )`,
      `INSERT INTO event_counts (workspace_id, minute, writer, n)
       SELECT workspace_id, received_at - (received_at % 60000), '', COUNT(*)
       FROM events GROUP BY workspace_id, received_at - (received_at % 60000)`,
    ],
  },
  {
    version: 19,
    name: 'segment sizes, reachable sizes and the reachable audience as counters',
    statements: (t) => [
      // Whether the membership's person was reachable when last settled (sql-segment-counts.ts).
      `ALTER TABLE memberships ADD COLUMN reach ${t.int} NOT NULL DEFAULT 0`,
      `CREATE TABLE segment_counts (
        workspace_id TEXT NOT NULL,
        segment_key TEXT NOT NULL,
        writer TEXT NOT NULL,
        members ${t.int} NOT NULL,
        reachable ${t.int} NOT NULL,
        PRIMARY KEY (workspace_id, segment_key, writer)
      )`,
      // The same for a person (the workspace's reachable audience), and its counter.
      `ALTER TABLE profiles ADD COLUMN reach ${t.int} NOT NULL DEFAULT 0`,
      `CREATE TABLE profile_reach (
        workspace_id TEXT NOT NULL,
        writer TEXT NOT NULL,
        reachable ${t.int} NOT NULL,
        PRIMARY KEY (workspace_id, writer)
      )`,
      // The consent mode the reach bits were computed under; none yet: the first write
      // transaction of each workspace (or the start of `serve`) counts it.
      `CREATE TABLE segment_reach (
        workspace_id TEXT PRIMARY KEY,
        mode TEXT NOT NULL
      )`,
    ],
  },
]

export function migrationStatements(kind: StoreKind, m: Migration): string[] {
  return m.statements(TYPES[kind], kind)
}

export const MIGRATIONS_TABLE = 'segflow_migrations'
