import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyInstance } from 'fastify'
import type { WebhookService } from '../delivery/webhook-service.js'
import { Type } from '@sinclair/typebox'
import { ref, OneOf } from './api-schemas.js'
import {
  adminErrors,
  answer,
  documented,
  itemsOf,
  NO_QUERY,
  pageOf,
  pathParams,
  small,
} from './route-schemas.js'
import { pageLimit, querySchema, text } from './query-schema.js'

/** `GET /api/webhooks/:id/deliveries`: the parameters it takes (and no others). */
export const DELIVERIES_QUERY = querySchema({
  status: text('pending, succeeded, failed, exhausted or cancelled'),
  limit: pageLimit(500, 50, 'deliveries'),
  cursor: text('the `nextCursor` of the previous page'),
})

const doc = documented('webhooks')
const HOOK = pathParams({ id: 'webhook id' })

/** Checked by the webhook service (webhook-service.ts), which names the field at fault. */
const WEBHOOK_BODY = Type.Object({
  url: Type.String(),
  secret: Type.Optional(Type.String({ description: 'whsec_…; a new one is rotated in' })),
  segments: Type.Optional(Type.Union([Type.Array(Type.String()), Type.Null()])),
  types: Type.Optional(
    Type.Union([Type.Array(OneOf(['segment.entered', 'segment.exited'])), Type.Null()]),
  ),
  maxInFlight: Type.Optional(Type.Integer()),
  history: Type.Optional(
    OneOf(['send', 'skip'], {
      description:
        'historical transitions (imports, and messages or timers processed more than SEGFLOW_HISTORY_AFTER late): send (default, flagged data.historical) or skip',
    }),
  ),
})

/** `/api/webhooks`: endpoints, secret rotation, deliveries and replay. */
export async function webhookRoutes(app: FastifyInstance, webhooks: WebhookService): Promise<void> {
  const api = app.withTypeProvider<TypeBoxTypeProvider>()
  api.get(
    '/webhooks',
    doc('Webhook endpoints', {
      querystring: NO_QUERY,
      response: { 200: answer(itemsOf(ref('Webhook'))), ...adminErrors() },
    }),
    async (req) => ({ items: await webhooks.list(req.workspaceId) }),
  )
  api.get(
    '/webhooks/:id',
    doc('A webhook endpoint', {
      params: HOOK,
      querystring: NO_QUERY,
      response: { 200: answer(ref('Webhook')), ...adminErrors() },
    }),
    async (req) => webhooks.get(req.workspaceId, req.params.id),
  )
  api.put(
    '/webhooks/:id',
    doc('Create or replace an endpoint (the answer holds its secret); saving re-enables it', {
      params: HOOK,
      querystring: NO_QUERY,
      documentedBody: WEBHOOK_BODY,
      response: {
        200: answer(ref('Webhook')),
        201: answer(ref('Webhook'), 'Created'),
        ...adminErrors(),
      },
    }),
    async (req, reply) => {
      const { webhook, created } = await webhooks.put(req.workspaceId, req.params.id, req.body)
      return reply.status(created ? 201 : 200).send(webhook)
    },
  )
  api.delete(
    '/webhooks/:id',
    doc('Delete an endpoint; pending deliveries are cancelled', {
      params: HOOK,
      querystring: NO_QUERY,
      response: { 200: answer(small({ cancelled: Type.Integer() })), ...adminErrors() },
    }),
    async (req) => webhooks.remove(req.workspaceId, req.params.id),
  )
  api.post(
    '/webhooks/:id/rotate',
    doc('A new secret; the old one keeps signing for the overlap (24h)', {
      params: HOOK,
      querystring: NO_QUERY,
      documentedBody: Type.Object({
        overlap: Type.Optional(
          Type.String({ description: 'how long the old secret keeps signing, e.g. 24h' }),
        ),
      }),
      response: { 200: answer(ref('Webhook')), ...adminErrors() },
    }),
    async (req) => webhooks.rotate(req.workspaceId, req.params.id, req.body),
  )
  api.get(
    '/webhooks/:id/deliveries',
    doc('Deliveries with their attempts, newest first', {
      params: HOOK,
      querystring: DELIVERIES_QUERY,
      response: { 200: answer(pageOf(ref('Delivery'))), ...adminErrors() },
    }),
    async (req) => {
      return webhooks.deliveries(req.workspaceId, req.params.id, {
        ...(req.query.status ? { status: req.query.status } : {}),
        limit: req.query.limit,
        cursor: req.query.cursor ?? null,
      })
    },
  )
  api.post(
    '/webhooks/:id/replay',
    doc(
      'Send failed and exhausted deliveries again, with the same ids, and make pending ones waiting for a retry due now',
      {
        params: HOOK,
        querystring: NO_QUERY,
        documentedBody: Type.Object({
          ids: Type.Optional(Type.Array(Type.String(), { description: 'default: all of them' })),
        }),
        response: { 200: answer(small({ replayed: Type.Integer() })), ...adminErrors() },
      },
    ),
    async (req) => webhooks.replay(req.workspaceId, req.params.id, req.body ?? {}),
  )
}
