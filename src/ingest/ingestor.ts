import type { Message } from '../engine/message.js'
import type { WriteOutcome } from '../engine/writer.js'
import type { Clock } from '../shared/clock.js'
import { issuesError, SegflowError } from '../shared/errors.js'
import type { Issue } from '../shared/errors.js'
import { newId } from '../shared/ids.js'
import { isPlainObject, nestingIssue, sanitizeStrings } from '../shared/json.js'
import type { JsonObject } from '../shared/json.js'
import type { Metrics } from '../shared/metrics.js'
import type { MessageType } from '../store/store.js'
import type { GroupCommit } from './group-commit.js'
import { LIMITS, parseMessage } from './message.js'
import { parseInstant } from '../shared/time.js'
import { schemaRefusal } from '../privacy/schema-service.js'
import type { SchemaService } from '../privacy/schema-service.js'

/** One problem with one message of a batch. */
export interface Rejection {
  readonly index: number
  readonly field: string
  readonly reason: string
}

export interface IngestResult {
  /** Messages newly stored. */
  readonly accepted: number
  /** Messages whose messageId was already stored (not stored again; not an error). */
  readonly duplicates: number
  /** Messages of erased people, dropped (they came back with no fresh consent). */
  readonly suppressed: number
  readonly rejected: readonly Rejection[]
  /** Per accepted or duplicate message, in input order (rejected ones are absent). */
  readonly outcomes: readonly WriteOutcome[]
}

/** What the transport knows about a request body. */
export interface BodyInfo {
  /** Decoded size in bytes; lets small batches skip sizing each message. */
  readonly bytes: number
  /** The raw text has escapes that need `sanitizeStrings` (SUSPECT_ESCAPES). */
  readonly suspect: boolean
  /** The request carried `Sec-GPC: 1` (Global Privacy Control). */
  readonly gpc?: boolean
}

/**
 * Validates Segment messages and hands the good ones to group commit. Shared by the
 * tracking API and by `segflow import`; answers only once the messages are durable.
 */
export class Ingestor {
  constructor(
    private readonly queue: GroupCommit,
    private readonly clock: Clock,
    private readonly metrics?: Metrics,
    /** Each workspace's data schema (data minimisation); none: everything is kept. */
    private readonly schemas?: SchemaService,
  ) {}

  /**
   * A parsed message as the workspace's data schema lets it in: fields outside it dropped
   * (mode drop) or the issues that refuse it (mode reject).
   */
  admit(m: Message): { ok: true; message: Message } | { ok: false; issues: Issue[] } {
    if (!this.schemas) return { ok: true, message: m }
    const r = this.schemas.apply(m)
    return r.issues.length > 0 ? { ok: false, issues: r.issues } : { ok: true, message: r.message }
  }

  /** One message from `/v1/track` and friends. Throws `invalid_message` naming every problem. */
  async single(
    workspaceId: string,
    type: MessageType,
    body: unknown,
    info?: BodyInfo,
  ): Promise<IngestResult> {
    const receivedAt = this.clock.now()
    const r = parseMessage(body, {
      workspaceId,
      type,
      receivedAt,
      newMessageId: () => newId('msg', receivedAt),
      // Without the raw text (a caller other than HTTP) every string is checked.
      sanitize: info?.suspect ?? true,
      gpc: info?.gpc === true,
    })
    if (!r.ok) {
      throw issuesError(
        'invalid_message',
        `${type} message is not valid: ${summarise(r.issues)}`,
        r.issues,
      )
    }
    const admitted = this.admit(r.message)
    if (!admitted.ok) throw schemaRefusal(admitted.issues)
    return this.commit([admitted.message], [])
  }

