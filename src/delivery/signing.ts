import { randomBytes } from 'node:crypto'
import { Webhook } from 'standardwebhooks'
import type { WebhookSecret } from '../store/store.js'

/** A new Standard Webhooks secret: `whsec_` and 24 random bytes in base64. */
export function newSecret(): string {
  return `whsec_${randomBytes(24).toString('base64')}`
}

/** Whether a string is a secret the Standard Webhooks libraries accept. */
export function isSecret(s: string): boolean {
  const m = /^whsec_([A-Za-z0-9+/]+={0,2})$/.exec(s)
  return m !== null && Buffer.from(m[1]!, 'base64').length >= 16
}

/**
 * The Standard Webhooks headers for one attempt. Every secret still valid at `now` signs
 * (space-separated signatures), so that during a rotation receivers holding either the old or
 * the new secret can verify.
 */
export function signatureHeaders(
  secrets: readonly WebhookSecret[],
  id: string,
  now: number,
  body: string,
): Record<'webhook-id' | 'webhook-timestamp' | 'webhook-signature', string> {
  const at = new Date(Math.floor(now / 1000) * 1000)
  const signatures = secrets
    .filter((s) => s.expiresAt === null || s.expiresAt > now)
    .map((s) => new Webhook(s.secret).sign(id, at, body))
  return {
    'webhook-id': id,
    'webhook-timestamp': String(Math.floor(now / 1000)),
    'webhook-signature': signatures.join(' '),
  }
}
