import { join } from 'node:path'
import { AuditLog } from '../privacy/index.js'
import { PrivacyService } from '../privacy/requests.js'
import { SchemaService } from '../privacy/schema-service.js'
import { PLAINTEXT, secretSealer } from '../shared/sealer.js'
import { Engine } from '../engine/engine.js'
import { ProfileService } from '../engine/profiles.js'
import { Scheduler } from '../engine/scheduler.js'
import { desugarContext } from '../engine/segments.js'
import type { TimerHost } from '../engine/scheduler.js'
import { ProfileInsights } from '../engine/insights.js'
import { LifecycleService } from '../engine/lifecycle-service.js'
import { ScoreService } from '../engine/score-service.js'
import { SegmentService } from '../engine/segment-service.js'
import { isStageKey } from '../rules/desugar.js'
import { Writer } from '../engine/writer.js'
import { DeliveryWorker } from '../delivery/worker.js'
import type { DeliveryOptions } from '../delivery/worker.js'
import { WebhookService } from '../delivery/webhook-service.js'
import { AutomationRunner, AutomationService, automationsUsing } from '../delivery/automations.js'
import { Mailer } from '../delivery/email.js'
import type { EmailStatusHook } from '../delivery/email.js'
import { EmailAdmin } from '../delivery/email-admin.js'
import { EmailSettingsService } from '../delivery/settings.js'
import { TemplatePreviews } from '../content/previews.js'
import { RenderPool } from '../content/render-pool.js'
import { TemplateService } from '../content/templates.js'
import { GroupCommit } from '../ingest/group-commit.js'
import { Ingestor } from '../ingest/ingestor.js'
import { KeyService } from '../keys/key-service.js'
import { UserService } from '../users/user-service.js'
import { systemClock } from '../shared/clock.js'
import type { Clock } from '../shared/clock.js'
import { Metrics } from '../shared/metrics.js'
import { PostgresStore } from '../store/postgres/postgres-store.js'
import { SqliteStore } from '../store/sqlite/sqlite-store.js'
import type { Store } from '../store/store.js'
import { LiveFeed } from '../delivery/live-feed.js'
import { OverviewService } from '../engine/overview.js'
import { ConfigError } from './config.js'
import type { Config } from './config.js'

/** The parts of a running segflow, wired together. */
export interface Runtime {
  readonly config: Config
  readonly clock: Clock
  readonly store: Store
  readonly keys: KeyService
  readonly queue: GroupCommit
  readonly ingestor: Ingestor
  readonly profiles: ProfileService
  readonly metrics: Metrics
  readonly engine: Engine
  readonly segments: SegmentService
  readonly insights: ProfileInsights
  readonly scores: ScoreService
  readonly lifecycle: LifecycleService
  /** Fires time-driven transitions; started by `start()`. */
  readonly scheduler: Scheduler
  /** Sends webhook deliveries; started by `start()`. */
  readonly delivery: DeliveryWorker
  readonly webhooks: WebhookService
  readonly templates: TemplateService
  readonly previews: TemplatePreviews
  readonly emailSettings: EmailSettingsService
  readonly mailer: Mailer
  readonly email: EmailAdmin
  readonly automations: AutomationService
  /** Runs automation actions; started by `start()`. */
  readonly automationRunner: AutomationRunner
  /** Every workspace's audit log. */
  readonly audit: AuditLog
  /** GDPR/CCPA export and erasure requests. */
  readonly privacy: PrivacyService
  /** Each workspace's data schema (data minimisation). */
  readonly schemas: SchemaService
  /** People who log in: users, roles, sessions. */
  readonly users: UserService
  /** The dashboard's workspace numbers and segment trends. */
  readonly overview: OverviewService
  /** Transitions as they are committed, for people watching (server-sent events). */
  readonly liveFeed: LiveFeed
  /** Starts background work: timers and interrupted backfills. */
  start(): Promise<void>
  /**
   * Stops background work and drains accepted work, then closes the store. With a
   * `deadline`, background loops stop when it aborts (requests in flight are cancelled, work
   * not done is left for the next start); `complete` is false when something was left.
   */
  close(options?: { deadline?: AbortSignal }): Promise<{ complete: boolean }>
}

export interface RuntimeOptions {
  readonly clock?: Clock
  /** An already-open store (tests); otherwise one is opened from the config. */
  readonly store?: Store
  /** Where the scheduler sleeps (tests pass their own). Default: real timers. */
  readonly timers?: TimerHost
  /** Called with errors of background work (scheduler, backfills). */
  readonly onError?: (e: unknown) => void
  /** Profiles per backfill transaction. Default 500. */
  readonly backfillPageSize?: number
  /** How deliveries are sent and retried (tests inject jitter and timeouts). */
  readonly delivery?: Omit<DeliveryOptions, 'timers' | 'onError' | 'allowPrivate'>
  /** Jitter of automation retries, in [0, 1). Default Math.random. */
  readonly random?: () => number
}

