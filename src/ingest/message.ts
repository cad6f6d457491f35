import {
  CONSENT_EVENT,
  consentFromContext,
  consentFromEvent,
  GPC_OPT_OUT,
  mergeConsent,
} from '../privacy/index.js'
import type { Message } from '../engine/message.js'
import type { Issue } from '../shared/errors.js'
import { isPlainObject, MAX_JSON_DEPTH, nestingIssue, sanitizeStrings } from '../shared/json.js'
import { parseInstant } from '../shared/time.js'
import type { JsonObject, JsonValue } from '../shared/json.js'
import type { MessageType } from '../store/store.js'

export const MESSAGE_TYPES: readonly MessageType[] = [
  'track',
  'identify',
  'page',
  'screen',
  'group',
  'alias',
]

/** Limits of the Segment HTTP Tracking API, which clients already respect. */
export const LIMITS = {
  messageBytes: 32 * 1024,
  batchBytes: 500 * 1024,
  batchMessages: 2500,
  /** Longest id (userId, anonymousId, messageId, groupId, previousId) accepted. */
  idLength: 1024,
  /** Deepest nesting of objects and arrays in a message (the message itself is level 1). */
  depth: MAX_JSON_DEPTH,
} as const

export interface ParseContext {
  readonly workspaceId: string
  /** When segflow received the request; ms since epoch. */
  readonly receivedAt: number
  /** The type implied by the endpoint (`/v1/track`); batch messages carry their own. */
  readonly type?: MessageType
  /** `sentAt` of the enclosing batch, for skew correction of messages that lack their own. */
  readonly batchSentAt?: number | null
  /** `context` and `integrations` of the enclosing batch, merged under each message's own. */
  readonly batchContext?: JsonObject | null
  readonly batchIntegrations?: JsonObject | null
  /** Makes a messageId for messages that arrive without one. */
  readonly newMessageId: () => string
  /** Check every string (see SUSPECT_ESCAPES); only needed when the raw text matched it. */
  readonly sanitize?: boolean
  /** The request carried `Sec-GPC: 1`: each message records an opt-out of sale/sharing. */
  readonly gpc?: boolean
}

/**
 * JSON escapes that can make text PostgreSQL cannot store: NUL (`\u0000`) and surrogate
 * halves (`\ud800`–`\udfff`). Raw UTF-8 can carry neither, so a body without these escapes
 * needs no check; one with them gets `sanitize`.
 */
export const SUSPECT_ESCAPES = /\\u(?:0000|d[89a-f])/i

export type ParseResult = { ok: true; message: Message } | { ok: false; issues: Issue[] }

// Fields that become columns or are derived; everything else stays in the payload verbatim.
const EXTRACTED = new Set([
  'type',
  'messageId',
  'userId',
  'anonymousId',
  'event',
  'properties',
  'timestamp',
  'receivedAt',
  'writeKey',
])

/**
 * Segment's skew correction: the client's clock may be wrong, but the gap between the
 * event and the send is right, so `timestamp = receivedAt - (sentAt - timestamp)`. A time
 * still in the future (no sentAt, clock ahead) is clamped to the receive time.
 */
export function correctTimestamp(
  timestamp: number | null,
  sentAt: number | null,
  receivedAt: number,
): number {
  if (timestamp === null) return receivedAt
  const corrected = sentAt === null ? timestamp : receivedAt - (sentAt - timestamp)
  return Math.min(corrected, receivedAt)
}

/**
 * Validates one Segment message and normalises it. Every problem is reported, each with the
 * field it concerns, rather than only the first.
 * @example
 * parseMessage({ userId: 'u1', event: 'Signed Up' }, { type: 'track', workspaceId, receivedAt, newMessageId })
 */
