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
