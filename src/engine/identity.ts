import { newId } from '../shared/ids.js'
import type {
  IdentityKind,
  IdentityRecord,
  MergeReason,
  MergeRecord,
  ProfileRecord,
} from '../store/store.js'
import type { Message } from './message.js'
import { mergeTraits } from './traits.js'

const key = (kind: IdentityKind, value: string) => `${kind}\u0000${value}`

/** The lower-cased email an identify message carries in `traits.email`, if any. */
export function emailOf(m: Message): string | null {
  const email = m.type === 'identify' ? m.traits?.email : undefined
  if (typeof email !== 'string') return null
  const e = email.trim().toLowerCase()
  return e.length > 0 ? e : null
}

/** The identity values a message may resolve through (for one bulk look-up). */
export function identityValues(m: Message): string[] {
  const out: string[] = []
  if (m.userId !== null) out.push(m.userId)
  if (m.anonymousId !== null) out.push(m.anonymousId)
  if (m.previousId !== null && m.type === 'alias') out.push(m.previousId)
  const email = emailOf(m) ?? m.target?.email
  if (email) out.push(email)
  return out
}

/**
 * Identity resolution for one workspace's part of a batch, in memory. It is given the
 * identities and profiles the batch can reach, resolves messages in order (creating,
 * linking and merging profiles) and records what must be written.
 *
 * Policy (README, "Identity"):
 * - userId and anonymousId both known, on different profiles: the anonymous profile is
 *   merged into the user's if it has no userId of its own; otherwise (a shared device) the
 *   message goes to the user and the anonymousId stays where it is.
 * - an unknown userId arriving with a known anonymousId claims that anonymous profile,
 *   unless it already has another userId, in which case the user gets a new profile.
 * - alias merges previousId's profile into userId's, whatever either holds.
 * - identify with traits.email merges a profile that has that email and no userId.
 */
export class IdentityResolver {
  private readonly identities = new Map<string, string>()
  private readonly profiles = new Map<string, ProfileRecord>()
  /** Merged-away profile id → the id it now lives under. */
  private readonly redirects = new Map<string, string>()
  readonly newIdentities = new Map<string, IdentityRecord>()
  readonly dirty = new Set<string>()
  readonly merges: MergeRecord[] = []
  /** Profiles this batch created (every segment must consider them). */
  readonly created = new Set<string>()

  constructor(
    private readonly workspaceId: string,
    private readonly now: number,
    identities: readonly IdentityRecord[],
    profiles: readonly ProfileRecord[],
  ) {
    for (const i of identities) this.identities.set(key(i.kind, i.value), i.profileId)
    for (const p of profiles) {
      this.profiles.set(p.id, p)
      if (p.mergedInto !== null) this.redirects.set(p.id, p.mergedInto)
    }
  }

  /** The profile a message belongs to, after creating, linking or merging what it implies. */
  resolve(m: Message): ProfileRecord {
    const p = this.resolveIds(m)
    const email = emailOf(m)
    if (email) this.claimEmail(email, p, m)
    return this.profile(p.id)
  }

  /** A profile's current id, following merges made earlier in this batch. */
  finalId(id: string): string {
    let current = id
    for (
      let next = this.redirects.get(current);
      next !== undefined;
      next = this.redirects.get(current)
    ) {
      current = next
    }
    return current
  }

  /** Profiles touched by this batch (dirty), in their final state. */
  changedProfiles(): ProfileRecord[] {
    return [...this.dirty].map((id) => this.profiles.get(id)).filter((p): p is ProfileRecord => !!p)
  }

  touch(p: ProfileRecord): void {
    this.dirty.add(p.id)
  }

  private resolveIds(m: Message): ProfileRecord {
    if (m.target?.profileId !== undefined) {
      return this.profiles.get(this.finalId(m.target.profileId)) ?? this.create(m.target.profileId)
    }
    if (m.type === 'alias' && m.userId !== null && m.previousId !== null)
      return this.alias(m, m.userId, m.previousId)

    const user = m.userId === null ? undefined : this.lookup(m.userId, 'user', 'alias')
    const anon =
      m.anonymousId === null ? undefined : this.lookup(m.anonymousId, 'anonymous', 'alias')

    if (user && anon && user.id !== anon.id) {
      if (anon.userId === null) this.merge(anon, user, 'identify', m)
      return user
    }
    if (user) {
      if (m.anonymousId !== null && !anon) this.link('anonymous', m.anonymousId, user)
      return user
    }
    if (anon) {
      if (m.userId === null) return anon
      if (anon.userId === null) {
        this.link('user', m.userId, anon)
        anon.userId = m.userId
        return anon
      }
      // The anonymousId belongs to someone else already: a new person on a shared device.
      const p = this.create()
      this.link('user', m.userId, p)
      p.userId = m.userId
      return p
    }
    if (m.userId === null && m.anonymousId === null && m.target?.email) {
      const byEmail = this.lookup(m.target.email, 'email')
      if (byEmail) return byEmail
    }
    const p = this.create()
    if (m.userId !== null) {
      this.link('user', m.userId, p)
      p.userId = m.userId
    }
    if (m.anonymousId !== null) this.link('anonymous', m.anonymousId, p)
    return p
  }

