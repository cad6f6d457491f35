import type { FastifyInstance } from 'fastify'
import type { PrivacyService } from '../privacy/requests.js'
import { parseLimit } from './query.js'

/** `/api/privacy/requests`: GDPR/CCPA export and erasure requests, answered at once. */
export async function privacyRoutes(app: FastifyInstance, privacy: PrivacyService): Promise<void> {
  // Exports hand out a person's data and erasures cannot be undone: admins only.
  app.post('/privacy/requests', { config: { role: 'admin' } }, async (req, reply) => {
    const out = await privacy.request(req.workspaceId, req.actor, req.body)
    return reply.status(201).send(out)
  })

  app.get<{ Querystring: { limit?: string } }>('/privacy/requests', async (req) => {
    return { items: await privacy.list(req.workspaceId, parseLimit(req.query.limit, 100)) }
  })

  app.get<{ Params: { id: string } }>('/privacy/requests/:id', async (req) =>
    privacy.get(req.workspaceId, req.params.id),
  )
}
