import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import nodemailer from 'nodemailer'
import type { Transporter } from 'nodemailer'
import { templateContext } from '../content/context.js'
import { consentRefusal } from '../privacy/index.js'
import type { TemplateService } from '../content/templates.js'
import type { Insight } from '../engine/insights.js'
import type { Message } from '../engine/message.js'
import type { WriteOutcome } from '../engine/writer.js'
import type { Clock } from '../shared/clock.js'
import { SegflowError } from '../shared/errors.js'
import { newId } from '../shared/ids.js'
import { formatDuration } from '../shared/time.js'
import type { EmailSendRecord, Store, WriteTx } from '../store/store.js'
import { recipientOf } from './address.js'

export interface MailerOptions {
  /** SEGFLOW_SMTP_URL; without it every send fails with a clear error. */
  readonly smtpUrl: string | null
  /** From address of workspaces that set none. */
  readonly defaultFrom: string
  /** Where recipients reach segflow (links in emails). */
  readonly publicUrl: string
  /** Segment priorities of a workspace, for `recipient.segment`. */
  readonly priorities: (workspaceId: string) => ReadonlyMap<string, number>
  /** Scores, computed fields and lifecycle stage of a person, for the template. */
  readonly insight?: (workspaceId: string, profileId: string) => Promise<Insight | null>
  /** Commits messages (Email Opened / Clicked events) as ingestion does. */
  readonly submit: (messages: readonly Message[]) => Promise<WriteOutcome[]>
  /** Called in the transaction that changed a person's email status (a bounce, an unsubscribe). */
  readonly onEmailStatus?: EmailStatusHook
}

/**
 * Told, inside the transaction, that a person's email status changed: the segment engine
 * re-evaluates the segments that read it, so the person leaves or enters at once.
 */
export type EmailStatusHook = (tx: WriteTx, workspaceId: string, profileId: string) => Promise<void>

export type SendOutcome =
  | { readonly status: 'sent'; readonly sendId: string; readonly messageId: string }
  | { readonly status: 'skipped'; readonly reason: string }
  | {
      readonly status: 'failed'
      readonly sendId: string
      readonly error: string
      /** Trying again cannot help: the template is missing or does not render, or a hard bounce. */
      readonly permanent: boolean
    }

export interface SendRequest {
  readonly workspaceId: string
  readonly profileId: string
  readonly template: string
  /** `marketing` (subscription, consent and frequency caps apply) or `transactional`. */
  readonly category: string
  /** Makes the send idempotent: the same key never sends twice once recorded as sent. */
  readonly idempotencyKey?: string
  readonly automationKey?: string
  readonly transitionId?: string
}

type LinkKind = 'o' | 'c' | 'u'

export const CATEGORIES = ['marketing', 'transactional']

/**
 * Email: renders a template for a person, sends it over SMTP with one-click unsubscribe
 * headers, tracks opens (a pixel) and clicks (signed redirects), and turns them into
 * `Email Opened` / `Email Clicked` events for that person.
 */
export class Mailer {
  private transport: Transporter | null = null
  private secret: Buffer | null = null

  constructor(
    private readonly store: Store,
    private readonly templates: TemplateService,
    private readonly clock: Clock,
    private readonly options: MailerOptions,
  ) {
    if (options.smtpUrl) this.transport = nodemailer.createTransport(options.smtpUrl)
  }

  close(): void {
    this.transport?.close()
  }

  private async key(): Promise<Buffer> {
    this.secret ??= Buffer.from(
      await this.store.write((tx) =>
        tx.messaging.instanceSecret('link-signing', () => randomBytes(32).toString('base64')),
      ),
      'base64',
    )
    return this.secret
  }

  /** A signed token for a link: what it is for, which send, and (for clicks) which URL. */
  async token(kind: LinkKind, workspaceId: string, sendId: string, url = ''): Promise<string> {
    const body = Buffer.from(JSON.stringify([kind, workspaceId, sendId])).toString('base64url')
    const mac = createHmac('sha256', await this.key())
      .update(`${body}.${url}`)
      .digest('base64url')
      .slice(0, 32)
    return `${body}.${mac}`
  }

  /** The send a token was made for, or null when it is forged, altered or of another kind. */
  async verify(
    kind: LinkKind,
    token: string,
    url = '',
  ): Promise<{ workspaceId: string; sendId: string } | null> {
    const [body, mac] = token.split('.')
    if (!body || !mac) return null
    const expected = createHmac('sha256', await this.key())
      .update(`${body}.${url}`)
      .digest('base64url')
      .slice(0, 32)
    if (mac.length !== expected.length || !timingSafeEqual(Buffer.from(mac), Buffer.from(expected)))
      return null
    try {
      const [k, workspaceId, sendId] = JSON.parse(Buffer.from(body, 'base64url').toString()) as [
        string,
        string,
        string,
      ]
      return k === kind ? { workspaceId, sendId } : null
    } catch {
      return null
    }
  }

