import type {
  ConsentMode,
  ConsentSource,
  ConsentState,
  EmailStatus,
  Purpose,
} from '../privacy/index.js'
import type { JsonObject, JsonValue } from '../shared/json.js'
import type { Sealer } from '../shared/sealer.js'
import type { OutboxMark, OutboxPosition } from './outbox.js'

export type { OutboxMark, OutboxPosition } from './outbox.js'

export type StoreKind = 'sqlite' | 'postgres'

export interface Workspace {
  readonly id: string
  readonly name: string
  readonly createdAt: number
}

export type KeyKind = 'write' | 'admin'

/**
 * One entry of a workspace's audit log: who (a key, or the command line) did what to which
 * target, when, and how it ended. Bodies are not kept (they can hold personal data).
 */
export interface AuditRecord {
  readonly workspaceId: string
  readonly id: string
  readonly at: number
  /** The admin key's id, `user:<email>` for a logged-in user, or `cli` for the command line. */
  readonly actor: string
  /** e.g. `PUT /api/segments/:key`, `key.create`, `privacy.erasure`. */
  readonly action: string
  /** What it acted on: the route's parameters joined, a key id, a profile id. */
  readonly target: string | null
  /** The HTTP status, or 0 for actions outside HTTP. */
  readonly status: number
}

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

export type SegmentStatus = 'computing' | 'live'

/**
 * A segment. `version`/`rule` are the latest published (the rule exactly as written);
 * `liveVersion`/`liveRule` the version its memberships reflect. They differ while the latest is
 * being computed (status `computing`); a new segment has no live version until then.
 */
export interface SegmentRecord {
  readonly workspaceId: string
  readonly key: string
  readonly version: number
  readonly name: string
  readonly description: string
  /** Higher wins when a template asks for a person's one segment. */
  readonly priority: number
  readonly rule: JsonValue
  /**
   * The scoring models `rule` refers to, as they were when it was published ({key: definition});
   * a version is compiled with these, so changing a model publishes a new version.
   */
  readonly models: JsonValue | null
  readonly liveVersion: number | null
  readonly liveRule: JsonValue | null
  readonly liveModels: JsonValue | null
  readonly status: SegmentStatus
  /** While computing: the last profile id the latest version has been applied to. */
  readonly backfillCursor: string | null
  readonly backfillDone: number
  readonly backfillTotal: number
  readonly createdAt: number
  readonly updatedAt: number
}

export interface SegmentVersionRecord {
  readonly workspaceId: string
  readonly key: string
  readonly version: number
  readonly name: string
  readonly description: string
  readonly rule: JsonValue
  readonly publishedAt: number
}

export interface MembershipRecord {
  readonly workspaceId: string
  readonly segmentKey: string
  readonly profileId: string
  readonly version: number
  readonly enteredAt: number
}

/** What `Store.memberPage` reads. */
export interface MemberPageQuery {
  /** Members after this profile id; null: from the first. */
  readonly after: string | null
  readonly limit: number
  /** Only members reachable under this consent mode; null: every member. */
  readonly reachableUnder: ConsentMode | null
  /**
   * Only members whose userId or `email` trait (case-insensitively) starts with this, or
   * whose profile id it is; null or absent: every member.
   */
  readonly search?: string | null
}

/** A segment member as listings show it. */
export interface MemberRow {
  readonly profileId: string
  readonly userId: string | null
  /** The `email` trait when it is a string. */
  readonly email: string | null
  readonly enteredAt: number
}

export interface TrackerRecord {
  readonly workspaceId: string
  readonly profileId: string
  readonly key: string
  readonly state: JsonValue
}

export interface TimerRecord {
  readonly workspaceId: string
  readonly profileId: string
  readonly segmentKey: string
  readonly dueAt: number
}

export type TransitionType = 'segment.entered' | 'segment.exited'
/**
 * Why a membership changed: a message (`event`), a message brought by `segflow import`
 * (`import`), time passing (`time`), a new segment's first computation (`backfill`), a new
 * version (`rule_change`), profiles merging (`merge`), a person erased (`erasure`), the segment
 * deleted (`deleted`).
 */
export type TransitionReason =
  'event' | 'import' | 'time' | 'backfill' | 'rule_change' | 'merge' | 'erasure' | 'deleted'

