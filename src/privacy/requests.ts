import type { Engine } from '../engine/engine.js'
import { deliveryRows } from '../delivery/dispatcher.js'
import type { Clock } from '../shared/clock.js'
import { issuesError, SegflowError } from '../shared/errors.js'
import { newId } from '../shared/ids.js'
import { isPlainObject } from '../shared/json.js'
import type { PrivacyRequestRecord, Store } from '../store/store.js'
import type { AuditLog } from './audit.js'
import { identifierHash } from './hash.js'

const DAY = 86_400_000
const REGULATIONS = ['gdpr', 'ccpa'] as const
const TYPES = ['export', 'erasure'] as const

/**
 * When a request must be answered: GDPR, one month from receipt (the same day of the next
 * month, or its last day when that month is shorter); CCPA, 45 days.
 */
export function dueDate(
  regulation: PrivacyRequestRecord['regulation'],
  receivedAt: number,
): number {
  if (regulation === 'ccpa') return receivedAt + 45 * DAY
  const d = new Date(receivedAt)
  const month = d.getUTCMonth() + 1
  const last = new Date(Date.UTC(d.getUTCFullYear(), month + 1, 0)).getUTCDate()
  return Date.UTC(
    d.getUTCFullYear(),
    month,
    Math.min(d.getUTCDate(), last),
    d.getUTCHours(),
    d.getUTCMinutes(),
    d.getUTCSeconds(),
    d.getUTCMilliseconds(),
  )
}

export interface PrivacyRequestView {
  readonly id: string
  readonly type: PrivacyRequestRecord['type']
  readonly regulation: PrivacyRequestRecord['regulation']
  readonly status: PrivacyRequestRecord['status']
  readonly receivedAt: string
  readonly dueAt: string
  readonly completedAt: string | null
  /** Erasure: rows removed by table, and the notifications sent; export: rows by table. */
  readonly result: unknown
}

function view(r: PrivacyRequestRecord): PrivacyRequestView {
  const iso = (ms: number) => new Date(ms).toISOString()
  return {
    id: r.id,
    type: r.type,
    regulation: r.regulation,
    status: r.status,
    receivedAt: iso(r.createdAt),
    dueAt: iso(r.dueAt),
    completedAt: r.completedAt === null ? null : iso(r.completedAt),
    result: r.detail === null ? null : (JSON.parse(r.detail) as unknown),
  }
}

function parseBody(body: unknown): {
  type: PrivacyRequestRecord['type']
  profile: string
  regulation: PrivacyRequestRecord['regulation']
} {
  const bad = (path: string, message: string) =>
    issuesError('invalid_body', `${path}: ${message}`, [{ path, message }])
  if (!isPlainObject(body))
    throw bad('', 'body must be a JSON object like {"type": "erasure", "profile": "ada"}')
  for (const k of Object.keys(body))
    if (!['type', 'profile', 'regulation'].includes(k))
      throw bad(k, `unknown field ${JSON.stringify(k)}; expected type, profile, regulation`)
  if (!(TYPES as readonly unknown[]).includes(body.type))
    throw bad('type', 'type must be "export" or "erasure"')
  if (typeof body.profile !== 'string' || body.profile.trim() === '')
    throw bad('profile', 'profile must be the person’s userId, anonymousId, email or profile id')
  const regulation = body.regulation ?? 'gdpr'
  if (!(REGULATIONS as readonly unknown[]).includes(regulation))
    throw bad('regulation', 'regulation must be "gdpr" or "ccpa"')
  return {
    type: body.type as PrivacyRequestRecord['type'],
    profile: body.profile.trim(),
    regulation: regulation as PrivacyRequestRecord['regulation'],
  }
}

/**
 * GDPR and CCPA requests: export everything held about a person, or erase them. Each request
 * has an id, a status and a due date, is answered at once, and is recorded in the audit log.
 *
 * Erasure, in one transaction: the person (and every profile merged into them) leaves every
 * segment with reason `erasure` and each webhook that wants those exits gets a delivery (with
 * the ids it needs to delete the person downstream; the delivery is removed once it is final);
 * every other row about them is deleted from every table; audit entries naming them say
 * `[erased]`; and their identifiers are kept hashed on the suppression list, so their later
 * messages are dropped until one brings fresh consent.
 */
export class PrivacyService {
  constructor(
    private readonly store: Store,
    private readonly engine: Engine,
    private readonly clock: Clock,
    private readonly audit: AuditLog,
    private readonly kickDeliveries: () => void,
  ) {}

  async list(workspaceId: string, limit: number): Promise<PrivacyRequestView[]> {
    return (await this.store.privacy.listRequests(workspaceId, limit)).map(view)
  }

  async get(workspaceId: string, id: string): Promise<PrivacyRequestView> {
    const r = await this.store.privacy.getRequest(workspaceId, id)
    if (!r) throw new SegflowError('request_not_found', `no privacy request ${JSON.stringify(id)}`)
    return view(r)
  }

