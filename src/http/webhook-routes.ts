import type { FastifyInstance } from 'fastify'
import type { WebhookService } from '../delivery/webhook-service.js'
import { pageLimit, querySchema, text } from './query-schema.js'

/** `GET /api/webhooks/:id/deliveries`: the parameters it takes (and no others). */
export const DELIVERIES_QUERY = querySchema({
  status: text('pending, succeeded, failed, exhausted or cancelled'),
  limit: pageLimit(500, 50, 'deliveries'),
  cursor: text('the `nextCursor` of the previous page'),
})

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
  app.get<{ Params: IdParams; Querystring: { status?: string; limit: number; cursor?: string } }>(
    '/webhooks/:id/deliveries',
    { schema: { querystring: DELIVERIES_QUERY } },
    async (req) => {
      return webhooks.deliveries(req.workspaceId, req.params.id, {
        ...(req.query.status ? { status: req.query.status } : {}),
        limit: req.query.limit,
        cursor: req.query.cursor ?? null,
      })
    },
  )
  app.post<{ Params: IdParams }>('/webhooks/:id/replay', async (req) =>
    webhooks.replay(req.workspaceId, req.params.id, req.body ?? {}),
  )
}
