import type { FastifyInstance } from 'fastify'
import type { ProfileService } from '../engine/profiles.js'
import { LIMITS } from '../ingest/message.js'
import { parseLimit } from './query.js'

interface IdParams {
  id: string
}

/** `/api/profiles`: read a profile by any of its ids, update its traits, page its events. */
export async function profileRoutes(app: FastifyInstance, profiles: ProfileService): Promise<void> {
  app.get<{ Params: IdParams }>('/profiles/:id', async (req) =>
    profiles.get(req.workspaceId, req.params.id),
  )

  app.get<{ Params: IdParams; Querystring: { limit?: string; cursor?: string } }>(
    '/profiles/:id/events',
    async (req) =>
      profiles.events(
        req.workspaceId,
        req.params.id,
        parseLimit(req.query.limit, 50),
        req.query.cursor ?? null,
      ),
  )

  app.put<{ Params: IdParams }>(
    '/profiles/:id/consent',
    { bodyLimit: LIMITS.messageBytes },
    async (req) => profiles.updateConsent(req.workspaceId, req.params.id, req.body),
  )

  for (const method of ['POST', 'PUT'] as const) {
    app.route<{ Params: IdParams }>({
      method,
      url: '/profiles/:id',
      bodyLimit: LIMITS.messageBytes,
      handler: async (req, reply) => {
        const mode = method === 'PUT' ? 'replace' : 'merge'
        const { profile, created } = await profiles.updateTraits(
          req.workspaceId,
          req.params.id,
          req.body,
          mode,
        )
        return reply.status(created ? 201 : 200).send(profile)
      },
    })
  }
}
