import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { KeyService } from '../keys/key-service.js'
import { SegflowError } from '../shared/errors.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** The workspace of the admin key that authenticated this request. */
    workspaceId: string
    /** The id of that key (for the audit log). */
    apiKeyId: string
  }
}

/**
 * Every route registered in `app` (an encapsulated context) needs an admin key as a Bearer
 * token and acts only on that key's workspace.
 */
export function requireAdminKey(app: FastifyInstance, keys: KeyService): void {
  app.decorateRequest('workspaceId', '')
  app.decorateRequest('apiKeyId', '')
  app.addHook('onRequest', async (req: FastifyRequest) => {
    const auth = req.headers.authorization
    const match = auth ? /^bearer\s+(\S+)\s*$/i.exec(auth) : null
    if (!match) {
      throw new SegflowError('missing_key', 'send an admin key as "Authorization: Bearer <key>"')
    }
    const key = await keys.require(match[1]!, 'admin')
    req.workspaceId = key.workspaceId
    req.apiKeyId = key.id
  })
}
