import type { FastifyInstance } from 'fastify'
import type { WebhookService } from '../delivery/webhook-service.js'
import { SegflowError } from '../shared/errors.js'

interface IdParams {
  id: string
}

/** `/api/webhooks`: endpoints, secret rotation, deliveries and replay. */
export async function webhookRoutes(app: FastifyInstance, webhooks: WebhookService): Promise<void> {
  app.get('/webhooks', async (req) => ({ items: await webhooks.list(req.workspaceId) }))
  app.get<{ Params: IdParams }>('/webhooks/:id', async (req) =>
    webhooks.get(req.workspaceId, req.params.id),
  )
  app.put<{ Params: IdParams }>('/webhooks/:id', async (req, reply) => {
    const { webhook, created } = await webhooks.put(req.workspaceId, req.params.id, req.body)
    return reply.status(created ? 201 : 200).send(webhook)
  })
  app.delete<{ Params: IdParams }>('/webhooks/:id', async (req) =>
    webhooks.remove(req.workspaceId, req.params.id),
  )
  app.post<{ Params: IdParams }>('/webhooks/:id/rotate', async (req) =>
    webhooks.rotate(req.workspaceId, req.params.id, req.body),
  )
  app.get<{ Params: IdParams; Querystring: { status?: string; limit?: string; cursor?: string } }>(
    '/webhooks/:id/deliveries',
    async (req) => {
      const limit = req.query.limit === undefined ? 50 : Number(req.query.limit)
      if (!Number.isInteger(limit) || limit < 1 || limit > 500) {
        throw new SegflowError(
          'invalid_request',
          `limit ${JSON.stringify(req.query.limit)} must be a whole number from 1 to 500`,
        )
      }
      return webhooks.deliveries(req.workspaceId, req.params.id, {
        ...(req.query.status ? { status: req.query.status } : {}),
        limit,
        cursor: req.query.cursor ?? null,
      })
    },
  )
  app.post<{ Params: IdParams }>('/webhooks/:id/replay', async (req) =>
    webhooks.replay(req.workspaceId, req.params.id, req.body ?? {}),
  )
}
