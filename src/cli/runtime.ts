import { join } from 'node:path'
import { Engine } from '../engine/engine.js'
import { ProfileService } from '../engine/profiles.js'
import { Scheduler } from '../engine/scheduler.js'
import type { TimerHost } from '../engine/scheduler.js'
import { SegmentService } from '../engine/segment-service.js'
import { Writer } from '../engine/writer.js'
import { DeliveryWorker } from '../delivery/worker.js'
import type { DeliveryOptions } from '../delivery/worker.js'
import { WebhookService } from '../delivery/webhook-service.js'
import { GroupCommit } from '../ingest/group-commit.js'
import { Ingestor } from '../ingest/ingestor.js'
import { KeyService } from '../keys/key-service.js'
import { systemClock } from '../shared/clock.js'
import type { Clock } from '../shared/clock.js'
import { Metrics } from '../shared/metrics.js'
import { PostgresStore } from '../store/postgres/postgres-store.js'
import { SqliteStore } from '../store/sqlite/sqlite-store.js'
import type { Store } from '../store/store.js'
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
  /** Fires time-driven transitions; started by `start()`. */
  readonly scheduler: Scheduler
  /** Sends webhook deliveries; started by `start()`. */
  readonly delivery: DeliveryWorker
  readonly webhooks: WebhookService
  /** Starts background work: timers and interrupted backfills. */
  start(): Promise<void>
  /** Drains accepted work, then closes the store. */
  close(): Promise<void>
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
  } catch (e) {
    await store.close().catch(() => undefined)
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
  const engine = new Engine(store, clock, {
    onTimer: (at) => scheduler?.notify(at),
    onTransitions: () => delivery.kick(),
    ...(options.backfillPageSize ? { backfillPageSize: options.backfillPageSize } : {}),
  })
  metrics.trackEngine(() => engine.stats)
  await engine.load()
  scheduler = new Scheduler(store, engine, clock, options.timers, onError)
  const writer = new Writer(store, clock, engine)
  const queue = new GroupCommit(writer, clock, {
    maxQueuedMessages: config.ingestQueueLimit,
    maxBatchMessages: config.commitBatch,
    onCommit: (info) => metrics.onCommit(info),
  })
  metrics.trackQueueDepth(() => queue.depth)
  const ingestor = new Ingestor(queue, clock, metrics)
  const keys = new KeyService(store, clock)
  const profiles = new ProfileService(store, (m) => queue.submit(m), clock)
  const segments = new SegmentService(store, engine, clock, onError)
  const webhooks = new WebhookService(store, clock, {
    allowPrivate: config.webhookAllowPrivate,
    kick: () => delivery.kick(),
  })
  const running = scheduler
  return {
    config,
    clock,
    store,
    keys,
    queue,
    ingestor,
    profiles,
    metrics,
    engine,
    segments,
    scheduler: running,
    delivery,
    webhooks,
    async start() {
      segments.resume()
      await running.start()
      delivery.start()
    },
    async close() {
      await queue.close()
      await running.stop()
      await delivery.stop()
      await segments.stop()
      await store.close()
    },
  }
}
