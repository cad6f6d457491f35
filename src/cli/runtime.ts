import { join } from 'node:path'
import { ProfileService } from '../engine/profiles.js'
import { Writer } from '../engine/writer.js'
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
  /** Drains accepted work, then closes the store. */
  close(): Promise<void>
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
export async function openRuntime(
  config: Config,
  options: { clock?: Clock; store?: Store } = {},
): Promise<Runtime> {
  const clock = options.clock ?? systemClock
  const store = options.store ?? openStore(config)
  try {
    await store.migrate()
  } catch (e) {
    await store.close().catch(() => undefined)
    throw e
  }
  const metrics = new Metrics()
  const writer = new Writer(store, clock)
  const queue = new GroupCommit(writer, clock, {
    maxQueuedMessages: config.ingestQueueLimit,
    maxBatchMessages: config.commitBatch,
    onCommit: (info) => metrics.onCommit(info),
  })
  metrics.trackQueueDepth(() => queue.depth)
  const ingestor = new Ingestor(queue, clock, metrics)
  const keys = new KeyService(store, clock)
  const profiles = new ProfileService(store, (m) => queue.submit(m), clock)
  return {
    config,
    clock,
    store,
    keys,
    queue,
    ingestor,
    profiles,
    metrics,
    async close() {
      await queue.close()
      await store.close()
    },
  }
}
