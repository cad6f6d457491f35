import { Analytics } from '@segment/analytics-node'
import RudderAnalytics from '@rudderstack/rudder-sdk-node'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import pino from 'pino'
import { loadConfig } from '../src/cli/config.js'
import { startServer } from '../src/cli/serve.js'
import type { Server } from '../src/cli/serve.js'
import { ADMIN_KEY, WRITE_KEY } from './helpers/runtime.js'
import { newStoreLocation, testStoreKinds } from './helpers/stores.js'
import type { StoreLocation } from './helpers/stores.js'

describe.each(testStoreKinds())(
  'unmodified Segment and RudderStack SDKs against segflow on %s',
  (kind) => {
    let location: StoreLocation
    let server: Server
    beforeEach(async () => {
      location = await newStoreLocation(kind)
      const config = loadConfig({
        ...location.env,
        SEGFLOW_PORT: '0',
        SEGFLOW_WRITE_KEY: WRITE_KEY,
        SEGFLOW_ADMIN_KEY: ADMIN_KEY,
      })
      server = await startServer(config, {
        logger: pino({ level: 'silent' }),
        print: () => undefined,
      })
    })
    afterEach(async () => {
      await server.stop()
      await location.destroy()
    })

    it('delivers identify traits and track events that show up on the profile', async () => {
      const analytics = new Analytics({
        writeKey: WRITE_KEY,
        host: server.url,
        flushAt: 3,
        maxRetries: 0,
      })
      const errors: unknown[] = []
      analytics.on('error', (e) => errors.push(e))
      analytics.identify({
        anonymousId: 'anon-1',
        traits: { plan: 'pro', email: 'ada@example.com' },
        userId: 'user-1',
      })
      analytics.track({
        userId: 'user-1',
        event: 'Viewed Pricing',
        properties: { plan: 'pro', price: 49 },
      })
      analytics.track({ anonymousId: 'anon-1', event: 'Added To Cart', properties: { sku: 'A-1' } })
      analytics.page({ userId: 'user-1', name: 'Pricing' })
      await analytics.closeAndFlush({ timeout: 10_000 })
      expect(errors).toEqual([])

      const get = (url: string) =>
        fetch(`${server.url}${url}`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } })
      const profile = (await (await get('/api/profiles/user-1')).json()) as Record<string, unknown>
      expect(profile).toMatchObject({
        userId: 'user-1',
        anonymousIds: ['anon-1'],
        traits: { plan: 'pro', email: 'ada@example.com' },
      })
      const events = (await (await get('/api/profiles/anon-1/events')).json()) as {
        items: Array<{
          type: string
          name: string | null
          properties: Record<string, unknown> | null
          context: Record<string, unknown> | null
        }>
      }
      const tracks = events.items.filter((e) => e.type === 'track')
      expect(tracks.map((e) => e.name).sort()).toEqual(['Added To Cart', 'Viewed Pricing'])
      expect(tracks.find((e) => e.name === 'Viewed Pricing')?.properties).toEqual({
        plan: 'pro',
        price: 49,
      })
      expect(events.items.map((e) => e.type).sort()).toEqual(['identify', 'page', 'track', 'track'])
      // The client's own context (library name and version) is kept with each event.
      expect(tracks[0]!.context).toMatchObject({ library: { name: '@segment/analytics-node' } })
    })

    it('accepts the unmodified RudderStack node SDK (gzip bodies, Basic auth)', async () => {
      const client = new RudderAnalytics(WRITE_KEY, {
        dataPlaneUrl: server.url,
        flushAt: 10,
        flushInterval: 60_000,
        retryCount: 0,
      })
      client.identify({
        userId: 'rudder-1',
        anonymousId: 'rs-anon',
        traits: { plan: 'team', seats: 4 },
      })
      client.track({ userId: 'rudder-1', event: 'Invited Teammate', properties: { count: 2 } })
      await new Promise<void>((resolve, reject) =>
        client.flush((err?: unknown) => (err ? reject(err) : resolve())),
      )

      const get = (url: string) =>
        fetch(`${server.url}${url}`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } })
      const profile = (await (await get('/api/profiles/rs-anon')).json()) as Record<string, unknown>
      expect(profile).toMatchObject({ userId: 'rudder-1', traits: { plan: 'team', seats: 4 } })
      const events = (await (await get('/api/profiles/rudder-1/events')).json()) as {
        items: Array<{
          type: string
          name: string | null
          properties: Record<string, unknown> | null
        }>
      }
      expect(events.items.map((e) => [e.type, e.name])).toEqual(
        expect.arrayContaining([
          ['identify', null],
          ['track', 'Invited Teammate'],
        ]),
      )
      expect(events.items.find((e) => e.type === 'track')?.properties).toEqual({ count: 2 })
    })
  },
)