export interface TransitionRecord {
  readonly workspaceId: string
  readonly id: string
  readonly type: TransitionType
  /** The instant the membership changed (a timer's due time, not when it was processed). */
  readonly at: number
  readonly segmentKey: string
  readonly segmentVersion: number
  readonly profileId: string
  readonly reason: TransitionReason
  /**
   * Caused by history rather than by something happening now: an import, a message whose
   * newest timestamp was older than the history threshold when it was processed, or a timer
   * that fired that late (segflow catching up after downtime). Automations skip these by
   * default; webhooks get them, flagged.
   */
  readonly historical: boolean
  readonly recordedAt: number
}

export interface StoredTransition extends TransitionRecord {
  readonly seq: number
  /** The writing transaction's id on PostgreSQL (0 on SQLite): (txid, seq) is its outbox position. */
  readonly txid: number
}

export interface WebhookSecret {
  /** `whsec_` + base64 key. */
  readonly secret: string
  /** When a rotated-out secret stops being used to sign (null: current). */
  readonly expiresAt: number | null
}

/** What a webhook endpoint does with historical transitions. */
export type WebhookHistory = 'send' | 'skip'

export interface WebhookRecord {
  readonly workspaceId: string
  readonly id: string
  readonly url: string
  /** The current secret last; older ones sign too until they expire (rotation). */
  readonly secrets: readonly WebhookSecret[]
  /** Only these segments' transitions (null: all). */
  readonly segments: readonly string[] | null
  /** Only these transition types (null: all). */
  readonly types: readonly TransitionType[] | null
  readonly status: 'active' | 'disabled'
  readonly disabledReason: string | null
  /** Deliveries in flight at once to this endpoint. */
  readonly maxInFlight: number
  /** `send` (the default): historical transitions are delivered too (flagged); `skip`: not. */
  readonly history: WebhookHistory
  /** Only transitions committed after this: an endpoint gets nothing from before it existed. */
  readonly from: OutboxMark
  readonly createdAt: number
  readonly updatedAt: number
}

export type DeliveryStatus = 'pending' | 'succeeded' | 'failed' | 'exhausted' | 'cancelled'

/** One message to one destination; `id` is stable across retries (the webhook-id). */
export interface DeliveryRecord {
  readonly workspaceId: string
  readonly id: string
  /** `webhook:<id>` */
  readonly destination: string
  readonly profileId: string
  /** The transition's place in the outbox: deliveries to a destination for a person go in this order. */
  readonly transitionSeq: number
  readonly payload: JsonValue
  readonly status: DeliveryStatus
  readonly attempts: number
  readonly nextAttemptAt: number
  readonly lastStatus: number | null
  readonly lastError: string | null
  readonly createdAt: number
  readonly updatedAt: number
}

export interface AttemptRecord {
  readonly workspaceId: string
  readonly deliveryId: string
  readonly attempt: number
  readonly at: number
  /** The HTTP status, or null when there was none (refused, timed out). */
  readonly status: number | null
  readonly error: string | null
  readonly durationMs: number
}

/** The delivery tables, inside a write transaction. */
export interface DeliveryTx {
  /** Where a named consumer of the outbox has read up to (OUTBOX_START before any). */
  outboxCursor(name: string): Promise<OutboxPosition>
  setOutboxCursor(name: string, position: OutboxPosition): Promise<void>
  /**
   * The outbox horizon: every transition at or before it is committed, and none will ever be
   * committed at or before it again. Read it before what decides what to read (subscriptions).
   */
  outboxHorizon(): Promise<OutboxPosition>
  /**
   * Transitions after `after` and at or before `upTo`, in position order, in every workspace;
   * with `segments`, only those of these segment keys.
   */
  outboxBetween(
    after: OutboxPosition,
    upTo: OutboxPosition,
    limit: number,
    segments: readonly string[] | null,
  ): Promise<StoredTransition[]>
  /** What this transaction has seen of the outbox, for something that starts reading now. */
  outboxMark(): Promise<OutboxMark>
  /**
   * The seq of the newest transition (0 when there is none). With `transitionsAfter`, only
   * for reading back what this transaction wrote (seq order is not commit order).
   */
  latestTransitionSeq(): Promise<number>
  /** Transitions with a seq above `seq`, in seq order (see latestTransitionSeq). */
  transitionsAfter(seq: number, limit: number): Promise<StoredTransition[]>
  identitiesOf(workspaceId: string, profileIds: readonly string[]): Promise<IdentityRecord[]>
  listWebhooks(workspaceId?: string): Promise<WebhookRecord[]>
  upsertWebhook(row: WebhookRecord): Promise<void>
  deleteWebhook(workspaceId: string, id: string): Promise<void>
  /** Inserts deliveries; an id already there is skipped. Returns how many were new. */
  insertDeliveries(rows: readonly DeliveryRecord[]): Promise<number>
  /**
   * Moves the next attempt of these pending deliveries, each waiting behind an earlier one of
   * the same person and destination, to when that earlier one is next tried, so due-picking
   * does not read them again before (it is brought forward again when that one ends). A
   * delivery no longer waiting is left alone. Returns how many moved.
   */
  deferDeliveries(rows: readonly WaitingDelivery[]): Promise<number>
  updateDelivery(row: DeliveryRecord): Promise<void>
  insertAttempt(row: AttemptRecord): Promise<void>
  /**
   * Makes deliveries (these ids, or all) due at `at`: failed and exhausted ones back to pending
   * with their attempts reset, pending ones due later keeping their attempts. Returns how many.
   */
  replayDeliveries(
    workspaceId: string,
    destination: string,
    ids: readonly string[] | null,
    at: number,
  ): Promise<number>
  /** Removes a delivery and its attempts (an erasure notice, once it is final). */
  deleteDelivery(workspaceId: string, id: string): Promise<void>
  /** Cancels a destination's pending deliveries (it was deleted). */
  cancelDeliveries(workspaceId: string, destination: string, at: number): Promise<number>
}