export function parseMessage(input: unknown, ctx: ParseContext): ParseResult {
  // Before anything walks it recursively: a hostile depth is this message's problem alone.
  const tooDeep = nestingIssue(input, '', LIMITS.depth)
  if (tooDeep) return { ok: false, issues: [tooDeep] }
  const issues: Issue[] = []
  const raw = ctx.sanitize ? sanitizeStrings(input, '', issues) : input
  if (!isPlainObject(raw)) {
    return { ok: false, issues: [{ path: '', message: 'a message must be a JSON object' }] }
  }
  const type = messageType(raw, ctx, issues)
  const id = (field: string) => optionalId(raw, field, issues)
  const userId = id('userId')
  const anonymousId = id('anonymousId')
  const messageId = id('messageId')
  const obj = (field: string) => optionalObject(raw, field, issues)
  const properties = obj('properties')
  const traitsField = obj('traits')
  const context = obj('context')
  const integrations = obj('integrations')

  let name: string | null = null
  let groupId: string | null = null
  let previousId: string | null = null
  if (type === 'track') {
    name = requiredString(raw, 'event', 'track', issues)
  } else if (type === 'page' || type === 'screen') {
    name = optionalString(raw, 'name', issues)
  } else if (type === 'group') {
    groupId = id('groupId')
    if (groupId === null && !issues.some((i) => i.path === 'groupId')) {
      issues.push({ path: 'groupId', message: 'groupId is required for group' })
    }
  } else if (type === 'alias') {
    previousId = id('previousId')
    if (previousId === null && !issues.some((i) => i.path === 'previousId')) {
      issues.push({ path: 'previousId', message: 'previousId is required for alias' })
    }
    if (userId === null && !issues.some((i) => i.path === 'userId')) {
      issues.push({ path: 'userId', message: 'userId is required for alias' })
    }
  }
  if (type !== 'alias' && userId === null && anonymousId === null) {
    if (!issues.some((i) => i.path === 'userId' || i.path === 'anonymousId')) {
      issues.push({ path: 'userId', message: 'userId or anonymousId is required' })
    }
  }

  const timestamp =
    optionalInstant(raw, 'timestamp', issues) ?? optionalInstant(raw, 'originalTimestamp', issues)
  const sentAt = optionalInstant(raw, 'sentAt', issues) ?? ctx.batchSentAt ?? null

  const eventConsent =
    type === 'track' && name === CONSENT_EVENT ? consentFromEvent(properties, issues) : []

  if (issues.length > 0 || type === null) return { ok: false, issues }

  // RudderStack SDKs send identify traits in context.traits; Segment's in traits.
  let traits: JsonObject | null = traitsField
  if (type === 'identify' && isPlainObject(context?.traits)) {
    traits = { ...(context.traits as JsonObject), ...(traitsField ?? {}) }
  } else if (type !== 'identify' && type !== 'group') {
    traits = null
  }

  const payload: JsonObject = {}
  for (const [k, v] of Object.entries(raw)) {
    if (EXTRACTED.has(k)) continue
    if (k === 'traits' && (type === 'identify' || type === 'group')) continue
    if (k === 'name' && (type === 'page' || type === 'screen')) continue
    if (k === 'context' || k === 'integrations') continue
    payload[k] = v as JsonValue
  }
  const mergedContext = ctx.batchContext ? { ...ctx.batchContext, ...(context ?? {}) } : context
  const mergedIntegrations = ctx.batchIntegrations
    ? { ...ctx.batchIntegrations, ...(integrations ?? {}) }
    : integrations
  if (mergedContext) payload.context = mergedContext
  if (mergedIntegrations) payload.integrations = mergedIntegrations
  const consent = mergeConsent(
    consentFromContext(mergedContext),
    eventConsent,
    ctx.gpc ? [GPC_OPT_OUT] : [],
  )
  if (
    timestamp !== null &&
    payload.originalTimestamp === undefined &&
    typeof raw.timestamp === 'string'
  ) {
    payload.originalTimestamp = raw.timestamp
  }

  return {
    ok: true,
    message: {
      workspaceId: ctx.workspaceId,
      type,
      messageId: messageId ?? ctx.newMessageId(),
      userId,
      anonymousId,
      name,
      properties:
        type === 'track' || type === 'page' || type === 'screen' ? (properties ?? {}) : properties,
      traits,
      groupId,
      previousId,
      timestamp: correctTimestamp(timestamp, sentAt, ctx.receivedAt),
      receivedAt: ctx.receivedAt,
      payload,
      ...(consent.length > 0 ? { consent } : {}),
    },
  }
}

function messageType(
  raw: Record<string, unknown>,
  ctx: ParseContext,
  issues: Issue[],
): MessageType | null {
  if (ctx.type) return ctx.type
  const t = raw.type
  if (t === undefined || t === null) {
    issues.push({ path: 'type', message: `type is required: one of ${MESSAGE_TYPES.join(', ')}` })
    return null
  }
  if (typeof t !== 'string' || !(MESSAGE_TYPES as readonly string[]).includes(t)) {
    issues.push({
      path: 'type',
      message: `type ${JSON.stringify(t)} is not one of ${MESSAGE_TYPES.join(', ')}`,
    })
    return null
  }
  return t as MessageType
}

/** An id field: a non-empty string or a finite number (made a string); absent → null. */
function optionalId(raw: Record<string, unknown>, field: string, issues: Issue[]): string | null {
  const v = raw[field]
  if (v === undefined || v === null || v === '') return null
  let s: string
  if (typeof v === 'string') s = v
  else if (typeof v === 'number' && Number.isFinite(v)) s = String(v)
  else {
    issues.push({ path: field, message: `${field} must be a string, not ${describe(v)}` })
    return null
  }
  if (s.length > LIMITS.idLength) {
    issues.push({
      path: field,
      message: `${field} is ${s.length} characters; at most ${LIMITS.idLength}`,
    })
    return null
  }
  return s
}

function optionalObject(
  raw: Record<string, unknown>,
  field: string,
  issues: Issue[],
): JsonObject | null {
  const v = raw[field]
  if (v === undefined || v === null) return null
  if (!isPlainObject(v)) {
    issues.push({ path: field, message: `${field} must be an object, not ${describe(v)}` })
    return null
  }
  return v as JsonObject
}

function optionalString(
  raw: Record<string, unknown>,
  field: string,
  issues: Issue[],
): string | null {
  const v = raw[field]
  if (v === undefined || v === null) return null
  if (typeof v !== 'string') {
    issues.push({ path: field, message: `${field} must be a string, not ${describe(v)}` })
    return null
  }
  return v
}

function requiredString(
  raw: Record<string, unknown>,
  field: string,
  type: string,
  issues: Issue[],
): string | null {
  const v = raw[field]
  if (v === undefined || v === null || v === '') {
    issues.push({ path: field, message: `${field} is required for ${type}` })
    return null
  }
  return optionalString(raw, field, issues)
}

function optionalInstant(
  raw: Record<string, unknown>,
  field: string,
  issues: Issue[],
): number | null {
  const v = raw[field]
  if (v === undefined || v === null) return null
  const t = parseInstant(v)
  if (t === null) {
    issues.push({
      path: field,
      message: `${field} ${JSON.stringify(v)} is not an ISO-8601 date-time`,
    })
  }
  return t
}

function describe(v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'an array'
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`
}
