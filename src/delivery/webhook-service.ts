import type { Clock } from '../shared/clock.js'
import { SegflowError } from '../shared/errors.js'
import { isPlainObject } from '../shared/json.js'
import { closestName } from '../shared/suggest.js'
import { parseDuration } from '../shared/time.js'
import type {
  AttemptRecord,
  DeliveryRecord,
  DeliveryStatus,
  Store,
  TransitionType,
  WebhookHistory,
  WebhookRecord,
} from '../store/store.js'
import { isSecret, newSecret } from './signing.js'
import { checkTarget } from './targets.js'
import type { Resolver } from './targets.js'

const TYPES: readonly TransitionType[] = ['segment.entered', 'segment.exited']
const HISTORY: readonly WebhookHistory[] = ['send', 'skip']
const FIELDS = ['url', 'secret', 'segments', 'types', 'maxInFlight', 'history']
const ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/
/** How long a rotated-out secret keeps signing, by default. */
const OVERLAP_MS = 24 * 3_600_000

export interface WebhookView {
  readonly id: string
  readonly url: string
  readonly segments: readonly string[] | null
  readonly types: readonly TransitionType[] | null
  readonly status: 'active' | 'disabled'
  readonly disabledReason: string | null
  readonly maxInFlight: number
  /** Historical transitions (imports, late messages and timers): `send` (flagged) or `skip`. */
  readonly history: WebhookHistory
  /** The current secret: only in answers to PUT and rotate. */
  readonly secret?: string
  /** Rotated-out secrets still signing, and until when. */
  readonly previousSecretsUntil: readonly string[]
  readonly createdAt: string
  readonly updatedAt: string
}

const iso = (ms: number) => new Date(ms).toISOString()

function view(w: WebhookRecord, withSecret: boolean, now: number): WebhookView {
  return {
    id: w.id,
    url: w.url,
    segments: w.segments,
    types: w.types,
    status: w.status,
    disabledReason: w.disabledReason,
    maxInFlight: w.maxInFlight,
    history: w.history,
    ...(withSecret ? { secret: w.secrets[w.secrets.length - 1]!.secret } : {}),
    previousSecretsUntil: w.secrets
      .filter((s) => s.expiresAt !== null && s.expiresAt > now)
      .map((s) => iso(s.expiresAt!)),
    createdAt: iso(w.createdAt),
    updatedAt: iso(w.updatedAt),
  }
}

function bad(message: string): SegflowError {
  return new SegflowError('invalid_body', message)
}

