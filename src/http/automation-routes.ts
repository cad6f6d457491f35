import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyInstance } from 'fastify'
import type { AutomationService } from '../delivery/automations.js'
import { Type } from '@sinclair/typebox'
import { SegflowError } from '../shared/errors.js'
import { ref } from './api-schemas.js'
import {
  adminErrors,
  answer,
  documented,
  itemsOf,
  KEY,
  NO_QUERY,
  pageOf,
  small,
} from './route-schemas.js'
import { querySchema, text } from './query-schema.js'

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

const doc = documented('automations')
const AUTOMATION = KEY('automation')

/** `GET /api/automations/:key/runs`: read by the route itself. */
export const RUNS_QUERY = querySchema({
  limit: text('1–1000 (default 100)'),
  cursor: text('the `nextCursor` of the previous page'),
})

/** `/api/automations`: what happens when someone enters or leaves a segment, and its runs. */
export async function automationRoutes(
  app: FastifyInstance,
  automations: AutomationService,
): Promise<void> {
  const api = app.withTypeProvider<TypeBoxTypeProvider>()
  api.get(
    '/automations',
    doc('Automations', {
      querystring: NO_QUERY,
      response: { 200: answer(itemsOf(ref('Automation'))), ...adminErrors() },
    }),
    async (req) => ({ items: await automations.list(req.workspaceId) }),
  )
  api.get(
    '/automations/:key',
    doc('An automation', {
      params: AUTOMATION,
      querystring: NO_QUERY,
      response: { 200: answer(ref('Automation')), ...adminErrors() },
    }),
    async (req) => automations.get(req.workspaceId, req.params.key),
  )
  api.put(
    '/automations/:key',
    doc('Create or replace an automation; it acts on transitions from now on', {
      params: AUTOMATION,
      querystring: NO_QUERY,
      // Checked by the automation service, which names the field at fault.
      documentedBody: ref('AutomationInput'),
      response: {
        200: answer(ref('Automation')),
        201: answer(ref('Automation'), 'Created'),
        ...adminErrors(),
      },
    }),
    async (req, reply) => {
      const { automation, created } = await automations.put(
        req.workspaceId,
        req.params.key,
        req.body,
      )
      return reply.status(created ? 201 : 200).send(automation)
    },
  )
  api.delete(
    '/automations/:key',
    doc('Delete an automation; its scheduled runs are skipped', {
      params: AUTOMATION,
      querystring: NO_QUERY,
      response: { 200: answer(small({ deleted: Type.String() })), ...adminErrors() },
    }),
    async (req) => {
      await automations.remove(req.workspaceId, req.params.key)
      return { deleted: req.params.key }
    },
  )
  api.get(
    '/automations/:key/runs',
    doc(
      'Runs, oldest first, a page at a time: one per transition, with the step reached and what each action did',
      {
        params: AUTOMATION,
        querystring: RUNS_QUERY,
        response: { 200: answer(pageOf(ref('Run'))), ...adminErrors() },
      },
    ),
    async (req) =>
      automations.runs(req.workspaceId, req.params.key, {
        limit: limitParam(req.query.limit, 100, 1000),
        cursor: req.query.cursor ?? null,
      }),
  )
}
