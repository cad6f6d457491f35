import type { FastifyInstance } from 'fastify'
import type { KeyService } from '../keys/key-service.js'
import type { ApiKeyRecord } from '../store/store.js'
import { querySchema } from './query-schema.js'

/** `GET /api/keys` and `POST /api/keys`: they take no query parameters. */
export const KEYS_QUERY = querySchema({})

/** `POST /api/keys`: a write key (admin keys stay with the command line). */
export const CREATE_KEY_BODY = {
  type: 'object',
  additionalProperties: false,
  properties: {
    kind: {
      type: 'string',
      enum: ['write'],
      default: 'write',
      description: 'write (the only kind made here)',
    },
    name: { type: 'string', minLength: 1, maxLength: 100, description: 'to tell keys apart' },
  },
} as const

/** What a listing shows of a key: never the key, never its hash; its first characters. */
export function publicKey(k: ApiKeyRecord) {
  return {
    id: k.id,
    kind: k.kind,
    name: k.name,
    prefix: k.prefix,
    createdAt: new Date(k.createdAt).toISOString(),
    revokedAt: k.revokedAt === null ? null : new Date(k.revokedAt).toISOString(),
  }
}

const admin = { role: 'admin' as const }

/**
 * `/api/keys`: the workspace's keys, for admins (as `segflow keys list` shows them), and new
 * write keys for the dashboard's settings page. A write key only ingests, so handing one out
 * from a session gives no more than an admin already has; admin keys, which can do
 * everything, are still made only with `segflow keys create --type admin`.
 */
export async function keyRoutes(app: FastifyInstance, keys: KeyService): Promise<void> {
  app.get('/keys', { config: admin, schema: { querystring: KEYS_QUERY } }, async (req) => ({
    items: (await keys.list(req.workspaceId)).map(publicKey),
  }))
  app.post<{ Body: { kind: 'write'; name?: string } | undefined }>(
    '/keys',
    { config: admin, schema: { querystring: KEYS_QUERY, body: CREATE_KEY_BODY } },
    async (req, reply) => {
      const { record, key } = await keys.create({
        workspaceId: req.workspaceId,
        kind: 'write',
        ...(req.body?.name ? { name: req.body.name } : {}),
        actor: req.actor,
      })
      // The only answer that holds the key: it is stored as a hash.
      return reply.status(201).send({ ...publicKey(record), key })
    },
  )
}