  /**
   * Sends one email to one person, unless they cannot or should not get it: no address,
   * unsubscribed or bounced (marketing), or over a frequency cap. With an idempotency key, a
   * send already recorded as sent is not repeated.
   */
  async send(r: SendRequest): Promise<SendOutcome> {
    if (!CATEGORIES.includes(r.category))
      throw new SegflowError('invalid_request', `category must be one of ${CATEGORIES.join(', ')}`)
    const now = this.clock.now()
    const sendId = r.idempotencyKey
      ? `eml_${createHash('sha256').update(`${r.workspaceId}\u0000${r.idempotencyKey}`).digest('base64url').slice(0, 24)}`
      : newId('eml', now)
    const prepared = await this.store.write(async (tx) => {
      const previous = await tx.messaging.getSend(r.workspaceId, sendId)
      if (previous?.status === 'sent') return { skip: 'already sent' } as const
      const [profile] = await tx.loadProfiles(r.workspaceId, [r.profileId])
      if (!profile || profile.mergedInto !== null) return { skip: 'no such profile' } as const
      const identities = await tx.delivery.identitiesOf(r.workspaceId, [r.profileId])
      const recipient = recipientOf(profile, identities)
      if (!recipient) return { skip: 'no email address' } as const
      // A value like "a@x.example, b@y.example" would be several envelope recipients, past
      // caps and consent: it is not an address, and nothing is sent.
      if ('problem' in recipient)
        return {
          skip: `invalid_email: the email address ${recipient.problem}; a recipient is one plain address`,
        } as const
      const address = recipient.address
      const settings = await tx.messaging.getEmailSettings(r.workspaceId)
      if (r.category === 'marketing') {
        const status = await tx.messaging.emailStatus(r.workspaceId, r.profileId)
        if (status !== 'subscribed') return { skip: `the person is ${status}` } as const
        const refusal = consentRefusal(
          await tx.messaging.consents(r.workspaceId, r.profileId),
          settings?.consent?.mode ?? 'opt_in',
        )
        if (refusal) return { skip: refusal } as const
        for (const cap of settings?.caps ?? []) {
          if (cap.category !== r.category || previous) continue
          const n = await tx.messaging.countSends(
            r.workspaceId,
            r.profileId,
            cap.category,
            now - cap.within,
          )
          if (n >= cap.max)
            return {
              skip: `frequency cap: at most ${cap.max} ${cap.category} emails per ${formatDuration(cap.within)}`,
            } as const
        }
      }
      const memberships = (await tx.loadMemberships(r.workspaceId, [r.profileId])).map(
        (m) => m.segmentKey,
      )
      const from = settings?.fromAddress ?? this.options.defaultFrom
      const record: EmailSendRecord = previous ?? {
        workspaceId: r.workspaceId,
        id: sendId,
        profileId: r.profileId,
        address,
        templateKey: r.template,
        automationKey: r.automationKey ?? null,
        transitionId: r.transitionId ?? null,
        category: r.category,
        status: 'sending',
        messageId: `<${sendId}@segflow>`,
        error: null,
        createdAt: now,
        sentAt: null,
      }
      if (!previous) await tx.messaging.insertSend(record)
      return { record, profile, memberships, from } as const
    })
    if ('skip' in prepared) return { status: 'skipped', reason: prepared.skip ?? 'skipped' }
    const { record, profile, memberships, from } = prepared
    const base = this.options.publicUrl
    const unsubscribe = `${base}/e/u/${await this.token('u', r.workspaceId, sendId)}`
    let failure: string | null = null
    let bounced = false
    let permanent = false
    try {
      if (!this.transport) throw new Error('no SMTP server: set SEGFLOW_SMTP_URL')
      const { template } = await this.templates.load(r.workspaceId, r.template)
      const context = templateContext(
        profile,
        memberships,
        this.options.priorities(r.workspaceId),
        {
          now,
          unsubscribeUrl: unsubscribe,
          email: record.address,
          insight: (await this.options.insight?.(r.workspaceId, profile.id)) ?? null,
        },
      )
      const out = await this.templates.render(template, context)
      const html = await this.track(out.html, r.workspaceId, sendId)
      await this.transport.sendMail({
        from,
        to: record.address,
        // The envelope is given, not derived from the headers, so it is always this one
        // recipient whatever the headers hold.
        envelope: { from, to: [record.address] },
        subject: out.subject,
        html,
        ...(out.text === null ? {} : { text: out.text }),
        messageId: record.messageId,
        date: new Date(now),
        headers: {
          'List-Unsubscribe': `<${unsubscribe}>`,
          'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
        },
      })
    } catch (e) {
      const err = e as Error & { responseCode?: number }
      failure = err.message
      permanent = e instanceof SegflowError // A permanent refusal of the recipient (5xx) is a hard bounce: no more marketing email.
      bounced =
        typeof err.responseCode === 'number' && err.responseCode >= 500 && err.responseCode < 600
    }
    const at = this.clock.now()
    await this.store.write(async (tx) => {
      await tx.messaging.updateSend({
        ...record,
        status: failure ? 'failed' : 'sent',
        error: failure,
        sentAt: failure ? null : at,
      })
      if (bounced) {
        await tx.messaging.setEmailStatus(r.workspaceId, r.profileId, 'bounced', failure, at)
        await this.options.onEmailStatus?.(tx, r.workspaceId, r.profileId)
      }
    })
    return failure
      ? { status: 'failed', sendId, error: failure, permanent: permanent || bounced }
      : { status: 'sent', sendId, messageId: record.messageId }
  }