/** The delivery tables, read outside transactions. */
export interface DeliveryReads {
  getWebhook(workspaceId: string, id: string): Promise<WebhookRecord | null>
  listWebhooks(workspaceId: string): Promise<WebhookRecord[]>
  listDeliveries(
    workspaceId: string,
    destination: string,
    query: { status?: DeliveryStatus; limit: number; after?: string | null },
  ): Promise<DeliveryRecord[]>
  attemptsOf(workspaceId: string, deliveryIds: readonly string[]): Promise<AttemptRecord[]>
  /** The earliest next attempt of a pending delivery to an active destination, or null. */
  nextDeliveryDue(): Promise<number | null>
  /**
   * Pending deliveries due by `now` to active destinations, each the oldest pending for its
   * destination and person (so deliveries to a person arrive in order), earliest first; and
   * the due ones that wait behind an earlier one (to defer). A plain read: it takes no write
   * transaction, so ingestion never waits behind it. At most `limit` of each.
   */
  dueDeliveries(
    now: number,
    limit: number,
  ): Promise<{ due: DeliveryRecord[]; waiting: WaitingDelivery[] }>
  /**
   * Waits, briefly, until no committed transition lies beyond the outbox horizon (another
   * transaction that began earlier is still open), so that a consumer run now reads every
   * transition committed before. False when it still does after the wait.
   */
  settleOutbox(): Promise<boolean>
  /** The outbox horizon (see DeliveryTx.outboxHorizon), read outside a transaction. */
  outboxHorizon(): Promise<OutboxPosition>
  /** Transitions after `after`, at or before `upTo`, in position order, in every workspace. */
  outboxBetween(
    after: OutboxPosition,
    upTo: OutboxPosition,
    limit: number,
  ): Promise<StoredTransition[]>
}

/** A due delivery that waits behind an earlier pending one of the same person and destination. */
export interface WaitingDelivery {
  readonly workspaceId: string
  readonly id: string
}

export interface TemplateRecord {
  readonly workspaceId: string
  readonly key: string
  readonly subject: string
  readonly html: string
  readonly text: string | null
  readonly updatedAt: number
}

/** A frequency cap: at most `max` emails of a category per person within `within` ms. */
export interface EmailCap {
  readonly category: string
  readonly max: number
  readonly within: number
}

export interface EmailSettingsRecord {
  readonly workspaceId: string
  readonly fromAddress: string
  readonly caps: readonly EmailCap[]
  /**
   * Whom marketing email may reach: `opt_in` (the default) only people who granted
   * email_marketing consent; `opt_out` everyone who has not refused it. Null: the default.
   */
  readonly consent: { readonly mode: ConsentMode } | null
  readonly updatedAt: number
}

export type { EmailStatus }

/** A person's consents, email status and whether they have an address (see loadContacts). */
export interface ContactRecord {
  readonly profileId: string
  readonly consents: Partial<Record<Purpose, ConsentState>>
  readonly emailStatus: EmailStatus
  readonly hasEmail: boolean
}