  /**
   * A `/v1/batch` body. Good messages are stored even when others are bad; the bad ones are
   * reported by index.
   */
  async batch(workspaceId: string, body: unknown, info: BodyInfo): Promise<IngestResult> {
    if (!isPlainObject(body))
      throw new SegflowError('invalid_body', 'request body must be a JSON object')
    const batch = body.batch
    if (!Array.isArray(batch))
      throw new SegflowError('invalid_body', 'batch must be an array of messages')
    if (batch.length === 0)
      throw new SegflowError('invalid_body', 'batch is empty; send at least one message')
    if (batch.length > LIMITS.batchMessages) {
      throw new SegflowError(
        'batch_too_large',
        `batch holds ${batch.length} messages; at most ${LIMITS.batchMessages} are allowed per request`,
      )
    }
    const receivedAt = this.clock.now()
    const issues: Issue[] = []
    const batchSentAt = body.sentAt === undefined ? null : parseInstant(body.sentAt)
    if (body.sentAt !== undefined && body.sentAt !== null && batchSentAt === null) {
      issues.push({
        path: 'sentAt',
        message: `sentAt ${JSON.stringify(body.sentAt)} is not an ISO-8601 date-time`,
      })
    }
    const shared: Record<'context' | 'integrations', JsonObject | null> = {
      context: null,
      integrations: null,
    }
    for (const field of ['context', 'integrations'] as const) {
      // Merged one level under each message's own `context` / `integrations`.
      const tooDeep = nestingIssue(body[field], field, LIMITS.depth - 1)
      if (tooDeep) {
        issues.push(tooDeep)
        continue
      }
      const v = info.suspect ? sanitizeStrings(body[field], field, issues) : body[field]
      if (v === undefined || v === null) continue
      if (isPlainObject(v)) shared[field] = v as JsonObject
      else issues.push({ path: field, message: `${field} must be an object` })
    }
    if (issues.length > 0) {
      throw issuesError('invalid_body', `batch is not valid: ${summarise(issues)}`, issues)
    }
    const ctx = {
      workspaceId,
      receivedAt,
      batchSentAt,
      batchContext: shared.context,
      batchIntegrations: shared.integrations,
      newMessageId: () => newId('msg', receivedAt),
      sanitize: info.suspect,
      gpc: info.gpc === true,
    }
    const messages: Message[] = []
    const rejected: Rejection[] = []
    const checkSize = info.bytes > LIMITS.messageBytes
    batch.forEach((raw: unknown, index) => {
      // Measured before the size, whose JSON.stringify would overflow the stack on it.
      const tooDeep = nestingIssue(raw, '', LIMITS.depth)
      if (tooDeep) {
        rejected.push({ index, field: tooDeep.path, reason: tooDeep.message })
        return
      }
      if (checkSize) {
        const size = Buffer.byteLength(JSON.stringify(raw) ?? '')
        if (size > LIMITS.messageBytes) {
          rejected.push({
            index,
            field: '',
            reason: `message is ${size} bytes; at most ${LIMITS.messageBytes} bytes (32 KB)`,
          })
          return
        }
      }
      const r = parseMessage(raw, ctx)
      const admitted = r.ok ? this.admit(r.message) : r
      if (admitted.ok) messages.push(admitted.message)
      else
        for (const i of admitted.issues) rejected.push({ index, field: i.path, reason: i.message })
    })
    const badMessages = new Set(rejected.map((r) => r.index)).size
    if (messages.length === 0) {
      throw new SegflowError(
        'invalid_message',
        `no message in the batch is valid (${badMessages} rejected)`,
        {
          details: { rejected },
        },
      )
    }
    // Only the bad messages of a batch that is otherwise stored are counted here; a request
    // refused as a whole is counted where the error is answered.
    if (badMessages > 0) this.metrics?.rejected.inc({ reason: 'invalid_message' }, badMessages)
    return this.commit(messages, rejected)
  }

  /** Already-validated messages (import, the profile API): commit and count. */
  async commit(
    messages: readonly Message[],
    rejected: readonly Rejection[],
  ): Promise<IngestResult> {
    const outcomes = await this.queue.submit(messages)
    let accepted = 0
    let suppressed = 0
    outcomes.forEach((o, i) => {
      if (o.status === 'stored') {
        accepted++
        this.metrics?.ingested.inc({ type: messages[i]!.type })
      } else if (o.status === 'suppressed') suppressed++
    })
    const duplicates = outcomes.length - accepted - suppressed
    if (duplicates > 0) this.metrics?.duplicates.inc(duplicates)
    if (suppressed > 0) this.metrics?.suppressed.inc(suppressed)
    return { accepted, duplicates, suppressed, rejected, outcomes }
  }
}

function summarise(issues: readonly Issue[]): string {
  return issues.map((i) => i.message).join('; ')
}