  /** Links through the click redirect, and an open pixel at the end of the body. */
  private async track(html: string, workspaceId: string, sendId: string): Promise<string> {
    const base = this.options.publicUrl
    const links: string[] = []
    for (const m of html.matchAll(/(<a\b[^>]*?\bhref\s*=\s*)(["'])(https?:\/\/[^"']+)\2/gi))
      links.push(m[3]!)
    const tokens = new Map<string, string>()
    for (const url of new Set(links)) {
      // segflow's own links (unsubscribe) are not wrapped: they must work as they are.
      if (url.startsWith(`${base}/e/`)) continue
      const decoded = url.replaceAll('&amp;', '&')
      tokens.set(
        url,
        `${base}/e/c/${await this.token('c', workspaceId, sendId, decoded)}?u=${encodeURIComponent(decoded)}`,
      )
    }
    const rewritten = html.replace(
      /(<a\b[^>]*?\bhref\s*=\s*)(["'])(https?:\/\/[^"']+)\2/gi,
      (all, head: string, q: string, url: string) =>
        tokens.has(url) ? `${head}${q}${tokens.get(url)!.replaceAll('&', '&amp;')}${q}` : all,
    )
    const pixel = `<img src="${base}/e/o/${await this.token('o', workspaceId, sendId)}.gif" width="1" height="1" alt="" style="display:none">`
    return /<\/body>/i.test(rewritten)
      ? rewritten.replace(/<\/body>/i, `${pixel}</body>`)
      : `${rewritten}${pixel}`
  }

  /** An open or a click: an `Email Opened` / `Email Clicked` event for the person. */
  async recordEngagement(
    kind: 'o' | 'c',
    workspaceId: string,
    sendId: string,
    url?: string,
  ): Promise<boolean> {
    const send = await this.store.write((tx) => tx.messaging.getSend(workspaceId, sendId))
    if (!send) return false
    const now = this.clock.now()
    await this.options.submit([
      {
        workspaceId,
        type: 'track',
        messageId: newId(kind === 'o' ? 'open' : 'click', now),
        userId: null,
        anonymousId: null,
        name: kind === 'o' ? 'Email Opened' : 'Email Clicked',
        properties: {
          email_id: send.id,
          template: send.templateKey,
          ...(send.automationKey ? { automation: send.automationKey } : {}),
          ...(url ? { url } : {}),
        },
        traits: null,
        groupId: null,
        previousId: null,
        timestamp: now,
        receivedAt: now,
        payload: { context: { library: { name: 'segflow-email' } } },
        target: { profileId: send.profileId },
      },
    ])
    return true
  }

  /** One-click (or confirmed) unsubscribe: no more marketing email to this person. */
  async unsubscribe(workspaceId: string, sendId: string): Promise<boolean> {
    return this.store.write(async (tx) => {
      const send = await tx.messaging.getSend(workspaceId, sendId)
      if (!send) return false
      await tx.messaging.setEmailStatus(
        workspaceId,
        send.profileId,
        'unsubscribed',
        'unsubscribe link',
        this.clock.now(),
      )
      await this.options.onEmailStatus?.(tx, workspaceId, send.profileId)
      return true
    })
  }
}
