import Fastify from 'fastify'
import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import type { ProfileService } from '../engine/profiles.js'
import type { SegmentService } from '../engine/segment-service.js'
import type { WebhookService } from '../delivery/webhook-service.js'
import type { Ingestor } from '../ingest/ingestor.js'
import type { KeyService } from '../keys/key-service.js'
import type { Metrics } from '../shared/metrics.js'
import { SegflowError } from '../shared/errors.js'
import type { Store } from '../store/store.js'
import { requireAdmin } from './admin-auth.js'
import { authRoutes } from './auth-routes.js'
import { userRoutes } from './user-routes.js'
import type { UserService } from '../users/user-service.js'
import { installErrorHandling } from './errors.js'
import { validationError } from './query-schema.js'
import { ingestRoutes } from './ingest-routes.js'
import { profileRoutes } from './profile-routes.js'
import { segmentRoutes } from './segment-routes.js'
import { webhookRoutes } from './webhook-routes.js'
import { automationRoutes } from './automation-routes.js'
import { scoreRoutes } from './score-routes.js'
import type { LifecycleService } from '../engine/lifecycle-service.js'
import type { ScoreService } from '../engine/score-service.js'
import { emailRoutes } from './email-routes.js'
import { templateRoutes } from './template-routes.js'
import type { TemplateRouteDeps } from './template-routes.js'
import type { AutomationService } from '../delivery/automations.js'
import type { Mailer } from '../delivery/email.js'
import { systemRoutes } from './system-routes.js'
import { uiRoutes } from './ui-routes.js'
import { auditRoutes } from './audit-routes.js'
import { dashboardRoutes } from './dashboard-routes.js'
import type { DashboardRouteDeps } from './dashboard-routes.js'
import { privacyRoutes } from './privacy-routes.js'
import { schemaRoutes } from './schema-routes.js'
import type { SchemaService } from '../privacy/schema-service.js'
import type { PrivacyService } from '../privacy/requests.js'
import type { AuditLog } from '../privacy/index.js'

export interface AppDeps extends TemplateRouteDeps, DashboardRouteDeps {
  readonly store: Store
  readonly keys: KeyService
  readonly users: UserService
  readonly ingestor: Ingestor
  readonly profiles: ProfileService
  readonly segments: SegmentService
  readonly webhooks: WebhookService
  readonly automations: AutomationService
  readonly scores: ScoreService
  readonly lifecycle: LifecycleService
  readonly mailer: Mailer
  readonly metrics: Metrics
  readonly audit: AuditLog
  readonly privacy: PrivacyService
  readonly schemas: SchemaService
  /** Request logging; none when omitted (tests). */
  readonly logger?: FastifyBaseLogger
  /** Trust X-Forwarded-* from a proxy in front. Default false. */
  readonly trustProxy?: boolean
  /**
   * True once a graceful shutdown has begun: new requests are refused with 503 and every
   * response asks the client to close its connection. Default: never.
   */
  readonly draining?: () => boolean
  /** HTTPS: the certificate and its key (PEM). */
  readonly https?: { readonly cert: Buffer; readonly key: Buffer } | null
  /** The built dashboard (index.html, assets/). Default: dist/ui of this checkout. */
  readonly uiDir?: string
  /** Told of every route as it is registered (the OpenAPI test). */
  readonly onRoute?: (method: string, url: string) => void
}

/**
 * The HTTP app: the Segment tracking API under /v1, the admin API under /api, health and
 * metrics. It opens no port: `cli/` listens, tests call `app.inject`.
 * @example
 * const app = await buildApp(deps)
 * const res = await app.inject({ method: 'POST', url: '/v1/track', payload })
 */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    ...(deps.https ? { https: { cert: deps.https.cert, key: deps.https.key } } : {}),
    ...(deps.logger ? { loggerInstance: deps.logger } : { logger: false }),
    trustProxy: deps.trustProxy ?? false,
    // Requests that arrive while closing are answered 503 rather than left hanging.
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    bodyLimit: 1024 * 1024,
    // Signed tokens in email links are longer than fastify's default of 100.
    routerOptions: { maxParamLength: 512 },
    // Routes declare their querystrings (query-schema.ts): a parameter no schema names is
    // refused, not stripped (fastify's default removeAdditional), and errors carry the schema
    // and the value so the message can name both (verbose).
    ajv: { customOptions: { removeAdditional: false, verbose: true } },
    schemaErrorFormatter: validationError,
  })
  const onRoute = deps.onRoute
  if (onRoute) {
    app.addHook('onRoute', (r) => {
      for (const m of [r.method].flat()) onRoute(m, r.url)
    })
  }
  installErrorHandling(app)
  const draining = deps.draining
  if (draining) {
    app.addHook('onRequest', async (req) => {
      // Liveness stays true while draining: the process is healthy, only leaving.
      if (draining() && req.url !== '/livez') {
        throw new SegflowError('shutting_down', 'segflow is shutting down; retry shortly', {
          retryAfter: 1,
        })
      }
    })
    app.addHook('onSend', async (_req, reply) => {
      if (draining()) void reply.header('connection', 'close')
    })
  }
  await app.register(systemRoutes, deps)
  await app.register((ui, _opts) => uiRoutes(ui, deps.uiDir ? { dir: deps.uiDir } : {}))
  await app.register((v1, _opts) => ingestRoutes(v1, deps), { prefix: '/v1' })
  await app.register((links, _opts) => emailRoutes(links, deps.mailer))
  await app.register((auth, _opts) =>
    authRoutes(auth, { users: deps.users, secure: deps.https != null }),
  )
  await app.register(
    async (api) => {
      requireAdmin(api, deps.keys, deps.users)
      await auditRoutes(api, deps.audit)
      await userRoutes(api, deps.users)
      await profileRoutes(api, deps.profiles)
      await segmentRoutes(api, deps.segments)
      await webhookRoutes(api, deps.webhooks)
      await templateRoutes(api, deps)
      await automationRoutes(api, deps.automations)
      await scoreRoutes(api, deps.scores, deps.lifecycle)
      await privacyRoutes(api, deps.privacy)
      await schemaRoutes(api, deps.schemas)
      await dashboardRoutes(api, deps)
    },
    { prefix: '/api' },
  )
  await app.ready()
  return app
}