/** A GDPR/CCPA request about one person. */
export interface PrivacyRequestRecord {
  readonly workspaceId: string
  readonly id: string
  readonly type: 'export' | 'erasure'
  readonly regulation: 'gdpr' | 'ccpa'
  /** SHA-256 of the person's reference as given: the request outlives the person's data. */
  readonly subjectHash: string
  readonly status: 'received' | 'completed' | 'failed'
  readonly createdAt: number
  /** When the law wants it answered: one month (GDPR) or 45 days (CCPA) after it came in. */
  readonly dueAt: number
  readonly completedAt: number | null
  /** What was done (counts of rows erased) or why it failed, as JSON text. */
  readonly detail: string | null
}

/** Rights requests, erasure and the suppression list, inside a write transaction. */
export interface PrivacyTx {
  insertRequest(row: PrivacyRequestRecord): Promise<void>
  updateRequest(row: PrivacyRequestRecord): Promise<void>
  /** The profile and every profile merged into it, however many merges deep. */
  profileFamily(workspaceId: string, profileId: string): Promise<string[]>
  /** Every row about these profiles, by table (JSON columns parsed). */
  personRows(
    workspaceId: string,
    profileIds: readonly string[],
  ): Promise<Record<string, Record<string, unknown>[]>>
  /** Deletes every row about these profiles but the given deliveries; counts by table. */
  erase(
    workspaceId: string,
    profileIds: readonly string[],
    keepDeliveries: readonly string[],
  ): Promise<Record<string, number>>
  /** Audit entries whose target names the person get `[erased]` instead. */
  redactAudit(workspaceId: string, targets: readonly string[]): Promise<number>
  suppressed(workspaceId: string, hashes: readonly string[]): Promise<Set<string>>
  suppress(
    workspaceId: string,
    hashes: readonly string[],
    requestId: string,
    at: number,
  ): Promise<void>
  unsuppress(workspaceId: string, hashes: readonly string[]): Promise<number>
}

export interface PrivacyReads {
  getRequest(workspaceId: string, id: string): Promise<PrivacyRequestRecord | null>
  /** Newest first. */
  listRequests(workspaceId: string, limit: number): Promise<PrivacyRequestRecord[]>
  /** Of these identifier hashes, those on the suppression list (erased people). */
  suppressed(workspaceId: string, hashes: readonly string[]): Promise<Set<string>>
}

export type Role = 'viewer' | 'editor' | 'admin'

/** Someone who logs in (the dashboard). Users are global; roles are per workspace. */
export interface UserRecord {
  readonly id: string
  /** As first given. */
  readonly email: string
  /** Lower-cased: what makes an email unique. */
  readonly emailKey: string
  /** `scrypt$…` (users/password.ts); null until the user sets a password. */
  readonly passwordHash: string | null
  readonly disabledAt: number | null
  readonly createdAt: number
  readonly updatedAt: number
}

export interface UserRoleRecord {
  readonly userId: string
  readonly workspaceId: string
  readonly role: Role
  readonly createdAt: number
  readonly updatedAt: number
}

export interface SessionRecord {
  /** SHA-256 (hex) of the token in the cookie; the token itself is never stored. */
  readonly tokenHash: string
  readonly userId: string
  readonly workspaceId: string
  readonly csrfToken: string
  readonly createdAt: number
  readonly lastSeenAt: number
}

/** A session with what each request needs of its user: one read per request. */
export interface SessionView extends SessionRecord {
  readonly email: string
  readonly disabledAt: number | null
  /** The user's role in the session's workspace now; null when it was taken away. */
  readonly role: Role | null
}

/** A one-time link to set (or reset) a password. */
export interface PasswordTokenRecord {
  readonly tokenHash: string
  readonly userId: string
  readonly createdAt: number
  readonly expiresAt: number
  readonly usedAt: number | null
}

/** Users, roles, sessions and set-password tokens, inside a write transaction. */
export interface UsersTx {
  getUserByEmail(emailKey: string): Promise<UserRecord | null>
  getUser(id: string): Promise<UserRecord | null>
  insertUser(row: UserRecord): Promise<void>
  updateUser(row: UserRecord): Promise<void>
  upsertRole(row: UserRoleRecord): Promise<void>
  /** Returns false when the user had no role there. */
  deleteRole(userId: string, workspaceId: string): Promise<boolean>
  insertSession(row: SessionRecord): Promise<void>
  touchSession(tokenHash: string, at: number): Promise<void>
  deleteSession(tokenHash: string): Promise<void>
  /** Every session of the user, or only those in one workspace; returns how many. */
  deleteSessions(userId: string, workspaceId?: string): Promise<number>
  /** Sessions idle since before `idleBefore` or created before `createdBefore`. */
  deleteExpiredSessions(idleBefore: number, createdBefore: number): Promise<number>
  insertPasswordToken(row: PasswordTokenRecord): Promise<void>
  getPasswordToken(tokenHash: string): Promise<PasswordTokenRecord | null>
  /** Marks every unused token of the user used at `at` (one link works once). */
  usePasswordTokens(userId: string, at: number): Promise<void>
}

