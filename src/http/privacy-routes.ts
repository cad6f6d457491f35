import type { FastifyInstance } from 'fastify'
import type { PrivacyService } from '../privacy/requests.js'
import { pageLimit, querySchema } from './query-schema.js'

/** `GET /api/privacy/requests`: the parameters it takes (and no others). */
export const REQUESTS_QUERY = querySchema({ limit: pageLimit(1000, 100, 'requests') })

/** `/api/privacy/requests`: GDPR/CCPA export and erasure requests, answered at once. */
export async function privacyRoutes(app: FastifyInstance, privacy: PrivacyService): Promise<void> {
  // Exports hand out a person's data and erasures cannot be undone: admins only.
  app.post('/privacy/requests', { config: { role: 'admin' } }, async (req, reply) => {
    const out = await privacy.request(req.workspaceId, req.actor, req.body)
    return reply.status(201).send(out)
  })

  app.get<{ Querystring: { limit: number } }>(
    '/privacy/requests',
    { schema: { querystring: REQUESTS_QUERY } },
    async (req) => ({ items: await privacy.list(req.workspaceId, req.query.limit) }),
  )

  app.get<{ Params: { id: string } }>('/privacy/requests/:id', async (req) =>
    privacy.get(req.workspaceId, req.params.id),
  )
}
