import type { ConsentMode } from '../privacy/index.js'
import type { Clock } from '../shared/clock.js'
import { SegflowError } from '../shared/errors.js'
import { isPlainObject } from '../shared/json.js'
import { formatDuration, parseDuration } from '../shared/time.js'
import type { EmailCap, EmailSettingsRecord, Store } from '../store/store.js'

export interface EmailSettingsView {
  readonly from: string
  readonly caps: readonly { category: string; max: number; within: string }[]
  /** Whom marketing email reaches: opt_in (granted consent only) or opt_out (not refused). */
  readonly consent: { mode: ConsentMode }
  readonly updatedAt: string | null
}

/** `Name <address>` or a bare address: one @, no spaces or angle brackets in the address. */
const ADDRESS = /^[^\s<>@]+@[^\s<>@]+$/
const FROM = /^(?:[^<>\r\n]*<([^<>\s]+)>|([^<>\s]+))$/

const CATEGORIES = ['marketing', 'transactional']

function invalid(message: string): SegflowError {
  return new SegflowError('invalid_body', message)
}

/** Parses `PUT /api/email/settings`, naming the first field that is wrong. */
export function parseEmailSettings(
  body: unknown,
): Pick<EmailSettingsRecord, 'fromAddress' | 'caps' | 'consent'> {
  if (!isPlainObject(body))
    throw invalid('body must be a JSON object like {"from": "News <news@example.com>"}')
  for (const k of Object.keys(body)) {
    if (!['from', 'caps', 'consent'].includes(k))
      throw invalid(`unknown field ${JSON.stringify(k)}; expected from, caps, consent`)
  }
  const from = body.from
  const m = typeof from === 'string' ? FROM.exec(from.trim()) : null
  const address = m ? (m[1] ?? m[2]!) : null
  if (typeof from !== 'string' || !address || !ADDRESS.test(address))
    throw invalid('from must be an email address, like "News <news@example.com>"')
  const capsIn = body.caps ?? []
  if (!Array.isArray(capsIn))
    throw invalid('caps must be a list like [{"category": "marketing", "max": 3, "within": "7d"}]')
  const caps: EmailCap[] = capsIn.map((c, i) => {
    if (!isPlainObject(c)) throw invalid(`caps[${i}] must be an object`)
    for (const k of Object.keys(c)) {
      if (!['category', 'max', 'within'].includes(k))
        throw invalid(
          `caps[${i}]: unknown field ${JSON.stringify(k)}; expected category, max, within`,
        )
    }
    if (typeof c.category !== 'string' || !CATEGORIES.includes(c.category))
      throw invalid(`caps[${i}].category must be one of ${CATEGORIES.join(', ')}`)
    if (typeof c.max !== 'number' || !Number.isInteger(c.max) || c.max < 0)
      throw invalid(`caps[${i}].max must be a whole number ≥ 0`)
    const within = typeof c.within === 'string' ? parseDuration(c.within) : null
    if (within === null || within <= 0)
      throw invalid(`caps[${i}].within must be a duration like "7d" or "12h"`)
    return { category: c.category, max: c.max, within }
  })
  let consent: EmailSettingsRecord['consent'] = null
  if (body.consent !== undefined && body.consent !== null) {
    const c = body.consent
    if (isPlainObject(c) && 'trait' in c)
      throw invalid(
        'consent.trait is no longer used: consent is recorded per person (PUT /api/profiles/:id/consent, a "Consent Updated" event, or context.consent); set {"mode": "opt_in"} or {"mode": "opt_out"}',
      )
    if (!isPlainObject(c) || (c.mode !== 'opt_in' && c.mode !== 'opt_out'))
      throw invalid('consent must be {"mode": "opt_in"} or {"mode": "opt_out"}')
    for (const k of Object.keys(c)) {
      if (k !== 'mode') throw invalid(`consent: unknown field ${JSON.stringify(k)}; expected mode`)
    }
    consent = { mode: c.mode }
  }
  return { fromAddress: from.trim(), caps, consent }
}

/** The From address, frequency caps and consent rule of a workspace's email. */
export class EmailSettingsService {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly defaultFrom: string,
    /** Called after a change of consent mode is committed. */
    private readonly onConsentMode?: (workspaceId: string) => Promise<void>,
  ) {}

  async get(workspaceId: string): Promise<EmailSettingsView> {
    const row = await this.store.messaging.getEmailSettings(workspaceId)
    return this.view(row)
  }

  async put(workspaceId: string, body: unknown): Promise<EmailSettingsView> {
    const parsed = parseEmailSettings(body)
    const row: EmailSettingsRecord = { workspaceId, ...parsed, updatedAt: this.clock.now() }
    const before = await this.store.write(async (tx) => {
      const held = await tx.messaging.getEmailSettings(workspaceId)
      await tx.messaging.upsertEmailSettings(row)
      return held
    })
    const mode = (r: EmailSettingsRecord | null) => r?.consent?.mode ?? 'opt_in'
    if (mode(before) !== mode(row)) await this.onConsentMode?.(workspaceId)
    return this.view(row)
  }

  private view(row: EmailSettingsRecord | null): EmailSettingsView {
    return {
      from: row?.fromAddress ?? this.defaultFrom,
      caps: (row?.caps ?? []).map((c) => ({
        category: c.category,
        max: c.max,
        within: formatDuration(c.within),
      })),
      consent: row?.consent ?? { mode: 'opt_in' },
      updatedAt: row ? new Date(row.updatedAt).toISOString() : null,
    }
  }
}
