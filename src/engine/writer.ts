import type { Clock } from '../shared/clock.js'
import type { ConsentRecord, EventRecord, ProfileRecord, Store, WriteTx } from '../store/store.js'
import { identifierHash } from '../privacy/index.js'
import { emailOf, IdentityResolver, identityValues } from './identity.js'
import type { Message } from './message.js'
import type { Engine, Touch } from './engine.js'
import type { ContactField } from './segments.js'
import { applyTraits, replacement } from './traits.js'

/** `suppressed`: the person was erased and the message brought no fresh consent: dropped. */
export type WriteStatus = 'stored' | 'duplicate' | 'suppressed'

export interface WriteOutcome {
  readonly status: WriteStatus
  /** The profile the message was stored under (absent for duplicates). */
  readonly profileId?: string
}

/**
 * Applies batches of messages to the store, each batch in one transaction: dedupe by
 * messageId, resolve identity, update profiles, append events. Everything a batch needs is
 * read in a few bulk statements, planned in memory, and written in a few more, so the cost
 * per message does not include database round trips.
 */
export class Writer {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    /** The segment engine, run in the same transaction; none for a store-only writer (tests). */
    private readonly engine?: Engine,
  ) {}

  /** Outcomes are in the order of `messages`. Resolves once the batch is committed. */
  write(messages: readonly Message[]): Promise<WriteOutcome[]> {
    return this.store.write(async (tx) => {
      // Time-driven changes due by now happen first, at their own instants, so that this
      // batch's evaluation sees the memberships as they are now.
      if (this.engine) await this.engine.fireDue(tx, this.clock.now())
      const outcomes: WriteOutcome[] = new Array(messages.length)
      const byWorkspace = new Map<string, number[]>()
      messages.forEach((m, i) => {
        const list = byWorkspace.get(m.workspaceId)
        if (list) list.push(i)
        else byWorkspace.set(m.workspaceId, [i])
      })
      for (const [workspaceId, indexes] of byWorkspace) {
        await this.writeWorkspace(tx, workspaceId, messages, indexes, outcomes)
      }
      return outcomes
    })
  }

  /**
   * Drops the messages of erased people (their identifiers are on the suppression list),
   * unless a message brings fresh consent: then the person is back, the suppression of its
   * identifiers is lifted, and it and the messages after it are stored. Returns the indexes
   * that go on.
   */
  private async withoutErased(
    tx: WriteTx,
    workspaceId: string,
    messages: readonly Message[],
    fresh: readonly number[],
    outcomes: WriteOutcome[],
  ): Promise<number[]> {
    const hashes = new Map<number, string[]>()
    for (const i of fresh) hashes.set(i, identifierHashes(workspaceId, messages[i]!))
    const suppressed = await tx.privacy.suppressed(workspaceId, [...hashes.values()].flat())
    if (suppressed.size === 0) return [...fresh]
    const lifted: string[] = []
    const out: number[] = []
    for (const i of fresh) {
      const hit = hashes.get(i)!.some((h) => suppressed.has(h))
      if (!hit) {
        out.push(i)
        continue
      }
      if (messages[i]!.consent?.some((c) => c.state === 'granted')) {
        for (const h of hashes.get(i)!) {
          if (suppressed.delete(h)) lifted.push(h)
        }
        out.push(i)
      } else {
        outcomes[i] = { status: 'suppressed' }
      }
    }
    if (lifted.length > 0) await tx.privacy.unsuppress(workspaceId, lifted)
    return out
  }

  private async writeWorkspace(
    tx: WriteTx,
    workspaceId: string,
    messages: readonly Message[],
    indexes: readonly number[],
    outcomes: WriteOutcome[],
  ): Promise<void> {
    const now = this.clock.now()
    const existing = await tx.existingMessageIds(
      workspaceId,
      indexes.map((i) => messages[i]!.messageId),
    )
    const seen = new Set<string>()
    let fresh: number[] = []
    for (const i of indexes) {
      const id = messages[i]!.messageId
      if (existing.has(id) || seen.has(id)) outcomes[i] = { status: 'duplicate' }
      else {
        seen.add(id)
        fresh.push(i)
      }
    }
    if (fresh.length === 0) return
    const kept = await this.withoutErased(tx, workspaceId, messages, fresh, outcomes)
    if (kept.length === 0) return
    fresh = kept

    const values = new Set<string>()
    const targets = new Set<string>()
    for (const i of fresh) {
      const m = messages[i]!
      for (const v of identityValues(m)) values.add(v)
      if (m.target?.profileId !== undefined) targets.add(m.target.profileId)
    }
    const identities = await tx.findIdentities(workspaceId, [...values])
    for (const ident of identities) targets.add(ident.profileId)
    let profiles = await tx.loadProfiles(workspaceId, [...targets])
    // A target may have been merged since its id was looked up: load where it went too.
    const moved = profiles.filter((p) => p.mergedInto !== null && !targets.has(p.mergedInto))
    if (moved.length > 0) {
      profiles = profiles.concat(
        await tx.loadProfiles(
          workspaceId,
          moved.map((p) => p.mergedInto!),
        ),
      )
    }

    const resolver = new IdentityResolver(workspaceId, now, identities, profiles)
    const events: EventRecord[] = []
    const consents: ConsentRecord[] = []
    // What changed per profile, for the engine to re-evaluate only what it can affect.
    const changed = new Map<string, Changed>()
    for (const i of fresh) {
      const m = messages[i]!
      const p = resolver.resolve(m)
      const c = changed.get(p.id) ?? {
        traits: new Set<string>(),
        seen: false,
        live: false,
        imported: false,
        newest: null,
        consent: false,
      }
      changed.set(p.id, c)
      if (m.imported === true) c.imported = true
      else c.live = true
      if (c.newest === null || m.timestamp > c.newest) c.newest = m.timestamp
      let traits = m.traits
      if (m.type === 'identify' && traits) {
        if (m.replaceTraits) traits = replacement(p, traits)
        for (const k of applyTraits(p, traits, m.timestamp)) c.traits.add(k)
      }
      if (m.activity !== false) {
        if (p.firstSeen === null || m.timestamp < p.firstSeen) p.firstSeen = m.timestamp
        if (p.lastSeen === null || m.timestamp > p.lastSeen) p.lastSeen = m.timestamp
        c.seen = true
      }
      p.updatedAt = now
      resolver.touch(p)
      events.push(toEventRecord(m, p.id, traits))
      if (m.consent && m.consent.length > 0) c.consent = true
      for (const c of m.consent ?? []) {
        consents.push({
          workspaceId,
          profileId: p.id,
          purpose: c.purpose,
          state: c.state,
          at: m.timestamp,
          source: c.source,
          evidence: c.evidence,
          messageId: m.messageId,
        })
      }
      outcomes[i] = { status: 'stored', profileId: p.id }
    }
    // Merges later in the batch may have moved profiles that earlier messages resolved to.
    for (const i of fresh) {
      const o = outcomes[i]!
      if (o.profileId !== undefined)
        outcomes[i] = { status: 'stored', profileId: resolver.finalId(o.profileId) }
    }

    await tx.upsertProfiles(resolver.changedProfiles())
    for (const merge of resolver.merges) {
      await tx.moveProfileData(workspaceId, merge.fromProfileId, merge.intoProfileId)
    }
    await tx.upsertIdentities(
      [...resolver.newIdentities.values()].map((r) => ({
        ...r,
        profileId: resolver.finalId(r.profileId),
      })),
    )
    await tx.insertMerges(resolver.merges)
    const stored = events.map((e) => ({ ...e, profileId: resolver.finalId(e.profileId) }))
    await tx.insertEvents(stored)
    const imported = new Map<string, number>()
    for (const i of fresh) {
      const m = messages[i]!
      if (m.imported === true) imported.set(m.type, (imported.get(m.type) ?? 0) + 1)
    }
    if (imported.size > 0) await tx.countImported(workspaceId, imported)
    if (consents.length > 0) {
      // One row per person and purpose: the latest statement in the batch (PostgreSQL refuses
      // a statement that updates the same row twice).
      const latest = new Map<string, ConsentRecord>()
      for (const c of consents) {
        const row = { ...c, profileId: resolver.finalId(c.profileId) }
        const k = `${row.profileId}\u0000${row.purpose}`
        const held = latest.get(k)
        if (!held || row.at >= held.at) latest.set(k, row)
      }
      await tx.upsertConsents([...latest.values()])
    }
    if (this.engine)
      await this.engine.afterWrite(tx, workspaceId, touches(resolver, changed, stored), now)
  }
}

