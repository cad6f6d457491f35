import type { Clock } from '../shared/clock.js'
import { issuesError, SegflowError } from '../shared/errors.js'
import type { Issue } from '../shared/errors.js'
import { newId } from '../shared/ids.js'
import { isPlainObject, MAX_JSON_DEPTH, nestingIssue, sanitizeStrings } from '../shared/json.js'
import type { JsonObject } from '../shared/json.js'
import { CONSENT_EVENT, consentFromEvent, isPurpose, PURPOSES } from '../privacy/index.js'
import type { ConsentSource, ConsentState, Purpose } from '../privacy/index.js'
import type {
  ConsentRecord,
  EmailStatus,
  IdentityKind,
  Store,
  StoredEvent,
} from '../store/store.js'
import { traitUpdate } from './message.js'
import type { Message } from './message.js'
import type { ComputedFields, LifecycleStage, ProfileInsights } from './insights.js'
import { erasedProfile, profileNotFound, unknownProfile } from './unknown-profile.js'
import type { WriteOutcome } from './writer.js'

export interface ProfileView {
  readonly id: string
  readonly userId: string | null
  readonly anonymousIds: string[]
  readonly emails: string[]
  readonly identities: { type: IdentityKind; value: string; firstSeen: string }[]
  readonly traits: JsonObject
  readonly firstSeen: string | null
  readonly lastSeen: string | null
  readonly createdAt: string
  readonly updatedAt: string
  readonly merges: { from: string; reason: string; messageId: string; at: string }[]
  /** The segments the profile is in now, and since when. */
  readonly segments: { key: string; version: number; since: string }[]
  /** Marketing email: `subscribed`, `unsubscribed` or `bounced`. */
  readonly emailStatus: EmailStatus
  /** Consent by purpose: null where the person has said nothing. */
  readonly consent: Record<Purpose, ConsentView | null>
  /** Each scoring model's score now. */
  readonly scores: Record<string, number>
  /** Computed fields now (purchase count, revenue, account age, …). */
  readonly computed: ComputedFields | null
  /** The lifecycle stage, when lifecycle stages are enabled and the person is in one. */
  readonly lifecycle: LifecycleStage | null
}

/** A person found by people search (GET /api/profiles?q=). */
export interface ProfileMatch {
  readonly id: string
  readonly userId: string | null
  /** The `email` trait, or else an email identity. */
  readonly email: string | null
  readonly anonymousIds: string[]
  readonly lastSeen: string | null
  /** What matched: an identity (`user`, `anonymous`, `alias`, `email`) or the profile `id`. */
  readonly matched: { readonly type: IdentityKind | 'id'; readonly value: string }
}

export interface ConsentView {
  readonly state: ConsentState
  readonly at: string
  readonly source: ConsentSource
  readonly evidence: JsonObject
  readonly messageId: string | null
}

export interface EventView {
  readonly messageId: string
  readonly type: string
  readonly name: string | null
  readonly timestamp: string
  readonly receivedAt: string
  readonly userId: string | null
  readonly anonymousId: string | null
  readonly properties: JsonObject | null
  readonly traits: JsonObject | null
  readonly context: JsonObject | null
}

const iso = (ms: number) => new Date(ms).toISOString()

/** Commits messages durably (the group-commit queue). */
export type Submit = (messages: readonly Message[]) => Promise<WriteOutcome[]>

/**
 * Reading profiles and updating their traits from the admin API. Updates are identify
 * messages through the same durable, serialised path as ingestion, so they are kept as
 * events (history, replays) and ordered with everything else.
 */
export class ProfileService {
  constructor(
    private readonly store: Store,
    private readonly submit: Submit,
    private readonly clock: Clock,
    private readonly insights?: ProfileInsights,
  ) {}

  async get(workspaceId: string, ref: string): Promise<ProfileView> {
    const id = await this.store.resolveProfileId(workspaceId, ref)
    const view = id === null ? null : await this.view(workspaceId, id)
    if (!view) throw await unknownProfile(this.store, workspaceId, ref)
    return view
  }