/** Webhook endpoints: create and update (which re-enables), rotate secrets, deliveries, replay. */
export class WebhookService {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly options: {
      allowPrivate: boolean
      /** Resolves host names for the save-time check. Default: dns.lookup. */
      resolve?: Resolver
      kick: () => void
      /** Automations calling an endpoint, which stop it being deleted. */
      usedBy?: (workspaceId: string, id: string) => Promise<string[]>
    },
  ) {}

  async list(workspaceId: string): Promise<WebhookView[]> {
    const now = this.clock.now()
    return (await this.store.delivery.listWebhooks(workspaceId)).map((w) => view(w, false, now))
  }

  async get(workspaceId: string, id: string): Promise<WebhookView> {
    return view(await this.record(workspaceId, id), false, this.clock.now())
  }

  /**
   * Creates or replaces an endpoint `{url, secret?, segments?, types?, maxInFlight?}`. A new
   * secret (given, or generated for a new endpoint) is rotated in: the previous one keeps signing
   * for 24 hours. Saving a disabled endpoint enables it again.
   */
  async put(
    workspaceId: string,
    id: string,
    body: unknown,
  ): Promise<{ webhook: WebhookView; created: boolean }> {
    if (!ID.test(id))
      throw new SegflowError(
        'invalid_request',
        `webhook id ${JSON.stringify(id)} must be letters, digits, - and _ (at most 64)`,
      )
    if (!isPlainObject(body)) throw bad('body must be a JSON object like {"url": "https://…"}')
    for (const k of Object.keys(body)) {
      if (!FIELDS.includes(k)) {
        const near = closestName(k, FIELDS)
        throw bad(
          `unknown field ${JSON.stringify(k)}${near ? ` (did you mean ${near}?)` : ''}; expected ${FIELDS.join(', ')}`,
        )
      }
    }
    if (typeof body.url !== 'string') throw bad('url is required')
    const url = (
      await checkTarget(body.url, this.options.allowPrivate, this.options.resolve)
    ).toString()
    if (body.secret !== undefined && (typeof body.secret !== 'string' || !isSecret(body.secret))) {
      throw bad('secret must be a Standard Webhooks secret: whsec_ and at least 16 bytes in base64')
    }
    let segments: string[] | null = null
    if (body.segments !== undefined && body.segments !== null) {
      if (!Array.isArray(body.segments) || body.segments.some((s) => typeof s !== 'string'))
        throw bad('segments must be a list of segment keys')
      segments = body.segments as string[]
    }
    let types: TransitionType[] | null = null
    if (body.types !== undefined && body.types !== null) {
      if (
        !Array.isArray(body.types) ||
        body.types.length === 0 ||
        body.types.some((t) => !TYPES.includes(t as TransitionType))
      ) {
        throw bad(`types must be a non-empty list of ${TYPES.join(', ')}`)
      }
      types = body.types as TransitionType[]
    }
    const maxInFlight = body.maxInFlight ?? 4
    if (
      typeof maxInFlight !== 'number' ||
      !Number.isInteger(maxInFlight) ||
      maxInFlight < 1 ||
      maxInFlight > 100
    ) {
      throw bad('maxInFlight must be a whole number from 1 to 100')
    }
    // Default send: an endpoint that mirrors membership needs imported history too.
    const history = body.history ?? 'send'
    if (typeof history !== 'string' || !HISTORY.includes(history as WebhookHistory)) {
      const near = typeof history === 'string' ? closestName(history, HISTORY) : null
      throw bad(
        `history ${JSON.stringify(history)} must be send or skip${near ? ` (did you mean ${near}?)` : ''}: whether historical transitions (imports, late messages and timers) are delivered`,
      )
    }
    const result = await this.store.write(async (tx) => {
      const now = this.clock.now()
      const existing = (await tx.delivery.listWebhooks(workspaceId)).find((w) => w.id === id)
      const known = new Set((await tx.listSegments(workspaceId)).map((s) => s.key))
      const unknown = (segments ?? []).filter((k) => !known.has(k))
      if (unknown.length > 0) throw bad(`segments ${unknown.join(', ')} do not exist`)
      let secrets = existing?.secrets.filter((s) => s.expiresAt === null || s.expiresAt > now) ?? []
      const current = secrets[secrets.length - 1]?.secret
      const wanted = typeof body.secret === 'string' ? body.secret : (current ?? newSecret())
      if (wanted !== current)
        secrets = [
          ...secrets.map((s) => (s.expiresAt === null ? { ...s, expiresAt: now + OVERLAP_MS } : s)),
          { secret: wanted, expiresAt: null },
        ]
      const record: WebhookRecord = {
        workspaceId,
        id,
        url,
        secrets,
        segments,
        types,
        status: 'active',
        disabledReason: null,
        maxInFlight,
        history: history as WebhookHistory,
        // A new endpoint gets what happens from now on, not the history before it.
        from: existing?.from ?? (await tx.delivery.outboxMark()),
        createdAt: existing?.createdAt ?? now,
        updatedAt: now,
      }
      await tx.delivery.upsertWebhook(record)
      return { record, created: existing === undefined }
    })
    this.options.kick()
    return { webhook: view(result.record, true, this.clock.now()), created: result.created }
  }

  /** A new generated secret; the previous one keeps signing for `overlap` (default 24h). */
  async rotate(workspaceId: string, id: string, body: unknown): Promise<WebhookView> {
    let overlap = OVERLAP_MS
    if (isPlainObject(body) && body.overlap !== undefined) {
      const ms = typeof body.overlap === 'string' ? parseDuration(body.overlap) : null
      if (ms === null) throw bad('overlap must be a duration like "24h"')
      overlap = ms
    }
    const record = await this.store.write(async (tx) => {
      const w = (await tx.delivery.listWebhooks(workspaceId)).find((x) => x.id === id)
      if (!w) throw notFound(id)
      const now = this.clock.now()
      const secrets = [
        ...w.secrets
          .filter((s) => s.expiresAt === null || s.expiresAt > now)
          .map((s) => (s.expiresAt === null ? { ...s, expiresAt: now + overlap } : s)),
        { secret: newSecret(), expiresAt: null },
      ]
      const updated = { ...w, secrets, updatedAt: now }
      await tx.delivery.upsertWebhook(updated)
      return updated
    })
    return view(record, true, this.clock.now())
  }

  /** Deletes an endpoint; its pending deliveries are cancelled, its history kept. */
  async remove(workspaceId: string, id: string): Promise<{ cancelled: number }> {
    await this.record(workspaceId, id)
    const users = (await this.options.usedBy?.(workspaceId, id)) ?? []
    if (users.length > 0)
      throw new SegflowError(
        'in_use',
        `webhook ${id} is called by automation ${users.join(', ')}; change or delete it first`,
        { details: { usedBy: users.map((k) => `automation:${k}`) } },
      )
    return this.store.write(async (tx) => {
      const cancelled = await tx.delivery.cancelDeliveries(
        workspaceId,
        `webhook:${id}`,
        this.clock.now(),
      )
      await tx.delivery.deleteWebhook(workspaceId, id)
      return { cancelled }
    })
  }

  /** Deliveries to an endpoint with their attempts, a page at a time. */
  async deliveries(
    workspaceId: string,
    id: string,
    q: { status?: string; limit: number; cursor: string | null },
  ) {
    await this.record(workspaceId, id)
    const statuses: DeliveryStatus[] = ['pending', 'succeeded', 'failed', 'exhausted', 'cancelled']
    if (q.status !== undefined && !statuses.includes(q.status as DeliveryStatus)) {
      throw new SegflowError('invalid_request', `status must be one of ${statuses.join(', ')}`)
    }
    const rows = await this.store.delivery.listDeliveries(workspaceId, `webhook:${id}`, {
      ...(q.status ? { status: q.status as DeliveryStatus } : {}),
      limit: q.limit + 1,
      after: q.cursor,
    })
    const page = rows.slice(0, q.limit)
    const attempts = await this.store.delivery.attemptsOf(
      workspaceId,
      page.map((d) => d.id),
    )
    return {
      items: page.map((d) => deliveryView(d, attempts)),
      nextCursor: rows.length > q.limit ? page[page.length - 1]!.id : null,
    }
  }

  /**
   * Sends failed and exhausted deliveries again (`{ids}` or all), with the same ids, and makes
   * pending ones waiting for their next retry due now.
   */
  async replay(workspaceId: string, id: string, body: unknown): Promise<{ replayed: number }> {
    await this.record(workspaceId, id)
    let ids: string[] | null = null
    if (isPlainObject(body) && body.ids !== undefined) {
      if (!Array.isArray(body.ids) || body.ids.some((x) => typeof x !== 'string'))
        throw bad('ids must be a list of delivery ids')
      ids = body.ids as string[]
    }
    const replayed = await this.store.write((tx) =>
      tx.delivery.replayDeliveries(workspaceId, `webhook:${id}`, ids, this.clock.now()),
    )
    this.options.kick()
    return { replayed }
  }

  private async record(workspaceId: string, id: string): Promise<WebhookRecord> {
    const w = await this.store.delivery.getWebhook(workspaceId, id)
    if (!w) throw notFound(id)
    return w
  }
}

function deliveryView(d: DeliveryRecord, attempts: readonly AttemptRecord[]) {
  return {
    id: d.id,
    status: d.status,
    attempts: d.attempts,
    nextAttemptAt: d.status === 'pending' ? iso(d.nextAttemptAt) : null,
    lastStatus: d.lastStatus,
    lastError: d.lastError,
    payload: d.payload,
    history: attempts
      .filter((a) => a.deliveryId === d.id)
      .map((a) => ({
        attempt: a.attempt,
        at: iso(a.at),
        status: a.status,
        error: a.error,
        durationMs: a.durationMs,
      })),
  }
}

function notFound(id: string): SegflowError {
  return new SegflowError('not_found', `no webhook ${JSON.stringify(id)} in this workspace`)
}
