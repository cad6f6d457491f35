import type { IdentityRecord, ProfileRecord } from '../store/store.js'

// One mailbox as an addr-spec: a dot-atom local part (RFC 5322 atext; non-ASCII allowed for
// SMTPUTF8), one @, and a domain of dot-separated labels. No quoted local parts, comments,
// display names or domain literals: each of those is a way to smuggle a second recipient or a
// header into what should be one address.
const LOCAL =
  /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u0080-\uffff-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u0080-\uffff-]+)*$/
const LABEL =
  /^(?:[A-Za-z0-9\u0080-\uffff](?:[A-Za-z0-9\u0080-\uffff-]{0,61}[A-Za-z0-9\u0080-\uffff])?)$/

/**
 * Why a value is not exactly one plain email address, or null when it is. Surrounding spaces
 * are not a problem (they are dropped); anything that could name a second recipient is.
 *
 * @example addressProblem('me@a.example, you@b.example') // 'holds more than one address …'
 */
export function addressProblem(value: string): string | null {
  const v = value.replace(/^[ \t]+|[ \t]+$/g, '')
  if (v === '') return 'is empty'
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f]/.test(v)) return 'holds a line break or control character'
  if (/[,;]/.test(v)) return 'holds more than one address (a comma or semicolon)'
  if (/[<>"()]/.test(v)) return 'has a display name, comment or angle brackets'
  if (/\s/.test(v)) return 'holds a space'
  const at = v.lastIndexOf('@')
  if (at === -1) return 'has no @'
  if (v.indexOf('@') !== at) return 'has more than one @'
  const local = v.slice(0, at)
  const domain = v.slice(at + 1)
  if (local.length === 0 || local.length > 64 || !LOCAL.test(local))
    return 'has a malformed part before the @'
  const labels = domain.split('.')
  if (labels.length < 2 || domain.length > 253 || !labels.every((l) => LABEL.test(l)))
    return 'has a malformed domain'
  if (v.length > 254) return 'is longer than 254 characters'
  return null
}

/** Who an email goes to: one plain address, or why the person's address is not one. */
export type Recipient = { readonly address: string } | { readonly problem: string }

/**
 * A person's address: the `email` trait, else an email identity; null when they have none. A
 * value that is not one plain address is not an address: it comes back as a problem, never
 * as something to send to.
 */
export function recipientOf(
  profile: ProfileRecord,
  identities: readonly IdentityRecord[],
): Recipient | null {
  const trait = profile.traits.email
  const value =
    typeof trait === 'string' && trait !== ''
      ? trait
      : identities.find((i) => i.profileId === profile.id && i.kind === 'email')?.value
  if (value === undefined) return null
  const problem = addressProblem(value)
  if (problem !== null) return { problem }
  return { address: value.replace(/^[ \t]+|[ \t]+$/g, '') }
}

/** A person's address when it is one plain address, else null (none, or not an address). */
export function emailAddressOf(
  profile: ProfileRecord,
  identities: readonly IdentityRecord[],
): string | null {
  const r = recipientOf(profile, identities)
  return r && 'address' in r ? r.address : null
}

/** The person as webhooks describe them: `{id, userId, anonymousIds, email}`. */
export function profileSnapshot(
  profileId: string,
  profile: ProfileRecord | undefined,
  identities: readonly IdentityRecord[],
): { id: string; userId: string | null; anonymousIds: string[]; email: string | null } {
  const own = identities.filter((i) => i.profileId === profileId)
  return {
    id: profileId,
    userId: profile?.userId ?? null,
    anonymousIds: own.filter((i) => i.kind === 'anonymous').map((i) => i.value),
    email: profile ? emailAddressOf(profile, own) : null,
  }
}
