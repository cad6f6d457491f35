import type { FastifyInstance } from 'fastify'
import type { ProfileService } from '../engine/profiles.js'
import { LIMITS } from '../ingest/message.js'
import { SegflowError } from '../shared/errors.js'

interface IdParams {
  id: string
}

function parseLimit(raw: unknown): number {
  if (raw === undefined) return 50
  const n = Number(raw)
  if (!Number.isInteger(n) || n < 1 || n > 1000) {
    throw new SegflowError(
      'invalid_request',
      `limit ${JSON.stringify(raw)} must be a whole number from 1 to 1000`,
    )
  }
  return n
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
        parseLimit(req.query.limit),
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
