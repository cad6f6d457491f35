import { identifierHash } from '../privacy/index.js'
import { SegflowError } from '../shared/errors.js'
import type { Store } from '../store/store.js'

/** `ref` names a person who was erased (its identifiers are on the suppression list). */
export function erasedProfile(ref: string): SegflowError {
  return new SegflowError(
    'suppressed',
    `${JSON.stringify(ref)} belongs to a person who was erased; nothing is stored for them until they come back with fresh consent (a "Consent Updated" event granting a purpose)`,
  )
}

export function profileNotFound(ref: string): SegflowError {
  return new SegflowError(
    'profile_not_found',
    `no profile has the id, userId, anonymousId or email ${JSON.stringify(ref)}`,
  )
}

/**
 * The error for a reference no profile answers to: 409 `suppressed` when it is an identifier
 * of an erased person, 404 otherwise. Saying "erased" tells only an admin of the workspace
 * what its own privacy requests did, and keeps them from taking the person for one never seen
 * (writes for them answer 409 as well).
 * @example
 * if (id === null) throw await unknownProfile(store, workspaceId, ref)
 */
export async function unknownProfile(
  store: Store,
  workspaceId: string,
  ref: string,
): Promise<SegflowError> {
  // Erasure suppresses each identifier as stored: emails lower-cased, ids as they are.
  const values = [...new Set([ref, ref.trim().toLowerCase()])]
  const hit = await store.privacy.suppressed(
    workspaceId,
    values.map((v) => identifierHash(workspaceId, v)),
  )
  return hit.size > 0 ? erasedProfile(ref) : profileNotFound(ref)
}
