import type { Clock } from '../shared/clock.js'
import { SegflowError } from '../shared/errors.js'
import { isPlainObject } from '../shared/json.js'
import type { EmailSendRecord, EmailStatus, Store } from '../store/store.js'
import type { EmailStatusHook, Mailer, SendOutcome } from './email.js'
import { CATEGORIES } from './email.js'

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString())

export interface SendView {
  readonly id: string
  readonly profileId: string
  readonly address: string
  readonly template: string
  readonly automation: string | null
  readonly category: string
  readonly status: EmailSendRecord['status']
  readonly messageId: string
  readonly error: string | null
  readonly createdAt: string
  readonly sentAt: string | null
}

function sendView(s: EmailSendRecord): SendView {
  return {
    id: s.id,
    profileId: s.profileId,
    address: s.address,
    template: s.templateKey,
    automation: s.automationKey,
    category: s.category,
    status: s.status,
    messageId: s.messageId,
    error: s.error,
    createdAt: iso(s.createdAt)!,
    sentAt: iso(s.sentAt),
  }
}

/** The admin side of email: one-off sends, subscription status, the log of sends. */
export class EmailAdmin {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly mailer: Mailer,
    private readonly onEmailStatus?: EmailStatusHook,
  ) {}

  private async profile(workspaceId: string, ref: string): Promise<string> {
    const id = await this.store.resolveProfileId(workspaceId, ref)
    if (id === null)
      throw new SegflowError(
        'profile_not_found',
        `no profile has the id, userId, anonymousId or email ${JSON.stringify(ref)}`,
      )
    return id
  }

  /**
   * `POST /api/templates/:key/send {profile, category?, idempotencyKey?}`: one email now. A
   * skipped send (unsubscribed, capped, no address) is answered with the reason; an SMTP
   * failure is a 502.
   */
  async send(workspaceId: string, template: string, body: unknown): Promise<SendOutcome> {
    if (!isPlainObject(body))
      throw new SegflowError('invalid_body', 'body must be like {"profile": "user-1"}')
    for (const k of Object.keys(body)) {
      if (!['profile', 'category', 'idempotencyKey'].includes(k))
        throw new SegflowError(
          'invalid_body',
          `unknown field ${JSON.stringify(k)}; expected profile, category, idempotencyKey`,
        )
    }
    if (typeof body.profile !== 'string' || body.profile === '')
      throw new SegflowError('invalid_body', 'profile is required: an id, userId or email')
    const category = body.category ?? 'transactional'
    if (typeof category !== 'string' || !CATEGORIES.includes(category))
      throw new SegflowError('invalid_body', `category must be one of ${CATEGORIES.join(', ')}`)
    const key = body.idempotencyKey
    if (key !== undefined && (typeof key !== 'string' || key === '' || key.length > 200))
      throw new SegflowError(
        'invalid_body',
        'idempotencyKey must be text of at most 200 characters',
      )
    if (!(await this.store.messaging.getTemplate(workspaceId, template)))
      throw new SegflowError(
        'not_found',
        `no template ${JSON.stringify(template)} in this workspace`,
      )
    const profileId = await this.profile(workspaceId, body.profile)
    const out = await this.mailer.send({
      workspaceId,
      profileId,
      template,
      category,
      ...(typeof key === 'string' ? { idempotencyKey: `api:${key}` } : {}),
    })
    if (out.status === 'failed')
      throw new SegflowError('send_failed', `the email could not be sent: ${out.error}`, {
        details: { sendId: out.sendId },
      })
    return out
  }

  async status(
    workspaceId: string,
    ref: string,
  ): Promise<{ profileId: string; status: EmailStatus }> {
    const profileId = await this.profile(workspaceId, ref)
    return { profileId, status: await this.store.messaging.emailStatus(workspaceId, profileId) }
  }

  /** `PUT /api/email/status/:id {status: subscribed|unsubscribed, reason?}`. */
  async setStatus(
    workspaceId: string,
    ref: string,
    body: unknown,
  ): Promise<{ profileId: string; status: EmailStatus }> {
    if (!isPlainObject(body) || (body.status !== 'subscribed' && body.status !== 'unsubscribed'))
      throw new SegflowError(
        'invalid_body',
        'body must be {"status": "subscribed"} or {"status": "unsubscribed"}',
      )
    for (const k of Object.keys(body)) {
      if (!['status', 'reason'].includes(k))
        throw new SegflowError(
          'invalid_body',
          `unknown field ${JSON.stringify(k)}; expected status, reason`,
        )
    }
    if (body.reason !== undefined && typeof body.reason !== 'string')
      throw new SegflowError('invalid_body', 'reason must be text')
    const profileId = await this.profile(workspaceId, ref)
    const status = body.status
    await this.store.write(async (tx) => {
      await tx.messaging.setEmailStatus(
        workspaceId,
        profileId,
        status,
        typeof body.reason === 'string' ? body.reason : 'admin API',
        this.clock.now(),
      )
      await this.onEmailStatus?.(tx, workspaceId, profileId)
    })
    return { profileId, status }
  }

  async sends(workspaceId: string, ref: string | null, limit: number): Promise<SendView[]> {
    const profileId = ref === null ? undefined : await this.profile(workspaceId, ref)
    return (
      await this.store.messaging.listSends(workspaceId, {
        ...(profileId ? { profileId } : {}),
        limit,
      })
    ).map(sendView)
  }
}
