import type { FastifyInstance } from 'fastify'
import type { PrivacyService } from '../privacy/requests.js'
import { SegflowError } from '../shared/errors.js'

/** `/api/privacy/requests`: GDPR/CCPA export and erasure requests, answered at once. */
export async function privacyRoutes(app: FastifyInstance, privacy: PrivacyService): Promise<void> {
  app.post('/privacy/requests', async (req, reply) => {
    const out = await privacy.request(req.workspaceId, req.apiKeyId, req.body)
    return reply.status(201).send(out)
  })

  app.get<{ Querystring: { limit?: string } }>('/privacy/requests', async (req) => {
    const raw = req.query.limit
    const limit = raw === undefined ? 100 : Number(raw)
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000)
      throw new SegflowError(
        'invalid_request',
        `limit ${JSON.stringify(raw)} must be a whole number from 1 to 1000`,
      )
    return { items: await privacy.list(req.workspaceId, limit) }
  })

  app.get<{ Params: { id: string } }>('/privacy/requests/:id', async (req) =>
    privacy.get(req.workspaceId, req.params.id),
  )
}
