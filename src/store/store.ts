import type { JsonObject, JsonValue } from '../shared/json.js'

export type StoreKind = 'sqlite' | 'postgres'

export interface Workspace {
  readonly id: string
  readonly name: string
  readonly createdAt: number
}

export type KeyKind = 'write' | 'admin'

export interface ApiKeyRecord {
  readonly id: string
  readonly workspaceId: string
  readonly kind: KeyKind
  readonly name: string
  /** SHA-256 of the key, hex. The key itself is never stored. */
  readonly hash: string
  /** The first characters of the key, shown in listings so people can tell keys apart. */
  readonly prefix: string
  readonly createdAt: number
  readonly revokedAt: number | null
}

/**
 * How an identity was learned: `user` (userId), `anonymous` (anonymousId), `email`
 * (identify traits.email, lower-cased) and `alias` (an alias call's previousId, whose kind
 * Segment leaves open; it matches both userIds and anonymousIds).
 */
export type IdentityKind = 'user' | 'anonymous' | 'email' | 'alias'

export interface IdentityRecord {
  readonly workspaceId: string
  readonly kind: IdentityKind
  readonly value: string
  readonly profileId: string
  readonly createdAt: number
}

export interface ProfileRecord {
  readonly workspaceId: string
  readonly id: string
  /** The latest userId the profile was identified with; null while anonymous. */
  userId: string | null
  /** Current traits. A trait set to null is removed (its time is kept in traitTimes). */
  traits: JsonObject
  /** Per trait, the timestamp of the message that last set or removed it: newer wins. */
  traitTimes: Record<string, number>
  firstSeen: number | null
  lastSeen: number | null
  createdAt: number
  updatedAt: number
  /** Set when this profile was merged into another one; the row stays so old ids resolve. */
  mergedInto: string | null
}

export type MessageType = 'track' | 'identify' | 'page' | 'screen' | 'group' | 'alias'

export interface EventRecord {
  readonly workspaceId: string
  readonly messageId: string
  readonly profileId: string
  readonly type: MessageType
  /** The event name for track, the page or screen name for page/screen, else null. */
  readonly name: string | null
  /** Corrected for client clock skew and clamped to the receive time; ms since epoch. */
  readonly timestamp: number
  readonly receivedAt: number
  readonly userId: string | null
  readonly anonymousId: string | null
  readonly properties: JsonObject | null
  readonly traits: JsonObject | null
  /** Everything else the message carried: context, integrations, groupId, previousId, ... */
  readonly payload: JsonObject
}

export interface StoredEvent extends EventRecord {
  readonly seq: number
}

export type MergeReason = 'identify' | 'alias' | 'email'

export interface MergeRecord {
  readonly workspaceId: string
  readonly id: string
  readonly fromProfileId: string
  readonly intoProfileId: string
  readonly reason: MergeReason
  readonly messageId: string
  readonly at: number
}

/** A page of results and the cursor for the next page (null on the last). */
export interface Page<T> {
  readonly items: T[]
  readonly nextCursor: string | null
}

/**
 * The operations of one write transaction. The single writer (engine/writer.ts) plans a
 * whole batch in memory and uses these to read what it needs and apply the plan; each
 * method is one statement or a bulk statement, never a per-row round trip on PostgreSQL.
 */
export interface WriteTx {
  /** Of the given messageIds, those already stored in the workspace. */
  existingMessageIds(workspaceId: string, messageIds: readonly string[]): Promise<Set<string>>
  /** Identities (of any kind) whose value is one of `values`. */
  findIdentities(workspaceId: string, values: readonly string[]): Promise<IdentityRecord[]>
  loadProfiles(workspaceId: string, ids: readonly string[]): Promise<ProfileRecord[]>
  /** Insert new profiles and overwrite existing ones (matched by workspace and id). */
  upsertProfiles(rows: readonly ProfileRecord[]): Promise<void>
  /** Insert identities; an existing (workspace, kind, value) is pointed at the new profile. */
  upsertIdentities(rows: readonly IdentityRecord[]): Promise<void>
  /**
   * Move everything stored under `fromId` to `intoId`: identities, events, and profiles
   * earlier merged into `fromId`. The profile rows themselves are written by the caller.
   */
  moveProfileData(workspaceId: string, fromId: string, intoId: string): Promise<void>
  insertMerges(rows: readonly MergeRecord[]): Promise<void>
  /** Inserts events; a messageId already stored is skipped. Returns how many were inserted. */
  insertEvents(rows: readonly EventRecord[]): Promise<number>
}

export interface EventQuery {
  readonly profileId?: string
  readonly limit: number
  /** Opaque cursor from a previous page. */
  readonly cursor?: string | null
}

/**
 * Everything segflow keeps, behind one interface with a SQLite and a PostgreSQL
 * implementation. Writes that change profiles go through `write`, which runs one
 * transaction at a time per process (the group-commit writer is its only hot caller).
 */
export interface Store {
  readonly kind: StoreKind
  /** Applies pending migrations; returns the versions it applied. */
  migrate(): Promise<number[]>
  /** Highest applied migration version, 0 before any. */
  schemaVersion(): Promise<number>
  close(): Promise<void>

  /** Runs `fn` in one serialized write transaction: committed durably when it resolves. */
  write<T>(fn: (tx: WriteTx) => Promise<T>): Promise<T>

  ensureWorkspace(workspace: Workspace): Promise<boolean>
  getWorkspace(id: string): Promise<Workspace | null>
  listWorkspaces(): Promise<Workspace[]>

  insertApiKey(key: ApiKeyRecord): Promise<void>
  findApiKeyByHash(hash: string): Promise<ApiKeyRecord | null>
  getApiKey(id: string): Promise<ApiKeyRecord | null>
  listApiKeys(workspaceId?: string): Promise<ApiKeyRecord[]>
  /** Returns false when no such unrevoked key exists. */
  revokeApiKey(id: string, at: number): Promise<boolean>

  /** A profile by internal id (following merges), userId, anonymousId, alias or email. */
  resolveProfileId(workspaceId: string, ref: string): Promise<string | null>
  getProfile(workspaceId: string, profileId: string): Promise<ProfileRecord | null>
  listIdentities(workspaceId: string, profileId: string): Promise<IdentityRecord[]>
  listMerges(workspaceId: string, profileId: string): Promise<MergeRecord[]>
  /** Events newest first (timestamp, then arrival order). */
  listEvents(workspaceId: string, query: EventQuery): Promise<Page<StoredEvent>>
  countEvents(workspaceId: string): Promise<number>
  /**
   * Runs a read-only statement built by sql/ (the rule compiler) with `?` placeholders.
   * Nothing else should build SQL outside the store.
   */
  query(sql: string, params: readonly unknown[]): Promise<Record<string, unknown>[]>
  countProfiles(workspaceId: string): Promise<number>
}

export type { JsonObject, JsonValue }
