import { emptyState, mergeTracker } from '../evaluate/state.js'
import type { ProfileState, TrackerState } from '../evaluate/state.js'
import type { ConsentMode } from '../privacy/consent.js'
import type { Clock } from '../shared/clock.js'
import { newId } from '../shared/ids.js'
import type { JsonValue } from '../shared/json.js'
import type {
  EventRecord,
  MembershipRecord,
  ProfileRecord,
  ScoreModelRecord,
  SegmentRecord,
  Store,
  TimerRecord,
  TransitionReason,
  TransitionRecord,
  WriteTx,
} from '../store/store.js'
import { eventKey, modelSet, NO_MODELS, versionFor, WorkspaceSegments } from './segments.js'
import type { ContactField, EngineSegment, ModelSet, SegmentVersion } from './segments.js'

/** A profile the writer changed in this batch, in its final state. */
export interface Touch {
  readonly profile: ProfileRecord
  /** Its events of this batch (track, page, screen, and others, which trackers ignore). */
  readonly events: readonly EventRecord[]
  /** Trait keys whose value changed. */
  readonly traits: ReadonlySet<string>
  /** Whether it had activity (first/last seen may have moved). */
  readonly seen: boolean
  /** Profiles merged into it in this batch: they leave their segments, it is re-evaluated whole. */
  readonly absorbed: readonly string[]
  /** Created by this batch: no segment has considered it yet, so every one does now. */
  readonly created: boolean
  /** Every message of it in this batch came from `segflow import`. */
  readonly imported: boolean
  /** The newest timestamp of its messages in this batch (null: none). */
  readonly newest: number | null
  /** Consent it stated, an email address linked to it, in this batch. */
  readonly contact: ReadonlySet<ContactField>
}

/** Why a transition happened, as recorded with it. */
interface Cause {
  readonly reason: TransitionReason
  readonly historical: boolean
}

/** The default of `EngineOptions.historyAfterMs`: 24 hours. */
export const DEFAULT_HISTORY_AFTER_MS = 24 * 3_600_000

/** A profile loaded for evaluation, with everything evaluation reads and changes. */
interface Loaded {
  readonly workspaceId: string
  readonly id: string
  readonly state: ProfileState
  readonly members: Map<string, MembershipRecord>
  /** Due instants by segment key, as stored (and as this transaction has set them). */
  readonly timers: Map<string, number>
}

/** Whom marketing email reaches in a workspace: opt_in unless its settings say otherwise. */
async function consentModeOf(tx: WriteTx, workspaceId: string): Promise<ConsentMode> {
  return (await tx.messaging.getEmailSettings(workspaceId))?.consent?.mode ?? 'opt_in'
}

/** Timers taken from the store at a time when firing. */
const TIMER_BATCH = 1000

const pair = (ws: string, profile: string, segment: string) =>
  `${ws}\u0000${profile}\u0000${segment}`

/** Everything an evaluation decides, written in a few bulk statements at the end. */
class Changes {
  readonly transitions: TransitionRecord[] = []
  readonly memberships = new Map<string, MembershipRecord | null>()
  readonly timers = new Map<
    string,
    TimerRecord | { workspaceId: string; profileId: string; segmentKey: string; dueAt: null }
  >()
  readonly trackers = new Map<
    string,
    { workspaceId: string; profileId: string; key: string; state: TrackerState }
  >()

