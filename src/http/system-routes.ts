import type { FastifyInstance } from 'fastify'
import type { Metrics } from '../shared/metrics.js'
import { openApiDocument } from './openapi.js'
import type { Store } from '../store/store.js'

/** `/healthz` for load balancers, `/metrics` for Prometheus, `/openapi.json`. None needs a key. */
export async function systemRoutes(
  app: FastifyInstance,
  deps: { store: Store; metrics: Metrics },
): Promise<void> {
  app.get('/healthz', async (_req, reply) => {
    const version = await deps.store.schemaVersion().catch(() => -1)
    if (version < 0)
      return reply.status(503).send({ status: 'unavailable', store: deps.store.kind })
    return { status: 'ok', store: deps.store.kind, schemaVersion: version }
  })

  const doc = openApiDocument()
  app.get('/openapi.json', async () => doc)

  app.get('/metrics', async (_req, reply) => {
    const body = await deps.metrics.registry.metrics()
    return reply.type(deps.metrics.registry.contentType).send(body)
  })
}