export interface UsersReads {
  getUserByEmail(emailKey: string): Promise<UserRecord | null>
  getUser(id: string): Promise<UserRecord | null>
  /** Every user, by email. */
  listUsers(): Promise<UserRecord[]>
  /** Roles of one user, or every role of every user; by workspace. */
  listRoles(userId?: string): Promise<UserRoleRecord[]>
  /** The users with a role in the workspace, by email. */
  listWorkspaceUsers(workspaceId: string): Promise<(UserRecord & { role: Role })[]>
  getSession(tokenHash: string): Promise<SessionView | null>
}

/** A person's consent for one purpose: the latest by `at` wins. */
export interface ConsentRecord {
  readonly workspaceId: string
  readonly profileId: string
  readonly purpose: Purpose
  readonly state: ConsentState
  /** When it was given or refused (the message's timestamp). */
  readonly at: number
  readonly source: ConsentSource
  readonly evidence: JsonObject
  /** The message that recorded it. */
  readonly messageId: string | null
}

export interface EmailSendRecord {
  readonly workspaceId: string
  readonly id: string
  readonly profileId: string
  readonly address: string
  readonly templateKey: string
  readonly automationKey: string | null
  readonly transitionId: string | null
  /** `marketing` (consent, subscription and caps apply) or `transactional`. */
  readonly category: string
  readonly status: 'sending' | 'sent' | 'failed'
  readonly messageId: string
  readonly error: string | null
  readonly createdAt: number
  readonly sentAt: number | null
}

export interface AutomationRecord {
  readonly workspaceId: string
  readonly key: string
  /** The definition as written (validated when saved). */
  readonly definition: JsonValue
  /** Only transitions committed after this trigger it (nothing from before it existed). */
  readonly from: OutboxMark
  readonly createdAt: number
  readonly updatedAt: number
}

export type RunStatus = 'scheduled' | 'done' | 'skipped' | 'failed'

export interface AutomationRunRecord {
  readonly workspaceId: string
  readonly automationKey: string
  readonly transitionId: string
  readonly transitionSeq: number
  readonly transitionAt: number
  readonly profileId: string
  readonly segmentKey: string
  readonly transitionType: TransitionType
  readonly dueAt: number
  readonly status: RunStatus
  /** The index of the next action to run (actions before it are done). */
  readonly step: number
  /** Failed attempts at the current step (retried with backoff). */
  readonly attempts: number
  readonly detail: string | null
  readonly createdAt: number
  readonly updatedAt: number
}

/** A scoring model as stored: its definition as written (JSON). */
export interface ScoreModelRecord {
  readonly workspaceId: string
  readonly key: string
  readonly definition: JsonValue
  readonly createdAt: number
  readonly updatedAt: number
}

/** A workspace's lifecycle stages as written (JSON). */
export interface LifecycleRecord {
  readonly workspaceId: string
  readonly definition: JsonValue
  readonly updatedAt: number
}

/** Scoring models and lifecycles, inside a write transaction (the engine caches them). */
export interface ScoringTx {
  listScoreModels(workspaceId?: string): Promise<ScoreModelRecord[]>
  upsertScoreModel(row: ScoreModelRecord): Promise<void>
  deleteScoreModel(workspaceId: string, key: string): Promise<boolean>
  listLifecycles(workspaceId?: string): Promise<LifecycleRecord[]>
  putLifecycle(row: LifecycleRecord): Promise<void>
  deleteLifecycle(workspaceId: string): Promise<boolean>
}

