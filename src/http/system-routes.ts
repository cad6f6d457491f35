import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyInstance, FastifyReply } from 'fastify'
import type { Metrics } from '../shared/metrics.js'
import { Type } from '@sinclair/typebox'
import { ref } from './api-schemas.js'
import { answer } from './route-schemas.js'
import type { Store } from '../store/store.js'

/** How long a health check waits for the store before reporting it down. */
const PING_TIMEOUT_MS = 2000

type StoreStatus = { ok: true; schemaVersion: number } | { ok: false; error: string }

async function storeStatus(store: Store): Promise<StoreStatus> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no answer within ${PING_TIMEOUT_MS} ms`)),
      PING_TIMEOUT_MS,
    )
  })
  try {
    await Promise.race([store.ping(), timeout])
    return { ok: true, schemaVersion: await store.schemaVersion() }
  } catch (e) {
    return { ok: false, error: (e as Error).message || String(e) }
  } finally {
    clearTimeout(timer)
  }
}

/**
 * Health for load balancers and orchestrators, `/metrics` for Prometheus, `/openapi.json`.
 * None needs a key.
 * - `/livez`: the process runs and answers (restart it when this fails).
 * - `/readyz` and `/healthz`: the store answers too, so requests can be served (take the
 *   instance out of rotation when these fail; it recovers by itself when the store returns).
 */
export async function systemRoutes(
  app: FastifyInstance,
  deps: { store: Store; metrics: Metrics },
): Promise<void> {
  const api = app.withTypeProvider<TypeBoxTypeProvider>()
  const ready = async (reply: FastifyReply) => {
    const status = await storeStatus(deps.store)
    if (!status.ok) {
      void reply.header('Retry-After', '1')
      return reply.status(503).send({
        status: 'unavailable',
        store: deps.store.kind,
        database: 'down',
        error: status.error,
      })
    }
    return {
      status: 'ok',
      store: deps.store.kind,
      database: 'up',
      schemaVersion: status.schemaVersion,
    }
  }
  const health = (summary: string) => ({
    schema: {
      summary,
      tags: ['system'],
      security: [],
      response: {
        200: answer(ref('Health')),
        503: answer(ref('Health'), 'The database is unavailable (Retry-After: 1)'),
      },
    },
  })
  api.get('/healthz', health('Health: the store answers (same as /readyz)'), async (_req, reply) =>
    ready(reply),
  )
  api.get(
    '/readyz',
    health('Readiness: the store answers, requests can be served'),
    async (_req, reply) => ready(reply),
  )
  api.get(
    '/livez',
    {
      schema: {
        summary: 'Liveness: the process runs (does not depend on the database)',
        tags: ['system'],
        security: [],
        response: { 200: answer(Type.Object({ status: Type.Literal('ok') })) },
      },
    },
    async () => ({ status: 'ok' }),
  )

  api.get(
    '/openapi.json',
    {
      schema: {
        summary: 'This document (OpenAPI 3.1), generated from the routes',
        tags: ['system'],
        security: [],
        response: { 200: answer(Type.Object({}, { additionalProperties: true })) },
      },
    },
    async () => app.swagger(),
  )

  api.get(
    '/metrics',
    {
      schema: {
        summary: 'Prometheus metrics',
        tags: ['system'],
        security: [],
        response: {
          200: {
            description: 'The Prometheus text format',
            content: { 'text/plain': { schema: Type.String() } },
          },
        },
      },
    },
    async (_req, reply) => {
      const body = await deps.metrics.registry.metrics()
      return reply.type(deps.metrics.registry.contentType).send(body)
    },
  )
}