  /**
   * People whose userId, anonymousId, alias or email starts with `q`, or whose profile id is
   * `q`: one entry per person, exact matches first, at most `limit`.
   * @example await profiles.search('default', 'ann') // [{ id: 'prf_…', userId: 'ann', … }]
   */
  async search(workspaceId: string, q: string, limit: number): Promise<ProfileMatch[]> {
    const [exact, found] = await Promise.all([
      this.store.resolveProfileId(workspaceId, q),
      this.store.searchIdentities(workspaceId, q, limit * 4),
    ])
    const order: { id: string; matched: ProfileMatch['matched'] }[] = []
    const seen = new Set<string>()
    const add = (id: string, matched: ProfileMatch['matched']) => {
      if (seen.has(id)) return
      seen.add(id)
      order.push({ id, matched })
    }
    const exactIdentity = found.find((i) => i.value === q || i.value === q.toLowerCase())
    if (exact !== null)
      add(
        exact,
        exactIdentity && exactIdentity.profileId === exact
          ? { type: exactIdentity.kind, value: exactIdentity.value }
          : { type: 'id', value: q },
      )
    for (const i of found) add(i.profileId, { type: i.kind, value: i.value })
    const out: ProfileMatch[] = []
    for (const { id, matched } of order.slice(0, limit)) {
      const [p, identities] = await Promise.all([
        this.store.getProfile(workspaceId, id),
        this.store.listIdentities(workspaceId, id),
      ])
      if (!p || p.mergedInto !== null) continue
      const email = typeof p.traits.email === 'string' ? p.traits.email : null
      out.push({
        id: p.id,
        userId: p.userId,
        email: email ?? identities.find((i) => i.kind === 'email')?.value ?? null,
        anonymousIds: identities.filter((i) => i.kind === 'anonymous').map((i) => i.value),
        lastSeen: p.lastSeen === null ? null : iso(p.lastSeen),
        matched,
      })
    }
    return out
  }

  async events(workspaceId: string, ref: string, limit: number, cursor: string | null) {
    const id = await this.store.resolveProfileId(workspaceId, ref)
    if (id === null) throw await unknownProfile(this.store, workspaceId, ref)
    const page = await this.store.listEvents(workspaceId, { profileId: id, limit, cursor })
    return { items: page.items.map(eventView), nextCursor: page.nextCursor }
  }

  /**
   * Sets traits (`mode: 'merge'`, POST: others kept; null removes one) or replaces them all
   * (`mode: 'replace'`, PUT). An unknown `ref` creates a profile with it as userId.
   */
  async updateTraits(
    workspaceId: string,
    ref: string,
    body: unknown,
    mode: 'merge' | 'replace',
  ): Promise<{ profile: ProfileView; created: boolean }> {
    const traits = parseTraitsBody(body)
    const existing = await this.store.resolveProfileId(workspaceId, ref)
    if (existing === null && ref.startsWith('prf_')) throw profileNotFound(ref)
    const now = this.clock.now()
    const message = traitUpdate({
      workspaceId,
      profileId: existing,
      userId: ref,
      messageId: newId('api', now),
      traits,
      now,
      library: 'segflow-admin-api',
      replace: mode === 'replace',
    })
    const [outcome] = await this.submit([message])
    if (outcome?.status === 'suppressed') throw erasedProfile(ref)
    const id = outcome?.profileId
    const profile = id === undefined ? null : await this.view(workspaceId, id)
    if (!profile)
      throw new SegflowError('internal', `profile ${ref} was updated but could not be read back`)
    return { profile, created: existing === null }
  }

  /**
   * Records consent given or refused through the admin API, e.g.
   * `{"email_marketing": true, "evidence": {"form": "signup", "ip": "…"}}`: a `Consent Updated`
   * event (kept with the person's history) that is not activity. Unknown purposes are refused.
   */
  async updateConsent(workspaceId: string, ref: string, body: unknown): Promise<ProfileView> {
    const id = await this.store.resolveProfileId(workspaceId, ref)
    if (id === null) throw await unknownProfile(this.store, workspaceId, ref)
    const issues: Issue[] = []
    if (!isPlainObject(body)) {
      issues.push({
        path: '',
        message: 'body must be a JSON object like {"email_marketing": true}',
      })
    } else {
      for (const k of Object.keys(body)) {
        if (k !== 'evidence' && !isPurpose(k))
          issues.push({
            path: k,
            message: `unknown field ${JSON.stringify(k)}; expected a purpose (${PURPOSES.join(', ')}) or evidence`,
          })
      }
      if (body.evidence !== undefined && !isPlainObject(body.evidence))
        issues.push({ path: 'evidence', message: 'evidence must be an object' })
    }
    const tooDeep = nestingIssue(body, '', MAX_JSON_DEPTH - 1)
    if (tooDeep) issues.push(tooDeep)
    const properties = (
      isPlainObject(body) && !tooDeep ? sanitizeStrings(body, '', issues) : {}
    ) as JsonObject
    const changes = issues.length === 0 ? consentFromEvent(properties, issues) : []
    if (issues.length > 0) {
      // The body is the event's properties: name fields as the caller sent them.
      const field = (path: string) => path.replace(/^properties\.?/, '')
      throw issuesError(
        'invalid_body',
        issues.map((i) => i.message).join('; '),
        issues.map((i) => ({ ...i, path: field(i.path) })),
      )
    }
    const now = this.clock.now()
    const message: Message = {
      workspaceId,
      type: 'track',
      messageId: newId('api', now),
      userId: null,
      anonymousId: null,
      name: CONSENT_EVENT,
      properties,
      traits: null,
      groupId: null,
      previousId: null,
      timestamp: now,
      receivedAt: now,
      payload: { context: { library: { name: 'segflow-admin-api' } } },
      target: { profileId: id },
      activity: false,
      consent: changes.map((c) => ({ ...c, source: 'api' as const })),
    }
    const [outcome] = await this.submit([message])
    const view =
      outcome?.profileId === undefined ? null : await this.view(workspaceId, outcome.profileId)
    if (!view)
      throw new SegflowError(
        'internal',
        `consent of ${ref} was recorded but could not be read back`,
      )
    return view
  }