/** Templates, email and automations, inside a write transaction. */
export interface MessagingTx {
  listTemplates(workspaceId: string): Promise<TemplateRecord[]>
  upsertTemplate(row: TemplateRecord): Promise<void>
  deleteTemplate(workspaceId: string, key: string): Promise<boolean>
  getEmailSettings(workspaceId: string): Promise<EmailSettingsRecord | null>
  upsertEmailSettings(row: EmailSettingsRecord): Promise<void>
  emailStatus(workspaceId: string, profileId: string): Promise<EmailStatus>
  consents(workspaceId: string, profileId: string): Promise<ConsentRecord[]>
  setEmailStatus(
    workspaceId: string,
    profileId: string,
    status: EmailStatus,
    reason: string | null,
    at: number,
  ): Promise<void>
  insertSend(row: EmailSendRecord): Promise<void>
  updateSend(row: EmailSendRecord): Promise<void>
  getSend(workspaceId: string, id: string): Promise<EmailSendRecord | null>
  /** Emails of a category sent (or being sent) to a person since `since`. */
  countSends(
    workspaceId: string,
    profileId: string,
    category: string,
    since: number,
  ): Promise<number>
  listAutomations(workspaceId?: string): Promise<AutomationRecord[]>
  upsertAutomation(row: AutomationRecord): Promise<void>
  deleteAutomation(workspaceId: string, key: string): Promise<boolean>
  /** The named instance secret, created with `make` on first use. */
  instanceSecret(name: string, make: () => string): Promise<string>
  /** Inserts runs; one already there for the automation and transition is skipped. */
  insertRuns(rows: readonly AutomationRunRecord[]): Promise<number>
  dueRuns(now: number, limit: number): Promise<AutomationRunRecord[]>
  updateRun(row: AutomationRunRecord): Promise<void>
}

/** Read side of the messaging tables. */
export interface MessagingReads {
  getTemplate(workspaceId: string, key: string): Promise<TemplateRecord | null>
  listTemplates(workspaceId: string): Promise<TemplateRecord[]>
  listSends(
    workspaceId: string,
    query: { profileId?: string; limit: number },
  ): Promise<EmailSendRecord[]>
  /**
   * Runs in creation order (then by transition id); with `after` (one automation's runs only),
   * those after that run: keyset pages over the automation's runs index.
   */
  listRuns(
    workspaceId: string,
    query:
      | { automationKey?: undefined; limit: number }
      | {
          automationKey: string
          limit: number
          after?: { readonly createdAt: number; readonly transitionId: string } | null
        },
  ): Promise<AutomationRunRecord[]>
  emailStatus(workspaceId: string, profileId: string): Promise<EmailStatus>
  consents(workspaceId: string, profileId: string): Promise<ConsentRecord[]>
  getEmailSettings(workspaceId: string): Promise<EmailSettingsRecord | null>
  listAutomations(workspaceId: string): Promise<AutomationRecord[]>
  /** The earliest scheduled automation run, or null. */
  nextRunDue(): Promise<number | null>
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
  /** Adds to the counts of messages `segflow import` stored, by message type. */
  countImported(workspaceId: string, byType: ReadonlyMap<string, number>): Promise<void>

  readonly delivery: DeliveryTx
  readonly messaging: MessagingTx
  readonly scoring: ScoringTx
  readonly privacy: PrivacyTx
  readonly users: UsersTx

  // ---- the segment engine ----
  listSegments(workspaceId?: string): Promise<SegmentRecord[]>
  upsertSegment(row: SegmentRecord): Promise<void>
  insertSegmentVersion(row: SegmentVersionRecord): Promise<void>
  /** Removes the segment, its memberships and its timers (versions and transitions stay). */
  deleteSegment(workspaceId: string, key: string): Promise<void>
  loadMemberships(workspaceId: string, profileIds: readonly string[]): Promise<MembershipRecord[]>
  upsertMemberships(rows: readonly MembershipRecord[]): Promise<void>
  deleteMemberships(
    workspaceId: string,
    rows: readonly { segmentKey: string; profileId: string }[],
  ): Promise<void>
  loadTrackers(workspaceId: string, profileIds: readonly string[]): Promise<TrackerRecord[]>
  upsertTrackers(rows: readonly TrackerRecord[]): Promise<void>
  /** Every tracker of these profiles (merged away, erased). */
  deleteTrackers(workspaceId: string, profileIds: readonly string[]): Promise<void>
  /** Every profile's state of these trackers (no rule needs them any more). */
  deleteTrackerKeys(workspaceId: string, keys: readonly string[]): Promise<void>
  /** The timers of these profiles (so the engine writes only those that change). */
  loadTimers(workspaceId: string, profileIds: readonly string[]): Promise<TimerRecord[]>
  upsertTimers(rows: readonly TimerRecord[]): Promise<void>
  /** Records consents; a row older than the one held for the person and purpose is ignored. */
  upsertConsents(rows: readonly ConsentRecord[]): Promise<void>
  /**
   * What rules on consent and reachability read of these profiles, one entry per profile (in
   * three bulk statements): current consents, email status, whether it has an email identity.
   */
  loadContacts(workspaceId: string, profileIds: readonly string[]): Promise<ContactRecord[]>
  deleteTimers(
    workspaceId: string,
    rows: readonly { segmentKey: string; profileId: string }[],
  ): Promise<void>
  /** Timers due at or before `upTo`, earliest first, in every workspace. */
  dueTimers(upTo: number, limit: number): Promise<TimerRecord[]>
  insertTransitions(rows: readonly TransitionRecord[]): Promise<void>
  /**
   * Makes sure the workspace's segment counters hold under its consent mode when this
   * transaction commits (recounting them if they do not).
   */
  refreshSegmentCounts(workspaceId: string): Promise<void>
  /** Live (not merged-away) profile ids after `after`, in id order. */
  profileIdsAfter(workspaceId: string, after: string | null, limit: number): Promise<string[]>
  /** The profiles' track, page and screen events, oldest first (to rebuild trackers). */
  activityEvents(workspaceId: string, profileIds: readonly string[]): Promise<StoredEvent[]>
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
/** What `Store.scrubDeleted` did. */
export interface ScrubReport {
  /** SQLite: the write-ahead log was checkpointed and truncated to zero bytes (false: busy). */
  readonly walTruncated?: boolean
  /** PostgreSQL: the tables vacuumed. */
  readonly vacuumed?: readonly string[]
}

export interface Store {
  readonly kind: StoreKind
  /** Applies pending migrations; returns the versions it applied. */
  migrate(): Promise<number[]>
  /** Highest applied migration version, 0 before any. */
  schemaVersion(): Promise<number>
  /**
   * Whether segflow's tables exist here (a store some `migrate` created). Unlike
   * `schemaVersion`, a store it cannot reach is an error, not "empty".
   */
  initialized(): Promise<boolean>
  /** Resolves when the store answers a trivial query; rejects when it cannot be reached. */
  ping(): Promise<void>
  close(): Promise<void>

