import type { IdentityRecord, ProfileRecord } from '../store/store.js'

/** A person's address: the `email` trait, else an email identity. */
export function emailAddressOf(
  profile: ProfileRecord,
  identities: readonly IdentityRecord[],
): string | null {
  if (typeof profile.traits.email === 'string' && profile.traits.email !== '')
    return profile.traits.email
  return identities.find((i) => i.profileId === profile.id && i.kind === 'email')?.value ?? null
}