  private alias(m: Message, userId: string, previousId: string): ProfileRecord {
    const into = this.lookup(userId, 'user', 'alias')
    const from = this.lookup(previousId, 'user', 'anonymous', 'alias')
    let p: ProfileRecord
    if (into && from) {
      if (into.id !== from.id) this.merge(from, into, 'alias', m)
      p = into
    } else if (into) {
      this.link('alias', previousId, into)
      p = into
    } else if (from) {
      this.link('user', userId, from)
      p = from
    } else {
      p = this.create()
      this.link('user', userId, p)
      this.link('alias', previousId, p)
    }
    p.userId = userId
    if (m.anonymousId !== null && !this.lookup(m.anonymousId, 'anonymous', 'alias')) {
      this.link('anonymous', m.anonymousId, p)
    }
    this.touch(p)
    return p
  }

  private claimEmail(email: string, p: ProfileRecord, m: Message): void {
    const holder = this.lookup(email, 'email')
    if (!holder) this.link('email', email, p)
    else if (holder.id !== p.id && holder.userId === null) this.merge(holder, p, 'email', m)
  }

  private lookup(value: string, ...kinds: IdentityKind[]): ProfileRecord | undefined {
    for (const kind of kinds) {
      const id = this.identities.get(key(kind, value))
      if (id !== undefined) return this.profile(id)
    }
    return undefined
  }

  private profile(id: string): ProfileRecord {
    const p = this.profiles.get(this.finalId(id))
    // Every identity the batch can reach was loaded with its profile before resolving.
    if (!p) throw new Error(`profile ${id} was not loaded for this batch`)
    return p
  }

  private link(kind: IdentityKind, value: string, p: ProfileRecord): void {
    const k = key(kind, value)
    this.identities.set(k, p.id)
    this.newIdentities.set(k, {
      workspaceId: this.workspaceId,
      kind,
      value,
      profileId: p.id,
      createdAt: this.now,
    })
    this.touch(p)
  }

  private create(id?: string): ProfileRecord {
    const p: ProfileRecord = {
      workspaceId: this.workspaceId,
      id: id ?? newId('prf', this.now),
      userId: null,
      traits: {},
      traitTimes: {},
      firstSeen: null,
      lastSeen: null,
      createdAt: this.now,
      updatedAt: this.now,
      mergedInto: null,
    }
    this.profiles.set(p.id, p)
    this.created.add(p.id)
    this.touch(p)
    return p
  }

  /** Folds `from` into `into`: traits (newer wins per trait), times, identities, events. */
  private merge(from: ProfileRecord, into: ProfileRecord, reason: MergeReason, m: Message): void {
    mergeTraits(into, from)
    into.firstSeen = minOf(into.firstSeen, from.firstSeen)
    into.lastSeen = maxOf(into.lastSeen, from.lastSeen)
    into.createdAt = Math.min(into.createdAt, from.createdAt)
    into.userId ??= from.userId
    from.mergedInto = into.id
    from.traits = {}
    from.traitTimes = {}
    from.userId = null
    from.firstSeen = null
    from.lastSeen = null
    this.redirects.set(from.id, into.id)
    for (const [k, id] of this.identities) if (id === from.id) this.identities.set(k, into.id)
    for (const [k, rec] of this.newIdentities) {
      if (rec.profileId === from.id) this.newIdentities.set(k, { ...rec, profileId: into.id })
    }
    for (const p of this.profiles.values()) if (p.mergedInto === from.id) p.mergedInto = into.id
    this.merges.push({
      workspaceId: this.workspaceId,
      id: newId('mrg', this.now),
      fromProfileId: from.id,
      intoProfileId: into.id,
      reason,
      messageId: m.messageId,
      at: m.timestamp,
    })
    this.touch(from)
    this.touch(into)
  }
}

function minOf(a: number | null, b: number | null): number | null {
  return a === null ? b : b === null ? a : Math.min(a, b)
}

function maxOf(a: number | null, b: number | null): number | null {
  return a === null ? b : b === null ? a : Math.max(a, b)
}
