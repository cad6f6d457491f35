import type { FastifyInstance } from 'fastify'
import type { LifecycleService } from '../engine/lifecycle-service.js'
import type { ScoreService } from '../engine/score-service.js'

interface KeyParams {
  key: string
}

/** `/api/scores` (scoring models), `/api/lifecycle` (stages), and a person's score and stage. */
export async function scoreRoutes(
  app: FastifyInstance,
  scores: ScoreService,
  lifecycle: LifecycleService,
): Promise<void> {
  app.get('/scores', async (req) => ({ items: await scores.list(req.workspaceId) }))
  app.get('/scores/presets', async () => scores.presets())
  app.get<{ Params: KeyParams }>('/scores/:key', async (req) =>
    scores.get(req.workspaceId, req.params.key),
  )
  app.put<{ Params: KeyParams }>('/scores/:key', async (req, reply) => {
    const { model, created, republished } = await scores.put(
      req.workspaceId,
      req.params.key,
      req.body,
    )
    return reply.status(created ? 201 : 200).send({ ...model, republished })
  })
  app.delete<{ Params: KeyParams }>('/scores/:key', async (req) => {
    await scores.remove(req.workspaceId, req.params.key)
    return { deleted: req.params.key }
  })
  app.get<{ Params: { id: string; key: string } }>('/profiles/:id/scores/:key', async (req) =>
    scores.explain(req.workspaceId, req.params.id, req.params.key),
  )

  app.get('/lifecycle', async (req) => lifecycle.get(req.workspaceId))
  app.put('/lifecycle', async (req) => lifecycle.put(req.workspaceId, req.body))
  app.delete('/lifecycle', async (req) => {
    await lifecycle.remove(req.workspaceId)
    return { deleted: 'lifecycle' }
  })
  app.get<{ Params: { id: string } }>('/profiles/:id/lifecycle', async (req) =>
    lifecycle.explain(req.workspaceId, req.params.id),
  )
}