/**
 * The identifiers a message names (user and anonymous ids, the previous id of an alias, the
 * email of an identify or an import row), as the suppression list hashes them.
 */
function identifierHashes(workspaceId: string, m: Message): string[] {
  const values = [m.userId, m.anonymousId, m.previousId, emailOf(m), m.target?.email ?? null]
  return [...new Set(values.filter((v): v is string => typeof v === 'string' && v !== ''))].map(
    (v) => identifierHash(workspaceId, v),
  )
}

/** What the messages of a batch did to one profile (before merges are followed). */
interface Changed {
  readonly traits: Set<string>
  seen: boolean
  /** Some message was not imported. */
  live: boolean
  /** Some message was imported. */
  imported: boolean
  /** The newest message timestamp. */
  newest: number | null
  /** It stated consent. */
  consent: boolean
}

/** The live profiles this batch changed, each with its events and what it absorbed. */
function touches(
  resolver: IdentityResolver,
  changed: Map<string, Changed>,
  events: readonly EventRecord[],
): Touch[] {
  const out = new Map<
    string,
    {
      profile: ProfileRecord
      events: EventRecord[]
      traits: Set<string>
      seen: boolean
      absorbed: string[]
      created: boolean
      live: boolean
      imported: boolean
      newest: number | null
      contact: Set<ContactField>
    }
  >()
  for (const p of resolver.changedProfiles()) {
    if (p.mergedInto === null) {
      const created = resolver.created.has(p.id)
      out.set(p.id, {
        profile: p,
        events: [],
        traits: new Set(),
        seen: false,
        absorbed: [],
        created,
        live: false,
        imported: false,
        newest: null,
        contact: new Set(),
      })
    }
  }
  for (const m of resolver.merges)
    out.get(resolver.finalId(m.intoProfileId))?.absorbed.push(m.fromProfileId)
  for (const [id, c] of changed) {
    const t = out.get(resolver.finalId(id))
    if (!t) continue
    for (const k of c.traits) t.traits.add(k)
    t.seen ||= c.seen
    t.live ||= c.live
    t.imported ||= c.imported
    if (c.newest !== null && (t.newest === null || c.newest > t.newest)) t.newest = c.newest
    if (c.consent) t.contact.add('consent')
  }
  // A new email address makes a person reachable (or not) by email.
  for (const ident of resolver.newIdentities.values())
    if (ident.kind === 'email') out.get(resolver.finalId(ident.profileId))?.contact.add('email')
  for (const e of events) out.get(e.profileId)?.events.push(e)
  // A live message among imported ones makes the change live: it is happening now.
  return [...out.values()].map(({ live, imported, ...t }) => ({
    ...t,
    imported: imported && !live,
  }))
}

function toEventRecord(m: Message, profileId: string, traits: Message['traits']): EventRecord {
  return {
    workspaceId: m.workspaceId,
    messageId: m.messageId,
    profileId,
    type: m.type,
    name: m.name,
    timestamp: m.timestamp,
    receivedAt: m.receivedAt,
    userId: m.userId,
    anonymousId: m.anonymousId,
    properties: m.properties,
    traits,
    // Kept with the event so that anything replaying history (backfills, the test oracle)
    // can tell operator changes from activity.
    payload: m.activity === false ? { ...m.payload, segflow: { activity: false } } : m.payload,
  }
}