  /** Seals credentials at rest with this sealer from now on, and those already stored. */
  useSealer(sealer: Sealer): Promise<void>

  /** Runs `fn` in one serialized write transaction: committed durably when it resolves. */
  write<T>(fn: (tx: WriteTx) => Promise<T>): Promise<T>
  /**
   * Resolves once the write transactions this process began before the call have ended
   * (committed or rolled back), without starting one: a reader that is told of a write from
   * inside its transaction reads after it commits.
   */
  afterWrites(): Promise<void>

  /**
   * After an erasure: gets what was deleted out of the store's own files as far as the backend
   * can. SQLite (which overwrites deleted content as it goes, `secure_delete`) checkpoints and
   * truncates its write-ahead log; PostgreSQL vacuums the tables that held the person, index
   * entries included. What it did, for the request's record.
   */
  scrubDeleted(): Promise<ScrubReport>

  ensureWorkspace(workspace: Workspace): Promise<boolean>
  getWorkspace(id: string): Promise<Workspace | null>
  listWorkspaces(): Promise<Workspace[]>

  insertApiKey(key: ApiKeyRecord): Promise<void>
  findApiKeyByHash(hash: string): Promise<ApiKeyRecord | null>
  getApiKey(id: string): Promise<ApiKeyRecord | null>
  listApiKeys(workspaceId?: string): Promise<ApiKeyRecord[]>
  /** Returns false when no such unrevoked key exists. */
  revokeApiKey(id: string, at: number): Promise<boolean>

  /** Data schemas (data minimisation), one per workspace that set one. */
  listSchemas(): Promise<{ workspaceId: string; definition: JsonObject; updatedAt: number }[]>
  putSchema(workspaceId: string, definition: JsonObject, at: number): Promise<void>
  deleteSchema(workspaceId: string): Promise<void>

  /** Appends to the audit log (there is no way to change or remove an entry). */
  insertAudit(row: AuditRecord): Promise<void>
  /** Newest first; `before` is the id of the last entry of the previous page. */
  listAudit(
    workspaceId: string,
    query: { limit: number; before?: string | null },
  ): Promise<AuditRecord[]>

