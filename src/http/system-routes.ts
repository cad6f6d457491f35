import type { FastifyInstance, FastifyReply } from 'fastify'
import type { Metrics } from '../shared/metrics.js'
import { openApiDocument } from './openapi.js'
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
  app.get('/healthz', async (_req, reply) => ready(reply))
  app.get('/readyz', async (_req, reply) => ready(reply))
  app.get('/livez', async () => ({ status: 'ok' }))

  const doc = openApiDocument()
  app.get('/openapi.json', async () => doc)

  app.get('/metrics', async (_req, reply) => {
    const body = await deps.metrics.registry.metrics()
    return reply.type(deps.metrics.registry.contentType).send(body)
  })
}
