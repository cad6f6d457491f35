import type { FastifyInstance } from 'fastify'
import pino from 'pino'
import type { Logger } from 'pino'
import { buildApp } from '../http/app.js'
import { privateLogOptions } from '../privacy/log-mask.js'
import type { CreatedKey } from '../keys/key-service.js'
import type { Config } from './config.js'
import { openRuntime } from './runtime.js'
import type { Runtime } from './runtime.js'

export interface Server {
  readonly runtime: Runtime
  readonly app: FastifyInstance
  /** The address it listens on, e.g. `http://127.0.0.1:8787`. */
  readonly url: string
  /** Graceful stop: refuse new requests, answer those in flight, commit, close. */
  stop(): Promise<void>
}

/** How long idle keep-alive connections are kept open once shutdown begins. */
const DRAIN_GRACE_MS = 500

function printKeys(created: readonly CreatedKey[], out: (line: string) => void): void {
  if (created.length === 0) return
  out('')
  out('segflow created keys for the default workspace. They are shown this once; keep them:')
  for (const { record, key } of created) out(`  ${record.kind.padEnd(5)} key: ${key}`)
  out('Send events with the write key; call /api with the admin key as a Bearer token.')
  out('')
}

/** Opens the runtime, bootstraps keys, listens. */
export async function startServer(
  config: Config,
  options: { logger?: Logger; print?: (line: string) => void } = {},
): Promise<Server> {
  // Personal data stays out of the logs: the PII fields are the runtime's, once it is open.
  let pii: () => ReadonlySet<string> = () => new Set()
  const logger =
    options.logger ?? pino({ level: config.logLevel, ...privateLogOptions(() => pii()) })
  const runtime = await openRuntime(config, {
    onError: (err) => logger.error({ err }, 'background work failed'),
  })
  pii = () => runtime.schemas.piiFields()
  let draining = false
  runtime.metrics.collectProcessMetrics()
  let app: FastifyInstance
  try {
    const created = await runtime.keys.bootstrap({
      ...(config.writeKey ? { writeKey: config.writeKey } : {}),
      ...(config.adminKey ? { adminKey: config.adminKey } : {}),
    })
    printKeys(created, options.print ?? ((line) => process.stdout.write(`${line}\n`)))
    app = await buildApp({
      ...runtime,
      logger,
      trustProxy: config.trustProxy,
      https: config.tls,
      draining: () => draining,
    })
    await app.listen({ port: config.port, host: config.host })
    await runtime.start()
  } catch (e) {
    await runtime.close().catch(() => undefined)
    throw e
  }
  const address = app.server.address()
  const port = typeof address === 'object' && address ? address.port : config.port
  const scheme = config.tls ? 'https' : 'http'
  const url = `${scheme}://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`
  logger.info({ url, store: runtime.store.kind }, 'segflow is listening')

  // Requests being handled (not yet fully answered), counted on the raw server so that
  // aborted requests are counted out too.
  let inFlight = 0
  app.server.on('request', (_req, res) => {
    inFlight++
    res.once('close', () => inFlight--)
  })
  let connections = 0
  app.server.on('connection', (socket) => {
    connections++
    socket.once('close', () => connections--)
  })

  let stopping: Promise<void> | null = null
  const stop = () => {
    stopping ??= (async () => {
      // 1. Drain: requests already accepted finish and are answered; new ones get 503; every
      //    response carries Connection: close, so keep-alive clients leave on their own.
      // 2. Only then stop listening and close idle connections: closing a connection while a
      //    request is being handled would lose its answer.
      draining = true
      // One deadline for everything: requests in flight, then background work.
      const deadlineSignal = AbortSignal.timeout(config.shutdownTimeoutMs)
      logger.info({ inFlight }, 'shutting down: finishing requests in flight')
      // Open keep-alive connections get a short grace in which a request already on its way
      // is answered 503 (with Connection: close) instead of meeting a closed socket.
      const started = performance.now()
      const deadline = started + config.shutdownTimeoutMs
      const graceEnd = started + Math.min(DRAIN_GRACE_MS, config.shutdownTimeoutMs)
      const settled = () => inFlight === 0 && (connections === 0 || performance.now() >= graceEnd)
      while (!settled() && performance.now() < deadline) await new Promise((r) => setTimeout(r, 5))
      if (inFlight > 0) {
        logger.warn(
          { inFlight, timeoutMs: config.shutdownTimeoutMs },
          'requests still open at the shutdown timeout',
        )
        app.server.closeAllConnections()
      }
      await app.close()
      const { complete } = await runtime.close({ deadline: deadlineSignal })
      if (!complete) {
        logger.warn(
          { timeoutMs: config.shutdownTimeoutMs },
          'background work stopped at the shutdown timeout; what is left is done after the next start',
        )
      }
      logger.info('stopped')
    })()
    return stopping
  }
  return { runtime, app, url, stop }
}

/** `segflow serve`: runs until SIGTERM or SIGINT, then stops gracefully. */
export async function serve(config: Config): Promise<void> {
  let pii: () => ReadonlySet<string> = () => new Set()
  const logger = pino({ level: config.logLevel, ...privateLogOptions(() => pii()) })
  const server = await startServer(config, { logger })
  pii = () => server.runtime.schemas.piiFields()
  const onSignal = (signal: NodeJS.Signals) => {
    logger.info({ signal }, 'signal received')
    server.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed')
        process.exit(1)
      },
    )
  }
  process.once('SIGTERM', onSignal)
  process.once('SIGINT', onSignal)
}