export function openStore(config: Config): Store {
  if (config.databaseUrl) {
    return new PostgresStore({
      connectionString: config.databaseUrl,
      ...(config.databaseSchema ? { schema: config.databaseSchema } : {}),
    })
  }
  return new SqliteStore({
    path: join(config.dataDir, 'segflow.db'),
    synchronous: config.sqliteSynchronous,
  })
}

/** The composition root: config → store (migrated) → engine → ingestion. */
export async function openRuntime(config: Config, options: RuntimeOptions = {}): Promise<Runtime> {
  const clock = options.clock ?? systemClock
  const store = options.store ?? openStore(config)
  try {
    await store.migrate()
    // Opens every stored credential now: a missing or wrong key fails at start, not later.
    await store.useSealer(config.secretKey ? secretSealer(config.secretKey) : PLAINTEXT)
  } catch (e) {
    await store.close().catch(() => undefined)
    // A missing or wrong SEGFLOW_SECRET_KEY is a configuration mistake: say so plainly.
    if (e instanceof Error && e.message.includes('SEGFLOW_SECRET_KEY'))
      throw new ConfigError(e.message)
    throw e
  }
  const onError = options.onError ?? (() => undefined)
  const metrics = new Metrics()
  let scheduler: Scheduler | null = null
  const delivery = new DeliveryWorker(store, clock, {
    ...options.delivery,
    allowPrivate: config.webhookAllowPrivate,
    ...(options.timers ? { timers: options.timers } : {}),
    onError,
  })
  let runner: AutomationRunner | null = null
  const liveFeed = new LiveFeed(store, clock, {
    ...(options.timers ? { timers: options.timers } : {}),
    onError,
  })
  const engine = new Engine(store, clock, {
    onTimer: (at) => scheduler?.notify(at),
    onTransitions: () => {
      delivery.kick()
      runner?.kick()
      liveFeed.kick()
    },
    ...(options.backfillPageSize ? { backfillPageSize: options.backfillPageSize } : {}),
    historyAfterMs: config.historyAfterMs,
  })
  metrics.trackEngine(() => engine.stats)
  await engine.load()
  // The segment counters, computed now for a workspace that has none yet under its consent
  // mode (a database from before them), so that listing segments reads them from the start.
  for (const ws of await store.listWorkspaces()) {
    await store.write((tx) => tx.refreshSegmentCounts(ws.id))
  }
  scheduler = new Scheduler(store, engine, clock, options.timers, onError)
  const writer = new Writer(store, clock, engine)
  const queue = new GroupCommit(writer, clock, {
    maxQueuedMessages: config.ingestQueueLimit,
    maxBatchMessages: config.commitBatch,
    onCommit: (info) => metrics.onCommit(info),
  })
  metrics.trackQueueDepth(() => queue.depth)
  metrics.trackImports(() => store.importedMessages())
  const schemas = new SchemaService(store, clock, metrics)
  await schemas.load()
  const ingestor = new Ingestor(queue, clock, metrics, schemas)
  const audit = new AuditLog(store, clock)
  const keys = new KeyService(store, clock, {
    audit,
    rateLimits: { write: config.rateLimitWrite, admin: config.rateLimitAdmin },
  })
  const users = new UserService(store, clock, {
    publicUrl: config.publicUrl,
    sessionIdleMs: config.sessionIdleMs,
    sessionMaxMs: config.sessionMaxMs,
    audit,
  })
  const insights = new ProfileInsights(store, engine, clock)
  const insight = (ws: string, id: string) => insights.forProfile(ws, id)
  const profiles = new ProfileService(store, (m) => queue.submit(m), clock, insights)
  const segments = new SegmentService(store, engine, clock, onError, (ws, key) =>
    automationsUsing(store, ws, 'segment', key),
  )
  const scores = new ScoreService(store, engine, segments, insights, clock)
  const lifecycle = new LifecycleService(store, engine, segments, clock)
  const webhooks = new WebhookService(store, clock, {
    allowPrivate: config.webhookAllowPrivate,
    ...(options.delivery?.resolve ? { resolve: options.delivery.resolve } : {}),
    kick: () => delivery.kick(),
    usedBy: (ws, id) => automationsUsing(store, ws, 'webhook', id),
  })
  // Lifecycle stages are segments, but templates see them as `lifecycle`, not as segments.
  const segmentList = (ws: string) =>
    [...(engine.segments(ws)?.segments.values() ?? [])]
      .filter((s) => !isStageKey(s.key))
      .map((s) => ({ key: s.key, priority: s.record.priority }))
  const segmentKeys = (ws: string) => new Set(engine.segments(ws)?.segments.keys() ?? [])
  const renderPool = new RenderPool({
    timeoutMs: config.renderTimeoutMs,
    memoryMb: config.renderMemoryMb,
    workers: config.renderWorkers,
  })
  const templates = new TemplateService(store, clock, segmentKeys, renderPool, (ws, key) =>
    automationsUsing(store, ws, 'template', key),
  )
  const submit = (m: Parameters<GroupCommit['submit']>[0]) => queue.submit(m)
  // An unsubscribe or a bounce moves the person out of (or into) segments on email status.
  const onEmailStatus: EmailStatusHook = (tx, ws, profileId) =>
    engine.contactChanged(tx, ws, [profileId], ['email_status'])
  const mailer = new Mailer(store, templates, clock, {
    smtpUrl: config.smtpUrl,
    defaultFrom: config.emailFrom,
    publicUrl: config.publicUrl,
    priorities: (ws) => new Map(segmentList(ws).map((s) => [s.key, s.priority])),
    insight,
    submit,
    onEmailStatus,
  })
  const previews = new TemplatePreviews(store, templates, clock, {
    publicUrl: config.publicUrl,
    segments: segmentList,
    insights: (ws, ids, memberships) => insights.forProfiles(ws, ids, memberships),
  })
  // A new consent mode changes what `reachable` means: those segments are recomputed.
  const emailSettings = new EmailSettingsService(store, clock, config.emailFrom, (ws) =>
    segments.republishForConsentMode(ws).then(() => undefined),
  )
  const email = new EmailAdmin(store, clock, mailer, onEmailStatus)
  const automations = new AutomationService(store, clock, segmentKeys)
  const automationRunner = new AutomationRunner(store, clock, {
    mailer,
    submit,
    kickDeliveries: () => delivery.kick(),
    desugarContext: (ws) => desugarContext(engine.models(ws), engine.consentMode(ws)),
    ...(options.timers ? { timers: options.timers } : {}),
    ...(options.random ? { random: options.random } : {}),
    onError,
  })
  runner = automationRunner
  const privacy = new PrivacyService(store, engine, clock, audit, () => delivery.kick())
  const overview = new OverviewService(store, engine, clock)
  const running = scheduler
  return {
    config,
    clock,
    store,
    audit,
    privacy,
    schemas,
    keys,
    users,
    overview,
    liveFeed,
    queue,
    ingestor,
    profiles,
    metrics,
    engine,
    segments,
    insights,
    scores,
    lifecycle,
    scheduler: running,
    delivery,
    webhooks,
    templates,
    previews,
    emailSettings,
    mailer,
    email,
    automations,
    automationRunner,
    async start() {
      segments.resume()
      await running.start()
      delivery.start()
      automationRunner.start()
    },
    async close(closeOptions = {}) {
      const { deadline } = closeOptions
      await liveFeed.close()
      const work = Promise.all([
        // Automations write through the queue: they stop first.
        automationRunner.stop().then(() => queue.close()),
        running.stop(),
        delivery.stop(deadline),
        segments.stop(),
      ])
      const complete = await settledBefore(work, deadline)
      // Past the deadline, what finished in the meantime (an answer already received) gets a
      // moment to be recorded; anything still running is left undone, uncommitted.
      if (!complete) await settledBefore(work, AbortSignal.timeout(CLOSE_GRACE_MS))
      mailer.close()
      await settledBefore(renderPool.close(), AbortSignal.timeout(CLOSE_GRACE_MS))
      await settledBefore(store.close(), complete ? undefined : AbortSignal.timeout(CLOSE_GRACE_MS))
      return { complete }
    },
  }
}

/** After a shutdown deadline, how long each remaining step may take before it is abandoned. */
const CLOSE_GRACE_MS = 500

/** Whether `work` settled (resolved or rejected) before `deadline` aborted; rejections are rethrown. */
async function settledBefore(work: Promise<unknown>, deadline?: AbortSignal): Promise<boolean> {
  if (!deadline) {
    await work
    return true
  }
  if (deadline.aborted) return false
  let onAbort = () => undefined as void
  const aborted = new Promise<false>((resolve) => {
    onAbort = () => resolve(false)
    deadline.addEventListener('abort', onAbort, { once: true })
  })
  const done = work.then(() => true as const)
  // Settling after the deadline is nobody's concern any more: not an unhandled rejection.
  done.catch(() => undefined)
  try {
    return await Promise.race([done, aborted])
  } finally {
    deadline.removeEventListener('abort', onAbort)
  }
}
