import type { FastifyInstance } from 'fastify'
import type { AutomationService } from '../delivery/automations.js'
import { SegflowError } from '../shared/errors.js'

interface KeyParams {
  key: string
}

export function limitParam(raw: string | undefined, fallback: number, max: number): number {
  const limit = raw === undefined ? fallback : Number(raw)
  if (!Number.isInteger(limit) || limit < 1 || limit > max) {
    throw new SegflowError(
      'invalid_request',
      `limit ${JSON.stringify(raw)} must be a whole number from 1 to ${max}`,
    )
  }
  return limit
}

/** `/api/automations`: what happens when someone enters or leaves a segment, and its runs. */
export async function automationRoutes(
  app: FastifyInstance,
  automations: AutomationService,
): Promise<void> {
  app.get('/automations', async (req) => ({ items: await automations.list(req.workspaceId) }))
  app.get<{ Params: KeyParams }>('/automations/:key', async (req) =>
    automations.get(req.workspaceId, req.params.key),
  )
  app.put<{ Params: KeyParams }>('/automations/:key', async (req, reply) => {
    const { automation, created } = await automations.put(req.workspaceId, req.params.key, req.body)
    return reply.status(created ? 201 : 200).send(automation)
  })
  app.delete<{ Params: KeyParams }>('/automations/:key', async (req) => {
    await automations.remove(req.workspaceId, req.params.key)
    return { deleted: req.params.key }
  })
  app.get<{ Params: KeyParams; Querystring: { limit?: string; cursor?: string } }>(
    '/automations/:key/runs',
    async (req) =>
      automations.runs(req.workspaceId, req.params.key, {
        limit: limitParam(req.query.limit, 100, 1000),
        cursor: req.query.cursor ?? null,
      }),
  )
}
