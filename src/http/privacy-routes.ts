import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyInstance } from 'fastify'
import type { PrivacyService } from '../privacy/requests.js'
import { Type } from '@sinclair/typebox'
import { ref, OneOf } from './api-schemas.js'
import { adminErrors, answer, documented, itemsOf, NO_QUERY, pathParams } from './route-schemas.js'
import { pageLimit, querySchema } from './query-schema.js'

/** `GET /api/privacy/requests`: the parameters it takes (and no others). */
export const REQUESTS_QUERY = querySchema({ limit: pageLimit(1000, 100, 'requests') })

const doc = documented('privacy')

/** `/api/privacy/requests`: GDPR/CCPA export and erasure requests, answered at once. */
export async function privacyRoutes(app: FastifyInstance, privacy: PrivacyService): Promise<void> {
  const api = app.withTypeProvider<TypeBoxTypeProvider>()
  // Exports hand out a person's data and erasures cannot be undone: admins only.
  api.post(
    '/privacy/requests',
    {
      config: { role: 'admin' },
      ...doc('Export everything held about a person, or erase them (answered at once)', {
        description: 'Admins only (an admin key, or a user with the admin role).',
        querystring: NO_QUERY,
        documentedBody: Type.Object({
          type: OneOf(['export', 'erasure']),
          profile: Type.String({ description: 'userId, anonymousId, email or profile id' }),
          regulation: Type.Optional(OneOf(['gdpr', 'ccpa'], { default: 'gdpr' })),
        }),
        response: {
          201: answer(
            Type.Object({
              request: ref('PrivacyRequest'),
              data: Type.Optional(
                Type.Object({}, { description: 'export only: every row about the person' }),
              ),
            }),
            'Done',
          ),
          ...adminErrors(),
        },
      }),
    },
    async (req, reply) => {
      const out = await privacy.request(req.workspaceId, req.actor, req.body)
      return reply.status(201).send(out)
    },
  )

  api.get(
    '/privacy/requests',
    doc('Rights requests, newest first', {
      querystring: REQUESTS_QUERY,
      response: { 200: answer(itemsOf(ref('PrivacyRequest'))), ...adminErrors() },
    }),
    async (req) => ({ items: await privacy.list(req.workspaceId, req.query.limit) }),
  )

  api.get(
    '/privacy/requests/:id',
    doc('One rights request: its status, due date and result', {
      params: pathParams({ id: 'request id' }),
      querystring: NO_QUERY,
      response: { 200: answer(ref('PrivacyRequest')), ...adminErrors() },
    }),
    async (req) => privacy.get(req.workspaceId, req.params.id),
  )
}