  /** Records a request and carries it out. Export answers with the person's data as well. */
  async request(
    workspaceId: string,
    actor: string,
    body: unknown,
  ): Promise<{ request: PrivacyRequestView; data?: unknown }> {
    const { type, profile, regulation } = parseBody(body)
    const now = this.clock.now()
    const record: PrivacyRequestRecord = {
      workspaceId,
      id: newId('prq', now),
      type,
      regulation,
      subjectHash: identifierHash(workspaceId, profile),
      status: 'received',
      createdAt: now,
      dueAt: dueDate(regulation, now),
      completedAt: null,
      detail: null,
    }
    await this.store.write((tx) => tx.privacy.insertRequest(record))
    try {
      const out =
        type === 'export'
          ? await this.exportPerson(workspaceId, profile, record)
          : await this.erasePerson(workspaceId, profile, record)
      await this.audit.record({
        workspaceId,
        actor,
        action: `privacy.${type}`,
        target: record.id,
        status: 0,
      })
      if (type === 'erasure') this.kickDeliveries()
      return out
    } catch (e) {
      const failed: PrivacyRequestRecord = {
        ...record,
        status: 'failed',
        detail: JSON.stringify({ error: (e as Error).message }),
      }
      await this.store.write((tx) => tx.privacy.updateRequest(failed))
      throw e
    }
  }

  private async exportPerson(
    workspaceId: string,
    ref: string,
    record: PrivacyRequestRecord,
  ): Promise<{ request: PrivacyRequestView; data: unknown }> {
    return this.store.write(async (tx) => {
      const id = await this.store.resolveProfileId(workspaceId, ref)
      const family = id === null ? [] : await tx.privacy.profileFamily(workspaceId, id)
      const tables = family.length === 0 ? {} : await tx.privacy.personRows(workspaceId, family)
      const done: PrivacyRequestRecord = {
        ...record,
        status: 'completed',
        completedAt: this.clock.now(),
        detail: JSON.stringify({
          found: id !== null,
          rows: Object.fromEntries(Object.entries(tables).map(([k, v]) => [k, v.length])),
        }),
      }
      await tx.privacy.updateRequest(done)
      return {
        request: view(done),
        data: {
          format: 'segflow.export.v1',
          workspace: workspaceId,
          exportedAt: new Date(done.completedAt!).toISOString(),
          profileId: id,
          profiles: family,
          tables,
        },
      }
    })
  }

  private async erasePerson(
    workspaceId: string,
    ref: string,
    record: PrivacyRequestRecord,
  ): Promise<{ request: PrivacyRequestView }> {
    const erased = await this.store.write(async (tx) => {
      const id = await this.store.resolveProfileId(workspaceId, ref)
      if (id === null) {
        const done: PrivacyRequestRecord = {
          ...record,
          status: 'completed',
          completedAt: this.clock.now(),
          detail: JSON.stringify({ found: false }),
        }
        await tx.privacy.updateRequest(done)
        return { request: view(done), found: false }
      }
      const family = await tx.privacy.profileFamily(workspaceId, id)
      // Every id they are known by, to suppress and to blank in the audit log (not every row
      // about them: that is what export reads).
      const identifiers = new Set<string>([ref])
      for (const i of await tx.delivery.identitiesOf(workspaceId, family)) identifiers.add(i.value)
      for (const p of await tx.loadProfiles(workspaceId, family))
        if (p.userId !== null) identifiers.add(p.userId)
      // They leave every segment; the exits reach the webhooks that want them.
      const before = await tx.delivery.latestTransitionSeq()
      await this.engine.erase(tx, workspaceId, family)
      const exits = await tx.delivery.transitionsAfter(before, 1_000_000)
      const notices = await deliveryRows(tx, exits, this.clock.now())
      await tx.delivery.insertDeliveries(notices)
      const erased = await tx.privacy.erase(
        workspaceId,
        family,
        notices.map((d) => d.id),
      )
      const redacted = await tx.privacy.redactAudit(workspaceId, [...family, ...identifiers])
      await tx.privacy.suppress(
        workspaceId,
        [...identifiers].map((v) => identifierHash(workspaceId, v)),
        record.id,
        this.clock.now(),
      )
      const done: PrivacyRequestRecord = {
        ...record,
        status: 'completed',
        completedAt: this.clock.now(),
        detail: JSON.stringify({
          found: true,
          erased,
          auditEntriesRedacted: redacted,
          exitsSent: exits.length,
          notifications: notices.length,
          suppressedIdentifiers: identifiers.size,
        }),
      }
      await tx.privacy.updateRequest(done)
      return { request: view(done), found: true }
    })
    // Deleted is not yet gone from disk: the log and free space still hold the old bytes.
    if (erased.found) await this.store.scrubDeleted()
    return { request: erased.request }
  }
}
