import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify'
import { loadConfig } from '../../src/cli/config.js'
import { openRuntime } from '../../src/cli/runtime.js'
import type { Runtime, RuntimeOptions } from '../../src/cli/runtime.js'
import { buildApp } from '../../src/http/app.js'
import { ManualClock } from '../../src/shared/clock.js'
import type { Clock } from '../../src/shared/clock.js'
import type { StoreKind } from '../../src/store/store.js'
import { manualTimers } from './scenario.js'
import { newTestStore } from './stores.js'
import type { TestStore } from './stores.js'

export const WRITE_KEY = 'test-write-key-0001'
export const ADMIN_KEY = 'test-admin-key-0001'

/** A runtime on a fresh store with known keys, and its HTTP app (never listening). */
export interface TestApp {
  readonly rt: Runtime
  readonly app: FastifyInstance
  readonly testStore: TestStore
  /** POST a JSON body to the tracking API with the write key as Basic auth. */
  track(
    url: string,
    payload: unknown,
    headers?: Record<string, string>,
  ): Promise<LightMyRequestResponse>
  /** Call the admin API with the admin key. */
  admin(
    method: InjectOptions['method'],
    url: string,
    payload?: unknown,
  ): Promise<LightMyRequestResponse>
  close(): Promise<void>
}

export function basic(key: string): string {
  return `Basic ${Buffer.from(`${key}:`).toString('base64')}`
}

export async function newTestApp(
  kind: StoreKind,
  options: {
    clock?: Clock
    env?: Record<string, string>
    backfillPageSize?: number
    delivery?: RuntimeOptions['delivery']
    random?: () => number
  } = {},
): Promise<TestApp> {
  const testStore = await newTestStore(kind)
  const config = loadConfig({ ...options.env })
  const rt = await openRuntime(config, {
    store: testStore.store,
    clock: options.clock ?? new ManualClock(Date.parse('2026-06-01T12:00:00Z')),
    timers: manualTimers,
    ...(options.backfillPageSize ? { backfillPageSize: options.backfillPageSize } : {}),
    ...(options.delivery ? { delivery: options.delivery } : {}),
    ...(options.random ? { random: options.random } : {}),
  })
  await rt.keys.bootstrap({ writeKey: WRITE_KEY, adminKey: ADMIN_KEY })
  const app = await buildApp(rt)
  return {
    rt,
    app,
    testStore,
    track: (url, payload, headers = {}) =>
      app.inject({
        method: 'POST',
        url,
        headers: {
          authorization: basic(WRITE_KEY),
          'content-type': 'application/json',
          ...headers,
        },
        payload:
          typeof payload === 'string' || Buffer.isBuffer(payload)
            ? payload
            : JSON.stringify(payload),
      }),
    admin: (method, url, payload) =>
      app.inject({
        method,
        url,
        headers: {
          authorization: `Bearer ${ADMIN_KEY}`,
          ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(payload === undefined ? {} : { payload: JSON.stringify(payload) }),
      }),
    close: async () => {
      await app.close()
      await rt.close()
      await testStore.location.destroy()
    },
  }
}
