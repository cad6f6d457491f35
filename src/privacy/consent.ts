import { closestName } from '../shared/suggest.js'
import type { Issue } from '../shared/errors.js'
import { isPlainObject } from '../shared/json.js'
import type { JsonObject, JsonValue } from '../shared/json.js'

/** What a person can consent to, each on its own. */
export const PURPOSES = ['email_marketing', 'analytics', 'personalization', 'sale_sharing'] as const
export type Purpose = (typeof PURPOSES)[number]

export const CONSENT_STATES = ['granted', 'denied'] as const
export type ConsentState = (typeof CONSENT_STATES)[number]

/**
 * Whether marketing email may go to a person's address: `subscribed` (also when nothing is
 * stored), `unsubscribed` (the unsubscribe link, the admin API) or `bounced` (a hard failure).
 */
export const EMAIL_STATUSES = ['subscribed', 'unsubscribed', 'bounced'] as const
export type EmailStatus = (typeof EMAIL_STATUSES)[number]

/**
 * Whom marketing email reaches: `opt_in` only people who granted email_marketing consent
 * (GDPR, CASL); `opt_out` everyone but those who refused it (CAN-SPAM).
 */
export type ConsentMode = 'opt_in' | 'opt_out'

/** Where a consent came from. */
export type ConsentSource = 'api' | 'event' | 'context' | 'gpc'

/** One purpose's consent as a message sets it (the writer stores it against the person). */
export interface ConsentChange {
  readonly purpose: Purpose
  readonly state: ConsentState
  readonly source: ConsentSource
  /** What shows it: the event's properties, the consent manager's categories, the header. */
  readonly evidence: JsonObject
}

/** The track event that records consent (`properties` name purposes). */
export const CONSENT_EVENT = 'Consent Updated'

export function isPurpose(v: string): v is Purpose {
  return (PURPOSES as readonly string[]).includes(v)
}

/** `true`/`false` or `"granted"`/`"denied"`; anything else is null. */
function stateOf(v: JsonValue | undefined): ConsentState | null {
  if (v === true || v === 'granted') return 'granted'
  if (v === false || v === 'denied') return 'denied'
  return null
}

/**
 * The purposes a `Consent Updated` event sets: `properties.purposes` when present, else
 * purpose-named properties (`{"email_marketing": true}`). Values are true/false or
 * "granted"/"denied". Unknown purposes and other values are issues (the message is refused):
 * consent is evidence, and a half-understood record of it is worse than none.
 */
export function consentFromEvent(properties: JsonObject | null, issues: Issue[]): ConsentChange[] {
  const nested = properties?.purposes
  const base = nested === undefined ? 'properties' : 'properties.purposes'
  if (nested !== undefined && !isPlainObject(nested)) {
    issues.push({
      path: base,
      message: `purposes must be an object like {"email_marketing": true}`,
    })
    return []
  }
  const source = (nested as JsonObject | undefined) ?? properties ?? {}
  const out: ConsentChange[] = []
  for (const [k, v] of Object.entries(source)) {
    // At the top level other properties are evidence (`form`, `policy_version`, …), but one
    // holding a consent value (true, false, "granted", "denied") can only mean a purpose: a
    // misspelt one (`analytic`) would otherwise be kept as evidence and silently not apply.
    if (nested === undefined && !isPurpose(k) && stateOf(v) === null) continue
    if (!isPurpose(k)) {
      const near = closestName(k, PURPOSES)
      issues.push({
        path: `${base}.${k}`,
        message: `unknown consent purpose ${JSON.stringify(k)}${near ? ` (did you mean ${near}?)` : ''}; expected one of ${PURPOSES.join(', ')}`,
      })
      continue
    }
    const state = stateOf(v)
    if (state === null) {
      issues.push({
        path: `${base}.${k}`,
        message: `consent for ${k} must be true, false, "granted" or "denied"`,
      })
      continue
    }
    out.push({ purpose: k, state, source: 'event', evidence: properties ?? {} })
  }
  if (out.length === 0 && issues.length === 0) {
    issues.push({
      path: base,
      message: `${CONSENT_EVENT} names no purpose; send e.g. {"email_marketing": true}`,
    })
  }
  return out
}

/**
 * Consent-manager categories (Segment's `context.consent.categoryPreferences`) that mean a
 * purpose: the purpose names themselves, and the usual cookie categories. Other categories
 * (strictly necessary, vendor ids) are about the site, not about segflow's purposes, and are
 * left alone.
 */
const CATEGORY_PURPOSES: Readonly<Record<string, Purpose>> = {
  email_marketing: 'email_marketing',
  email: 'email_marketing',
  analytics: 'analytics',
  performance: 'analytics',
  statistics: 'analytics',
  personalization: 'personalization',
  personalisation: 'personalization',
  functional: 'personalization',
  sale_sharing: 'sale_sharing',
  advertising: 'sale_sharing',
  targeting: 'sale_sharing',
}

const normalise = (category: string) =>
  category
    .trim()
    .toLowerCase()
    .replace(/[\s-]+/g, '_')

/** The purposes a consent manager's category preferences set (unknown categories ignored). */
export function consentFromContext(context: JsonObject | null): ConsentChange[] {
  const consent = context?.consent
  if (!isPlainObject(consent)) return []
  const prefs = consent.categoryPreferences
  if (!isPlainObject(prefs)) return []
  const byPurpose = new Map<Purpose, ConsentState>()
  for (const [category, v] of Object.entries(prefs)) {
    const purpose = CATEGORY_PURPOSES[normalise(category)]
    const state = stateOf(v as JsonValue)
    if (!purpose || state === null) continue
    // Two categories for one purpose: a denial wins.
    if (byPurpose.get(purpose) !== 'denied') byPurpose.set(purpose, state)
  }
  return [...byPurpose].map(([purpose, state]) => ({
    purpose,
    state,
    source: 'context' as const,
    evidence: { categoryPreferences: prefs as JsonObject },
  }))
}

/** `Sec-GPC: 1`: the browser asks that the person's data not be sold or shared. */
export const GPC_OPT_OUT: ConsentChange = {
  purpose: 'sale_sharing',
  state: 'denied',
  source: 'gpc',
  evidence: { header: 'Sec-GPC: 1' },
}

/**
 * Every consent change a message carries, later ones winning for the same purpose: the
 * consent manager's categories, then an explicit `Consent Updated`, then Global Privacy Control
 * (a browser signal the person set cannot be overridden by the page).
 */
export function mergeConsent(...lists: readonly ConsentChange[][]): ConsentChange[] {
  // Per message on the ingest path: most carry no consent at all.
  const some = lists.filter((l) => l.length > 0)
  if (some.length <= 1) return some[0] ?? []
  const m = new Map<Purpose, ConsentChange>()
  for (const list of lists) for (const c of list) m.set(c.purpose, c)
  return [...m.values()]
}

/**
 * Why marketing email may not reach a person with these consents, or null when it may:
 * refused email_marketing always stops it; under `opt_in` so does never having granted it.
 */
export function consentRefusal(
  consents: readonly { purpose: Purpose; state: ConsentState; source: ConsentSource; at: number }[],
  mode: ConsentMode,
): string | null {
  const c = consents.find((x) => x.purpose === 'email_marketing')
  if (c?.state === 'denied')
    return `email_marketing consent refused (${c.source}, ${new Date(c.at).toISOString()})`
  if (mode === 'opt_in' && c?.state !== 'granted') return 'no email_marketing consent (opt_in)'
  return null
}