  async flush(tx: WriteTx): Promise<number | null> {
    const byWs = <T extends { workspaceId: string }>(rows: T[]) => {
      const m = new Map<string, T[]>()
      for (const r of rows)
        (m.get(r.workspaceId) ?? m.set(r.workspaceId, []).get(r.workspaceId)!).push(r)
      return m
    }
    await tx.insertTransitions(this.transitions)
    const upsert: MembershipRecord[] = []
    const remove: { workspaceId: string; segmentKey: string; profileId: string }[] = []
    for (const [k, v] of this.memberships) {
      if (v) upsert.push(v)
      else {
        const [workspaceId, profileId, segmentKey] = k.split('\u0000') as [string, string, string]
        remove.push({ workspaceId, profileId, segmentKey })
      }
    }
    for (const [ws, rows] of byWs(remove)) await tx.deleteMemberships(ws, rows)
    await tx.upsertMemberships(upsert)
    const timers: TimerRecord[] = []
    const stop: { workspaceId: string; segmentKey: string; profileId: string }[] = []
    let earliest: number | null = null
    for (const t of this.timers.values()) {
      if (t.dueAt === null) stop.push(t)
      else {
        timers.push(t as TimerRecord)
        earliest = earliest === null ? t.dueAt : Math.min(earliest, t.dueAt)
      }
    }
    for (const [ws, rows] of byWs(stop)) await tx.deleteTimers(ws, rows)
    await tx.upsertTimers(timers)
    await tx.upsertTrackers(
      [...this.trackers.values()].map((t) => ({ ...t, state: t.state as unknown as JsonValue })),
    )
    return earliest
  }
}

export interface EngineStats {
  /** Segment evaluations of one profile, since start. */
  evaluations: number
  /** Transitions recorded, since start. */
  transitions: number
  /** Timers fired, since start. */
  timersFired: number
}

export interface EngineOptions {
  /** Profiles per backfill transaction. Default 500. */
  readonly backfillPageSize?: number
  /** Called with the earliest due time of timers a transaction wrote (for the scheduler). */
  readonly onTimer?: (dueAt: number) => void
  /** Called when a transaction wrote transitions (for delivery). */
  readonly onTransitions?: () => void
  /**
   * How old a change may be when it is processed and still count as live: a message whose
   * newest timestamp, or a timer whose due instant, is at least this far before the clock makes
   * historical transitions (SEGFLOW_HISTORY_AFTER). Imports are always historical. Default 24h.
   */
  readonly historyAfterMs?: number
}

/**
 * The segment engine. Inside the writer's transaction it updates each touched profile's
 * trackers, re-evaluates only the segments the change can affect (in dependency order, so
 * cascades land in the same instant), and records every membership change as a transition in
 * the same transaction. Time-driven changes come from persisted timers, fired at their exact
 * instant; nothing scans profiles that nothing happened to.
 */
