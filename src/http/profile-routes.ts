import type { FastifyInstance } from 'fastify'
import type { ProfileService } from '../engine/profiles.js'
import { LIMITS } from '../ingest/message.js'
import { issuesError } from '../shared/errors.js'
import { pageLimit, querySchema, text } from './query-schema.js'

interface IdParams {
  id: string
}

/** `GET /api/profiles/:id/events`: the parameters it takes (and no others). */
export const EVENTS_QUERY = querySchema({
  limit: pageLimit(1000, 50, 'events'),
  cursor: text('the `nextCursor` of the previous page'),
})

/** `GET /api/profiles`: people search. */
export const SEARCH_QUERY = querySchema({
  q: {
    type: 'string',
    minLength: 1,
    maxLength: 200,
    description: 'the start of a userId, anonymousId, alias or email, or a profile id',
  },
  limit: pageLimit(100, 20, 'people'),
})

/** `/api/profiles`: search people, read a profile by any of its ids, update its traits, page its events. */
export async function profileRoutes(app: FastifyInstance, profiles: ProfileService): Promise<void> {
  app.get<{ Querystring: { q?: string; limit: number } }>(
    '/profiles',
    { schema: { querystring: SEARCH_QUERY } },
    async (req) => {
      const q = req.query.q?.trim()
      if (!q)
        throw issuesError(
          'invalid_request',
          'say whom to look for: ?q=<userId, anonymousId or email>',
          [
            {
              path: 'q',
              message: 'is required: the start of a userId, anonymousId, alias or email',
            },
          ],
        )
      return { items: await profiles.search(req.workspaceId, q, req.query.limit) }
    },
  )

  app.get<{ Params: IdParams }>('/profiles/:id', async (req) =>
    profiles.get(req.workspaceId, req.params.id),
  )

  app.get<{ Params: IdParams; Querystring: { limit: number; cursor?: string } }>(
    '/profiles/:id/events',
    { schema: { querystring: EVENTS_QUERY } },
    async (req) =>
      profiles.events(req.workspaceId, req.params.id, req.query.limit, req.query.cursor ?? null),
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