  /** A profile by internal id (following merges), userId, anonymousId, alias or email. */
  resolveProfileId(workspaceId: string, ref: string): Promise<string | null>
  getProfile(workspaceId: string, profileId: string): Promise<ProfileRecord | null>
  /**
   * Identities whose value starts with `prefix` (an email's also with the prefix in lower
   * case), ordered by value, at most `limit`: people search.
   */
  searchIdentities(workspaceId: string, prefix: string, limit: number): Promise<IdentityRecord[]>
  listIdentities(workspaceId: string, profileId: string): Promise<IdentityRecord[]>
  listMerges(workspaceId: string, profileId: string): Promise<MergeRecord[]>
  /** Events newest first (timestamp, then arrival order). */
  listEvents(workspaceId: string, query: EventQuery): Promise<Page<StoredEvent>>
  countEvents(workspaceId: string): Promise<number>
  /** Messages `segflow import` has stored, by type, over every workspace (for /metrics). */
  importedMessages(): Promise<{ type: string; count: number }[]>
  /**
   * Runs a read-only statement built by sql/ (the rule compiler) with `?` placeholders.
   * Nothing else should build SQL outside the store.
   */
  query(sql: string, params: readonly unknown[]): Promise<Record<string, unknown>[]>
  countProfiles(workspaceId: string): Promise<number>
  /**
   * Profiles marketing email can reach under consent mode `mode` (the definition of a
   * segment's reachable size, over every profile).
   */
  countReachableProfiles(workspaceId: string, mode: ConsentMode): Promise<number>
  /** Messages stored since `since` (a minute boundary), from the per-minute arrival rollup. */
  countEventsSince(workspaceId: string, since: number): Promise<number>

  getSegment(workspaceId: string, key: string): Promise<SegmentRecord | null>
  listSegmentVersions(workspaceId: string, key: string): Promise<SegmentVersionRecord[]>
  /** Current members per segment of the workspace. */
  segmentSizes(workspaceId: string): Promise<Map<string, number>>
  /**
   * Per segment, its members and those marketing email can reach (with an email address,
   * subscribed, and with email_marketing consent as `mode` requires), in one pass.
   */
  segmentCounts(
    workspaceId: string,
    mode: ConsentMode,
  ): Promise<Map<string, { size: number; reachable: number }>>
  /**
   * One page of a segment's members in profile-id order after `q.after`, with their userId,
   * `email` trait and entry time, in one query (keyset: a page costs the same wherever it
   * starts). With `reachableUnder`, only members marketing email can reach under that consent
   * mode (the definition of `segmentCounts`' reachable).
   */
  memberPage(workspaceId: string, segmentKey: string, q: MemberPageQuery): Promise<MemberRow[]>
  /** Member profile ids after `after`, in id order. */
  listMembers(
    workspaceId: string,
    segmentKey: string,
    after: string | null,
    limit: number,
  ): Promise<string[]>
  /** A profile's memberships. */
  profileMemberships(workspaceId: string, profileId: string): Promise<MembershipRecord[]>
  /** The memberships of many profiles at once (previews scan hundreds). */
  membershipsOf(workspaceId: string, profileIds: readonly string[]): Promise<MembershipRecord[]>
  /** Many profiles by internal id at once (no merges followed); missing ids are left out. */
  profilesOf(workspaceId: string, ids: readonly string[]): Promise<ProfileRecord[]>
  /** The identities of many profiles at once, oldest first. */
  identitiesOf(workspaceId: string, profileIds: readonly string[]): Promise<IdentityRecord[]>
  /** A profile's tracker states (for explain). */
  profileTrackers(workspaceId: string, profileId: string): Promise<TrackerRecord[]>
  /** Entered and exited counts per UTC day, for days with any, between two instants. */
  segmentHistory(
    workspaceId: string,
    segmentKey: string,
    from: number,
    to: number,
  ): Promise<{ day: string; entered: number; exited: number }[]>
  /**
   * The hourly size rollup of a segment: the net of entries and exits before `from`, and the
   * hours in [from, to) with any (`bucket` is the hour's start). `from` is an hour boundary.
   */
  segmentSizeBuckets(
    workspaceId: string,
    segmentKey: string,
    from: number,
    to: number,
  ): Promise<{ before: number; buckets: { bucket: number; entered: number; exited: number }[] }>
  /**
   * Every segment's size at each of `instants` (hour boundaries, or +Infinity for now), from
   * the hourly rollup, in one pass: key → sizes in the order of `instants`. Segments with no
   * transitions are left out.
   */
  segmentSizesAt(workspaceId: string, instants: readonly number[]): Promise<Map<string, number[]>>
  /** Transitions in recording order, after `afterSeq` (`newestFirst`: the latest first). */
  listTransitions(
    workspaceId: string,
    query: {
      afterSeq?: number
      limit: number
      segmentKey?: string
      profileId?: string
      newestFirst?: boolean
    },
  ): Promise<StoredTransition[]>
  /** The earliest timer's due time, in any workspace, or null. */
  nextTimerDue(): Promise<number | null>

  readonly delivery: DeliveryReads
  readonly messaging: MessagingReads
  readonly privacy: PrivacyReads
  readonly users: UsersReads
}

export type { JsonObject, JsonValue }