export class Engine {
  private readonly workspaces = new Map<string, WorkspaceSegments>()
  readonly stats: EngineStats = { evaluations: 0, transitions: 0, timersFired: 0 }
  private readonly pageSize: number
  private readonly historyAfterMs: number

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly options: EngineOptions = {},
  ) {
    this.pageSize = options.backfillPageSize ?? 500
    this.historyAfterMs = options.historyAfterMs ?? DEFAULT_HISTORY_AFTER_MS
  }

  /** Loads every workspace's segments and scoring models; call once at start. */
  async load(): Promise<void> {
    const [records, models, modes] = await this.store.write(async (tx) => {
      const records = await tx.listSegments()
      const models = await tx.scoring.listScoreModels()
      const modes = new Map<string, ConsentMode>()
      for (const ws of new Set([...records, ...models].map((r) => r.workspaceId)))
        modes.set(ws, await consentModeOf(tx, ws))
      return [records, models, modes] as const
    })
    const byWs = new Map<string, SegmentRecord[]>()
    for (const r of records)
      (byWs.get(r.workspaceId) ?? byWs.set(r.workspaceId, []).get(r.workspaceId)!).push(r)
    const modelsByWs = new Map<string, ScoreModelRecord[]>()
    for (const m of models)
      (modelsByWs.get(m.workspaceId) ?? modelsByWs.set(m.workspaceId, []).get(m.workspaceId)!).push(
        m,
      )
    this.workspaces.clear()
    for (const ws of new Set([...byWs.keys(), ...modelsByWs.keys()]))
      this.workspaces.set(
        ws,
        new WorkspaceSegments(
          byWs.get(ws) ?? [],
          modelSet(modelsByWs.get(ws) ?? []),
          undefined,
          modes.get(ws),
        ),
      )
  }

  /** A workspace's consent mode, as `reachable` conditions published now follow it. */
  consentMode(workspaceId: string): ConsentMode {
    return this.workspaces.get(workspaceId)?.consentMode ?? 'opt_in'
  }

  /** A workspace's scoring models (none when it has none). */
  models(workspaceId: string): ModelSet {
    return this.workspaces.get(workspaceId)?.models ?? NO_MODELS
  }

  workspaceIds(): string[] {
    return [...this.workspaces.keys()]
  }

  segments(workspaceId: string): WorkspaceSegments | undefined {
    return this.workspaces.get(workspaceId)
  }

  /**
   * Installs a workspace's segments as they now are in the store (after a change in `tx`), and
   * drops the tracker state no rule reads any more (a version replaced, a segment deleted).
   */
  async refresh(tx: WriteTx, workspaceId: string): Promise<WorkspaceSegments> {
    const before = this.workspaces.get(workspaceId)
    const segs = new WorkspaceSegments(
      await tx.listSegments(workspaceId),
      modelSet(await tx.scoring.listScoreModels(workspaceId)),
      before,
      await consentModeOf(tx, workspaceId),
    )
    this.workspaces.set(workspaceId, segs)
    const unused = [...(before?.plan.trackers.keys() ?? [])].filter(
      (k) => !segs.plan.trackers.has(k),
    )
    await tx.deleteTrackerKeys(workspaceId, unused)
    return segs
  }

  /** Forgets what it holds and reloads a workspace from the store (after a failed transaction). */
  async reload(workspaceId: string): Promise<void> {
    await this.store.write((tx) => this.refresh(tx, workspaceId))
  }

  // ---- messages -------------------------------------------------------------------------

  /** Called by the writer, in its transaction, with the profiles a batch touched. */
  async afterWrite(
    tx: WriteTx,
    workspaceId: string,
    touches: readonly Touch[],
    now: number,
  ): Promise<void> {
    const segs = this.workspaces.get(workspaceId)
    if (!segs || segs.size === 0 || touches.length === 0) return
    const absorbed = touches.flatMap((t) => t.absorbed)
    const loaded = await this.loadAll(
      tx,
      workspaceId,
      touches.map((t) => t.profile),
      absorbed,
      segs,
    )
    const changes = new Changes()
    // An import is history: whatever it changes is reason `import`. Otherwise a message is
    // history when even its newest timestamp is older than the threshold (a replay, a device
    // that was offline for days).
    const causeOf = (t: Touch, live: TransitionReason): Cause =>
      t.imported
        ? { reason: 'import', historical: true }
        : { reason: live, historical: t.newest !== null && t.newest <= now - this.historyAfterMs }
    // Merged-away profiles leave first; the survivors then enter what they now qualify for.
    for (const t of touches) {
      for (const id of t.absorbed) {
        const gone = loaded.get(id)
        if (gone) this.leaveAll(gone, now, causeOf(t, 'merge'), changes)
      }
    }
    for (const t of touches) {
      const p = loaded.get(t.profile.id)!
      for (const from of t.absorbed) this.absorb(segs, p, loaded.get(from), changes)
      const events = new Set<string>()
      for (const e of t.events) {
        if (e.type !== 'track' && e.type !== 'page' && e.type !== 'screen') continue
        events.add(eventKey(e.type, e.name)).add(eventKey(e.type, null))
        for (const key of segs.plan.apply(p.state, {
          type: e.type,
          name: e.name,
          timestamp: e.timestamp,
          properties: e.properties,
        })) {
          changes.trackers.set(pair(workspaceId, p.id, key), {
            workspaceId,
            profileId: p.id,
            key,
            state: p.state.trackers[key]!,
          })
        }
      }
      const merged = t.absorbed.length > 0
      const change = { events, traits: t.traits, seen: t.seen, contact: t.contact }
      // A merged profile is re-evaluated whole; a new one where it can differ from nobody.
      const keys = merged
        ? segs.order
        : t.created
          ? segs.forNewProfile(p.id, change)
          : segs.affected(change)
      this.evaluate(segs, p, keys, now, causeOf(t, merged ? 'merge' : 'event'), changes)
    }
    await tx.deleteTrackers(workspaceId, absorbed)
    await this.flush(tx, changes)
  }

  /**
   * Consent, email status or address of these people changed outside a message (an
   * unsubscribe link, a bounce, the admin API): in the caller's transaction, re-evaluates the
   * segments that read what changed, at `now`, recording transitions (reason `event`).
   */
  async contactChanged(
    tx: WriteTx,
    workspaceId: string,
    profileIds: readonly string[],
    fields: readonly ContactField[],
  ): Promise<void> {
    const segs = this.workspaces.get(workspaceId)
    if (!segs || !fields.some((f) => segs.contact.has(f)) || profileIds.length === 0) return
    const now = this.clock.now()
    // Due timers first, so this change lands on memberships as they are now.
    await this.fireDue(tx, now)
    const profiles = (await tx.loadProfiles(workspaceId, profileIds)).filter(
      (p) => p.mergedInto === null,
    )
    const loaded = await this.loadAll(tx, workspaceId, profiles, [], segs)
    const keys = segs.affected({ events: [], traits: [], seen: false, contact: fields })
    const changes = new Changes()
    for (const p of loaded.values())
      this.evaluate(segs, p, keys, now, { reason: 'event', historical: false }, changes)
    await this.flush(tx, changes)
  }

  /** Folds a merged-away profile's trackers into the survivor's; its memberships end. */
  private absorb(
    segs: WorkspaceSegments,
    into: Loaded,
    from: Loaded | undefined,
    changes: Changes,
  ): void {
    if (!from) return
    for (const [key, spec] of segs.plan.trackers) {
      const merged = mergeTracker(spec, into.state.trackers[key], from.state.trackers[key])
      if (!merged || merged === into.state.trackers[key]) continue
      into.state.trackers[key] = merged
      changes.trackers.set(pair(into.workspaceId, into.id, key), {
        workspaceId: into.workspaceId,
        profileId: into.id,
        key,
        state: merged,
      })
    }
  }

  // ---- time -------------------------------------------------------------------------------

  /**
   * Fires the timers due at or before `upTo` in the caller's transaction, each at its own
   * instant. Profiles are independent, so timers are taken in batches of many profiles; each
   * profile's instants are taken in order, including timers its own changes set on the way (a
   * change at one instant can set a timer for a later one, which must come before anything of
   * that profile due after it). Transitions are recorded in order of their instants. Stops
   * after `maxBatches` batches; returns how many timers fired.
   */
  async fireDue(tx: WriteTx, upTo: number, maxBatches = 10_000): Promise<number> {
    let fired = 0
    // A timer fired this late (segflow was down, or behind) changes history, not the present.
    const lateBy = this.clock.now() - this.historyAfterMs
    for (let batch = 0; batch < maxBatches; batch++) {
      const due = await tx.dueTimers(upTo, TIMER_BATCH)
      if (due.length === 0) break
      // When the batch is cut, a profile may have unfetched timers from its last instant on:
      // nothing of it after that instant may fire before them.
      const limit = due.length === TIMER_BATCH ? due[due.length - 1]!.dueAt : upTo
      const changes = new Changes()
      const byWs = new Map<string, TimerRecord[]>()
      for (const t of due)
        (byWs.get(t.workspaceId) ?? byWs.set(t.workspaceId, []).get(t.workspaceId)!).push(t)
      for (const [ws, timers] of byWs) {
        // A fired timer is gone unless evaluation sets it again.
        for (const t of timers)
          changes.timers.set(pair(ws, t.profileId, t.segmentKey), { ...t, dueAt: null })
        const segs = this.workspaces.get(ws)
        if (!segs) continue
        const pending = new Map<string, Map<string, number>>()
        for (const t of timers) {
          const m =
            pending.get(t.profileId) ?? pending.set(t.profileId, new Map()).get(t.profileId)!
          m.set(t.segmentKey, t.dueAt)
        }
        const profiles = await tx.loadProfiles(ws, [...pending.keys()])
        const loaded = await this.loadAll(
          tx,
          ws,
          profiles.filter((p) => p.mergedInto === null),
          [],
        )
        for (const [profileId, own] of pending) {
          const p = loaded.get(profileId)
          if (!p) continue
          for (;;) {
            let at = Infinity
            for (const d of own.values()) at = Math.min(at, d)
            if (at > limit) break
            const keys = [...own].filter(([, d]) => d === at).map(([k]) => k)
            for (const k of keys) {
              own.delete(k)
              p.timers.delete(k) // fired: gone (deleted above) unless evaluation sets it again
            }
            fired += keys.length
            this.stats.timersFired += keys.length
            const evaluated =
              keys.length === 1 ? segs.dependentsOf(keys[0]!) : segs.withDependents(keys)
            this.evaluate(
              segs,
              p,
              evaluated,
              at,
              { reason: 'time', historical: at <= lateBy },
              changes,
            )
            // What this profile is now due for, if it is due in this pass.
            for (const k of evaluated) {
              const d = p.timers.get(k)
              if (d !== undefined && d <= upTo) own.set(k, d)
              else own.delete(k)
            }
          }
        }
      }
      // Profiles were taken one after another: record everything in order of its instant.
      changes.transitions.sort((x, y) => x.at - y.at)
      await this.flush(tx, changes)
    }
    return fired
  }

  // ---- segment lifecycle --------------------------------------------------------------------

  /**
   * Applies the computing version of a segment to the next page of profiles (in id order):
   * rebuilds the trackers only it needs from stored events, evaluates, and records the changes
   * (reason `backfill` for a new segment, `rule_change` for a new version). When no profile is
   * left, the version goes live. Returns the updated record, or null when the segment changed
   * under it (deleted, or a newer version published).
   */
  async backfillPage(
    tx: WriteTx,
    workspaceId: string,
    key: string,
    version: number,
  ): Promise<SegmentRecord | null> {
    const segs = this.workspaces.get(workspaceId)
    const seg = segs?.segments.get(key)
    if (!segs || !seg?.next || seg.next.version !== version) return null
    const now = this.clock.now()
    const ids = await tx.profileIdsAfter(workspaceId, seg.record.backfillCursor, this.pageSize)
    if (ids.length === 0) {
      const record: SegmentRecord = {
        ...seg.record,
        liveVersion: seg.next.version,
        liveRule: seg.record.rule,
        liveModels: seg.record.models,
        status: 'live',
        backfillCursor: null,
        updatedAt: now,
      }
      await tx.upsertSegment(record)
      await this.refresh(tx, workspaceId)
      return record
    }
    const profiles = await tx.loadProfiles(workspaceId, ids)
    const loaded = await this.loadAll(tx, workspaceId, profiles, [])
    const changes = new Changes()
    await this.rebuildTrackers(tx, segs, seg, seg.next, loaded, changes)
    const cause: Cause = { reason: seg.current ? 'rule_change' : 'backfill', historical: false }
    const dependents = segs.withDependents([key]).filter((k) => k !== key)
    for (const id of ids) {
      const p = loaded.get(id)
      if (!p) continue
      this.evaluateVersion(seg, seg.next, p, now, cause, changes)
      this.evaluate(segs, p, dependents, now, cause, changes)
    }
    await this.flush(tx, changes)
    const record: SegmentRecord = {
      ...seg.record,
      backfillCursor: ids[ids.length - 1]!,
      backfillDone: seg.record.backfillDone + ids.length,
      updatedAt: now,
    }
    await tx.upsertSegment(record)
    await this.refresh(tx, workspaceId)
    return record
  }

  /** Trackers only the new version reads are built from the profiles' stored events. */
  private async rebuildTrackers(
    tx: WriteTx,
    segs: WorkspaceSegments,
    seg: EngineSegment,
    version: SegmentVersion,
    loaded: Map<string, Loaded>,
    changes: Changes,
  ): Promise<void> {
    // Only live versions' trackers are known to hold every profile's history: a tracker that
    // another computing version also needs is rebuilt by each (from the same events, so the
    // same state), never trusted half-built.
    const shared = new Set<string>()
    for (const other of segs.segments.values()) {
      if (other.current) for (const k of other.current.compiled.plan.trackers.keys()) shared.add(k)
    }
    const fresh = [...version.compiled.plan.trackers.keys()].filter((k) => !shared.has(k))
    if (fresh.length === 0) return
    const plan = version.compiled.plan
    const ws = seg.record.workspaceId
    for (const p of loaded.values()) for (const k of fresh) delete p.state.trackers[k]
    for (const e of await tx.activityEvents(ws, [...loaded.keys()])) {
      const p = loaded.get(e.profileId)
      if (p)
        plan.apply(p.state, {
          type: e.type,
          name: e.name,
          timestamp: e.timestamp,
          properties: e.properties,
        })
    }
    for (const p of loaded.values()) {
      for (const k of fresh) {
        const state = p.state.trackers[k]
        if (state)
          changes.trackers.set(pair(ws, p.id, k), {
            workspaceId: ws,
            profileId: p.id,
            key: k,
            state,
          })
      }
    }
  }

  /**
   * A person is being erased: they leave every segment now, with reason `erasure` (so that
   * downstream systems hear of it and can delete them too), and their timers are dropped.
   * The caller removes the rest of their rows in the same transaction.
   */
  async erase(tx: WriteTx, workspaceId: string, profileIds: readonly string[]): Promise<void> {
    const now = this.clock.now()
    const profiles = (await tx.loadProfiles(workspaceId, profileIds)).filter(
      (p) => p.mergedInto === null,
    )
    const loaded = await this.loadAll(tx, workspaceId, profiles, [])
    const changes = new Changes()
    for (const p of loaded.values())
      this.leaveAll(p, now, { reason: 'erasure', historical: false }, changes)
    await this.flush(tx, changes)
  }

  /** Ends every membership of the given segment (it is being deleted). */
  async endSegment(
    tx: WriteTx,
    workspaceId: string,
    key: string,
    members: readonly string[],
  ): Promise<void> {
    const seg = this.workspaces.get(workspaceId)?.segments.get(key)
    if (!seg) return
    const now = this.clock.now()
    const version = seg.current?.version ?? seg.record.version
    const changes = new Changes()
    for (const profileId of members) {
      changes.transitions.push(
        this.transition(workspaceId, 'segment.exited', now, key, version, profileId, {
          reason: 'deleted',
          historical: false,
        }),
      )
    }
    await this.flush(tx, changes)
  }

  // ---- evaluation ---------------------------------------------------------------------------

  private async loadAll(
    tx: WriteTx,
    workspaceId: string,
    profiles: readonly ProfileRecord[],
    extraIds: readonly string[],
    segs: WorkspaceSegments | undefined = this.workspaces.get(workspaceId),
  ): Promise<Map<string, Loaded>> {
    const ids = [...profiles.map((p) => p.id), ...extraIds]
    // Consent, status and address only when some rule reads them: most workspaces pay nothing.
    const contacts = segs && segs.contact.size > 0 ? tx.loadContacts(workspaceId, ids) : []
    const [trackers, memberships, timers, contact] = await Promise.all([
      tx.loadTrackers(workspaceId, ids),
      tx.loadMemberships(workspaceId, ids),
      tx.loadTimers(workspaceId, ids),
      contacts,
    ])
    const loaded = new Map<string, Loaded>()
    const byId = new Map(profiles.map((p) => [p.id, p]))
    for (const id of ids) {
      const p = byId.get(id)
      const state = emptyState()
      if (p) {
        state.traits = p.traits
        state.firstSeen = p.firstSeen
        state.lastSeen = p.lastSeen
      }
      loaded.set(id, { workspaceId, id, state, members: new Map(), timers: new Map() })
    }
    for (const t of trackers) {
      const l = loaded.get(t.profileId)
      if (l) l.state.trackers[t.key] = t.state as unknown as TrackerState
    }
    for (const c of contact) {
      const l = loaded.get(c.profileId)
      if (!l) continue
      l.state.consents = { ...c.consents }
      l.state.emailStatus = c.emailStatus
      l.state.hasEmail = c.hasEmail
    }
    for (const t of timers) loaded.get(t.profileId)?.timers.set(t.segmentKey, t.dueAt)
    for (const m of memberships) {
      const l = loaded.get(m.profileId)
      if (!l) continue
      l.members.set(m.segmentKey, m)
      l.state.segments.add(m.segmentKey)
    }
    return loaded
  }

  /** Evaluates `keys` (in dependency order) for one profile at `at`, recording what changes. */
  private evaluate(
    segs: WorkspaceSegments,
    p: Loaded,
    keys: readonly string[],
    at: number,
    cause: Cause,
    changes: Changes,
  ): void {
    for (const key of keys) {
      const seg = segs.segments.get(key)
      if (!seg) continue
      const version = versionFor(seg, p.id)
      if (!version) continue
      this.evaluateVersion(seg, version, p, at, cause, changes)
    }
  }

  private evaluateVersion(
    seg: EngineSegment,
    version: SegmentVersion,
    p: Loaded,
    at: number,
    cause: Cause,
    changes: Changes,
  ): void {
    this.stats.evaluations++
    const ws = p.workspaceId
    const { member, nextChangeAt } = version.compiled.evaluate(p.state, at)
    const held = p.members.get(seg.key)
    const k = pair(ws, p.id, seg.key)
    if (member && !held) {
      const m: MembershipRecord = {
        workspaceId: ws,
        segmentKey: seg.key,
        profileId: p.id,
        version: version.version,
        enteredAt: at,
      }
      p.members.set(seg.key, m)
      p.state.segments.add(seg.key)
      changes.memberships.set(k, m)
      changes.transitions.push(
        this.transition(ws, 'segment.entered', at, seg.key, version.version, p.id, cause),
      )
    } else if (!member && held) {
      p.members.delete(seg.key)
      p.state.segments.delete(seg.key)
      changes.memberships.set(k, null)
      changes.transitions.push(
        this.transition(ws, 'segment.exited', at, seg.key, version.version, p.id, cause),
      )
    } else if (member && held && held.version !== version.version) {
      const m = { ...held, version: version.version }
      p.members.set(seg.key, m)
      changes.memberships.set(k, m)
    }
    // Most evaluations leave the timer as it was (none, or the same instant): write only changes.
    if ((p.timers.get(seg.key) ?? null) !== nextChangeAt) {
      if (nextChangeAt === null) p.timers.delete(seg.key)
      else p.timers.set(seg.key, nextChangeAt)
      changes.timers.set(k, {
        workspaceId: ws,
        profileId: p.id,
        segmentKey: seg.key,
        dueAt: nextChangeAt,
      })
    }
  }

  /** A profile leaving every segment (merged away, erased): no memberships, no timers. */
  private leaveAll(p: Loaded, at: number, cause: Cause, changes: Changes): void {
    for (const m of p.members.values()) {
      changes.memberships.set(pair(p.workspaceId, p.id, m.segmentKey), null)
      changes.transitions.push(
        this.transition(p.workspaceId, 'segment.exited', at, m.segmentKey, m.version, p.id, cause),
      )
    }
    for (const key of p.timers.keys()) {
      changes.timers.set(pair(p.workspaceId, p.id, key), {
        workspaceId: p.workspaceId,
        profileId: p.id,
        segmentKey: key,
        dueAt: null,
      })
    }
    p.members.clear()
    p.timers.clear()
  }

  private transition(
    workspaceId: string,
    type: TransitionRecord['type'],
    at: number,
    segmentKey: string,
    segmentVersion: number,
    profileId: string,
    cause: Cause,
  ): TransitionRecord {
    this.stats.transitions++
    const now = this.clock.now()
    return {
      workspaceId,
      id: newId('trn', now),
      type,
      at,
      segmentKey,
      segmentVersion,
      profileId,
      reason: cause.reason,
      historical: cause.historical,
      recordedAt: now,
    }
  }

  private async flush(tx: WriteTx, changes: Changes): Promise<void> {
    const earliest = await changes.flush(tx)
    if (earliest !== null) this.options.onTimer?.(earliest)
    if (changes.transitions.length > 0) this.options.onTransitions?.()
  }
}