  private async view(workspaceId: string, id: string): Promise<ProfileView | null> {
    const p = await this.store.getProfile(workspaceId, id)
    if (!p || p.mergedInto !== null) return null
    const held = this.store.profileMemberships(workspaceId, id)
    const [identities, merges, memberships, emailStatus, consents, insight] = await Promise.all([
      this.store.listIdentities(workspaceId, id),
      this.store.listMerges(workspaceId, id),
      held,
      this.store.messaging.emailStatus(workspaceId, id),
      this.store.messaging.consents(workspaceId, id),
      // The stage comes from the memberships read here, not read again.
      held.then((m) => this.insights?.forProfile(workspaceId, id, m) ?? null),
    ])
    return {
      id: p.id,
      userId: p.userId,
      anonymousIds: identities.filter((i) => i.kind === 'anonymous').map((i) => i.value),
      emails: identities.filter((i) => i.kind === 'email').map((i) => i.value),
      identities: identities.map((i) => ({
        type: i.kind,
        value: i.value,
        firstSeen: iso(i.createdAt),
      })),
      traits: p.traits,
      firstSeen: p.firstSeen === null ? null : iso(p.firstSeen),
      lastSeen: p.lastSeen === null ? null : iso(p.lastSeen),
      createdAt: iso(p.createdAt),
      updatedAt: iso(p.updatedAt),
      segments: memberships.map((m) => ({
        key: m.segmentKey,
        version: m.version,
        since: iso(m.enteredAt),
      })),
      merges: merges.map((m) => ({
        from: m.fromProfileId,
        reason: m.reason,
        messageId: m.messageId,
        at: iso(m.at),
      })),
      emailStatus,
      consent: consentView(consents),
      scores: insight?.scores ?? {},
      computed: insight?.computed ?? null,
      lifecycle: insight?.lifecycle ?? null,
    }
  }
}

function consentView(rows: readonly ConsentRecord[]): Record<Purpose, ConsentView | null> {
  const out = Object.fromEntries(PURPOSES.map((p) => [p, null])) as Record<
    Purpose,
    ConsentView | null
  >
  for (const r of rows) {
    out[r.purpose] = {
      state: r.state,
      at: iso(r.at),
      source: r.source,
      evidence: r.evidence,
      messageId: r.messageId,
    }
  }
  return out
}

function parseTraitsBody(body: unknown): JsonObject {
  const issues: Issue[] = []
  if (!isPlainObject(body)) {
    issues.push({
      path: '',
      message: 'body must be a JSON object like {"traits": {"plan": "pro"}}',
    })
  } else {
    for (const k of Object.keys(body)) {
      if (k !== 'traits')
        issues.push({
          path: k,
          message: `unknown field ${JSON.stringify(k)}; expected only "traits"`,
        })
    }
    const tooDeep = nestingIssue(body.traits, 'traits', MAX_JSON_DEPTH - 1)
    if (!isPlainObject(body.traits)) {
      issues.push({ path: 'traits', message: 'traits must be an object' })
    } else if (tooDeep) {
      issues.push(tooDeep)
    } else {
      for (const k of Object.keys(body.traits)) {
        if (k.trim() === '')
          issues.push({ path: 'traits', message: 'a trait name must not be empty' })
      }
      body.traits = sanitizeStrings(body.traits, 'traits', issues)
    }
  }
  if (issues.length > 0) {
    throw issuesError('invalid_body', issues.map((i) => i.message).join('; '), issues)
  }
  return (body as { traits: JsonObject }).traits
}

function eventView(e: StoredEvent): EventView {
  return {
    messageId: e.messageId,
    type: e.type,
    name: e.name,
    timestamp: iso(e.timestamp),
    receivedAt: iso(e.receivedAt),
    userId: e.userId,
    anonymousId: e.anonymousId,
    properties: e.properties,
    traits: e.traits,
    context: isPlainObject(e.payload.context) ? (e.payload.context as JsonObject) : null,
  }
}
