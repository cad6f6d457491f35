import { createHash } from 'node:crypto'

/**
 * How an identifier (a userId, an anonymousId, an email) of an erased person is kept on the
 * suppression list: SHA-256 of the workspace and the value, hex. The value itself is not kept.
 */
export function identifierHash(workspaceId: string, value: string): string {
  return createHash('sha256').update(`${workspaceId}\u0000${value}`, 'utf8').digest('hex')
}
