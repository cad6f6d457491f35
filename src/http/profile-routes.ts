import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyInstance } from 'fastify'
import type { ProfileService } from '../engine/profiles.js'
import { LIMITS } from '../ingest/message.js'
import { issuesError } from '../shared/errors.js'
import { Type } from '@sinclair/typebox'
import { Nullable, OneOf, ref } from './api-schemas.js'
import {
  adminErrors,
  answer,
  documented,
  ERASED,
  NO_QUERY,
  pageOf,
  pathParams,
  PROFILE_ID,
} from './route-schemas.js'
import { pageLimit, querySchema, text } from './query-schema.js'

/** `GET /api/profiles/:id/events`: the parameters it takes (and no others). */
export const EVENTS_QUERY = querySchema({
  limit: pageLimit(1000, 50, 'events'),
  cursor: text('the `nextCursor` of the previous page'),
})

/** `GET /api/profiles`: people search. */
export const SEARCH_QUERY = querySchema({
  q: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 200,
      description: 'the start of a userId, anonymousId, alias or email, or a profile id',
    }),
  ),
  limit: pageLimit(100, 20, 'people'),
})

const MATCH = Type.Object({
  id: Type.String(),
  userId: Nullable(Type.String()),
  email: Nullable(Type.String({ description: 'the email trait, or else an email identity' })),
  anonymousIds: Type.Array(Type.String()),
  lastSeen: Nullable(Type.String({ format: 'date-time' })),
  matched: Type.Object({
    type: OneOf(['user', 'anonymous', 'alias', 'email', 'id']),
    value: Type.String(),
  }),
})

const doc = documented('profiles')
const PROFILE = pathParams({ id: PROFILE_ID })

const EVENT = Type.Object({
  messageId: Type.String(),
  type: Type.String(),
  name: Nullable(Type.String()),
  timestamp: Type.String({ format: 'date-time' }),
  receivedAt: Type.String({ format: 'date-time' }),
  userId: Nullable(Type.String()),
  anonymousId: Nullable(Type.String()),
  properties: Nullable(Type.Object({})),
  traits: Nullable(Type.Object({})),
  context: Nullable(Type.Object({})),
})

const CONSENT_VALUE = Type.Union([Type.Boolean(), OneOf(['granted', 'denied'])])

/** `/api/profiles`: read a profile by any of its ids, update its traits, page its events. */
export async function profileRoutes(app: FastifyInstance, profiles: ProfileService): Promise<void> {
  const api = app.withTypeProvider<TypeBoxTypeProvider>()
  api.get(
    '/profiles',
    doc('People search: profiles whose userId, anonymousId, alias or email starts with q', {
      querystring: SEARCH_QUERY,
      response: { 200: answer(Type.Object({ items: Type.Array(MATCH) })), ...adminErrors() },
    }),
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

  api.get(
    '/profiles/:id',
    doc('A profile', {
      params: PROFILE,
      querystring: NO_QUERY,
      response: { 200: answer(ref('Profile')), ...adminErrors(ERASED) },
    }),
    async (req) => profiles.get(req.workspaceId, req.params.id),
  )

  api.get(
    '/profiles/:id/events',
    doc("A profile's events, newest first", {
      params: PROFILE,
      querystring: EVENTS_QUERY,
      response: { 200: answer(pageOf(EVENT)), ...adminErrors(ERASED) },
    }),
    async (req) =>
      profiles.events(req.workspaceId, req.params.id, req.query.limit, req.query.cursor ?? null),
  )

  api.put(
    '/profiles/:id/consent',
    {
      bodyLimit: LIMITS.messageBytes,
      ...doc('Record consent given or refused, by purpose, with optional evidence', {
        params: PROFILE,
        querystring: NO_QUERY,
        documentedBody: Type.Object({
          email_marketing: Type.Optional(CONSENT_VALUE),
          analytics: Type.Optional(CONSENT_VALUE),
          personalization: Type.Optional(CONSENT_VALUE),
          sale_sharing: Type.Optional(CONSENT_VALUE),
          evidence: Type.Optional(Type.Object({})),
        }),
        response: { 200: answer(ref('Profile')), ...adminErrors(ERASED) },
      }),
    },
    async (req) => profiles.updateConsent(req.workspaceId, req.params.id, req.body),
  )

  for (const method of ['POST', 'PUT'] as const) {
    api.route({
      method,
      url: '/profiles/:id',
      bodyLimit: LIMITS.messageBytes,
      ...doc(
        method === 'PUT'
          ? 'Replace all traits; an unknown id creates a profile'
          : 'Set traits (null removes one); an unknown id creates a profile',
        {
          params: PROFILE,
          querystring: NO_QUERY,
          documentedBody: Type.Object({ traits: Type.Object({}) }),
          response: {
            200: answer(ref('Profile')),
            201: answer(ref('Profile'), 'Created'),
            ...adminErrors(ERASED),
          },
        },
      ),
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
