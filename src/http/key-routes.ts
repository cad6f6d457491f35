import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import type { FastifyInstance } from 'fastify'
import type { KeyService } from '../keys/key-service.js'
import type { ApiKeyRecord } from '../store/store.js'
import { Nullable, OneOf } from './api-schemas.js'
import { adminErrors, answer, documented, itemsOf, NO_QUERY } from './route-schemas.js'

/** `POST /api/keys`: a write key (admin keys stay with the command line). ajv checks it. */
export const CREATE_KEY_BODY = Type.Optional(
  Type.Object(
    {
      kind: Type.Optional(
        OneOf(['write'], { default: 'write', description: 'write (the only kind made here)' }),
      ),
      name: Type.Optional(
        Type.String({ minLength: 1, maxLength: 100, description: 'to tell keys apart' }),
      ),
    },
    { additionalProperties: false },
  ),
)

const KEY = Type.Object({
  id: Type.String(),
  kind: OneOf(['write', 'admin']),
  name: Nullable(Type.String()),
  prefix: Type.String({ description: 'the first characters of the key (never the key)' }),
  createdAt: Type.String({ format: 'date-time' }),
  revokedAt: Nullable(Type.String({ format: 'date-time' })),
})

const doc = documented('keys')

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
  const api = app.withTypeProvider<TypeBoxTypeProvider>()
  api.get(
    '/keys',
    {
      config: admin,
      ...doc("The workspace's keys (admins only): ids, kinds and first characters, never a key", {
        querystring: NO_QUERY,
        response: { 200: answer(itemsOf(KEY)), ...adminErrors() },
      }),
    },
    async (req) => ({ items: (await keys.list(req.workspaceId)).map(publicKey) }),
  )
  api.post(
    '/keys',
    {
      config: admin,
      ...doc('Makes a write key (admins only); the answer is the only place it appears', {
        querystring: NO_QUERY,
        body: CREATE_KEY_BODY,
        response: {
          201: answer(
            Type.Intersect([KEY, Type.Object({ key: Type.String({ description: 'shown once' }) })]),
            'Created',
          ),
          ...adminErrors(),
        },
      }),
    },
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
