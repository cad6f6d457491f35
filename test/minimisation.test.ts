import { Writable } from 'node:stream'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { buildApp } from '../src/http/app.js'
import { importFile } from '../src/ingest/import.js'
import { privateLogOptions } from '../src/privacy/log-mask.js'
import { ManualClock } from '../src/shared/clock.js'
import { ADMIN_KEY, newTestApp, WRITE_KEY } from './helpers/runtime.js'
import type { TestApp } from './helpers/runtime.js'
import { testStoreKinds } from './helpers/stores.js'

const SCHEMA = {
  mode: 'drop',
  traits: {
    email: { type: 'string', pii: true },
    plan: { type: 'string' },
    seats: { type: 'number' },
  },
  events: {
    'Order Completed': {
      properties: { revenue: { type: 'number' }, currency: { type: 'string' } },
    },
    '*': { properties: { path: { type: 'string' } } },
  },
}

describe.each(testStoreKinds())('data minimisation on %s', (kind) => {
  let t: TestApp

  beforeEach(async () => {
    t = await newTestApp(kind, { clock: new ManualClock(Date.parse('2026-06-01T12:00:00Z')) })
  })
  afterEach(async () => {
    await t.close()
  })

  const profile = async (id: string) => (await t.admin('GET', `/api/profiles/${id}`)).json()
  const events = async (id: string) =>
    (await t.admin('GET', `/api/profiles/${id}/events`)).json().items as {
      name: string | null
      properties: Record<string, unknown> | null
      traits: Record<string, unknown> | null
      context: Record<string, unknown> | null
    }[]

  it('keeps only the fields the schema names (mode drop), counts the rest, and shows them in /metrics', async () => {
    const put = await t.admin('PUT', '/api/schema', SCHEMA)
    expect(put.statusCode, put.body).toBe(200)
    expect(put.json()).toMatchObject({ mode: 'drop', traits: { email: { pii: true } } })
    await t.track('/v1/identify', {
      userId: 'ann',
      traits: { email: 'ann@x.io', plan: 'pro', seats: 'three', ssn: '078-05-1120' },
      // RudderStack puts traits here too: they go the same way.
      context: { traits: { shoe_size: 38 } },
    })
    await t.track('/v1/track', {
      userId: 'ann',
      event: 'Order Completed',
      properties: { revenue: 12.5, currency: 'EUR', card_number: '4111', path: '/checkout' },
    })
    await t.track('/v1/page', {
      userId: 'ann',
      name: 'Home',
      properties: { path: '/', referrer: 'x' },
    })
    expect((await profile('ann')).traits).toEqual({ email: 'ann@x.io', plan: 'pro' })
    const stored = await events('ann')
    const order = stored.find((e) => e.name === 'Order Completed')!
    expect(order.properties).toEqual({ revenue: 12.5, currency: 'EUR', path: '/checkout' })
    expect(stored.find((e) => e.name === 'Home')!.properties).toEqual({ path: '/' })
    const identify = stored.find((e) => e.traits !== null)!
    expect(identify.traits).toEqual({ email: 'ann@x.io', plan: 'pro' })
    expect(JSON.stringify(stored)).not.toMatch(/078-05-1120|4111|shoe_size|three|referrer/)

    const view = (await t.admin('GET', '/api/schema')).json()
    expect(view.dropped).toEqual({
      'traits.seats': 1,
      'traits.ssn': 1,
      'traits.shoe_size': 1,
      'properties.card_number': 1,
      'properties.referrer': 1,
    })
    const metrics = (await t.app.inject({ method: 'GET', url: '/metrics' })).body
    expect(metrics).toMatch(/segflow_dropped_fields_total\{kind="trait"\} 3/)
    expect(metrics).toMatch(/segflow_dropped_fields_total\{kind="property"\} 2/)
  })

  it('refuses a message with a field outside the schema (mode reject), naming it, in single, batch and import', async () => {
    expect((await t.admin('PUT', '/api/schema', { ...SCHEMA, mode: 'reject' })).statusCode).toBe(
      200,
    )
    const single = await t.track('/v1/identify', {
      userId: 'bob',
      traits: { plan: 'pro', ssn: 'x' },
    })
    expect(single.statusCode).toBe(400)
    expect(single.json().error.issues).toEqual([
      { field: 'traits.ssn', reason: expect.stringContaining('not in the workspace') },
    ])
    const batch = await t.track('/v1/batch', {
      batch: [
        { type: 'identify', userId: 'bob', traits: { plan: 'pro' } },
        { type: 'track', userId: 'bob', event: 'Order Completed', properties: { revenue: '12' } },
      ],
    })
    expect(batch.statusCode).toBe(200)
    expect(batch.json()).toMatchObject({
      accepted: 1,
      rejected: [
        {
          index: 1,
          field: 'properties.revenue',
          reason: expect.stringContaining('must be a number'),
        },
      ],
    })
    const dir = mkdtempSync(join(tmpdir(), 'segflow-min-'))
    try {
      writeFileSync(join(dir, 'people.csv'), 'userId,plan,ssn\ncat,pro,1\n')
      const r = await importFile(join(dir, 'people.csv'), t.rt.ingestor, t.rt.clock, {
        format: 'csv',
        workspaceId: 'default',
      })
      expect(r.stored).toBe(0)
      expect(r.rejected).toEqual([{ line: 2, field: 'traits.ssn', reason: expect.any(String) }])
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
    expect((await t.admin('GET', '/api/profiles/cat')).statusCode).toBe(404)
    // Allow: everything is kept again.
    expect((await t.admin('DELETE', '/api/schema')).json()).toMatchObject({ mode: 'allow' })
    expect(
      (await t.track('/v1/identify', { userId: 'bob', traits: { ssn: 'x' } })).statusCode,
    ).toBe(200)
  })

  it('lets null through for any named field (it removes a trait), in drop and reject modes', async () => {
    expect((await t.admin('PUT', '/api/schema', { ...SCHEMA, mode: 'reject' })).statusCode).toBe(
      200,
    )
    await t.track('/v1/identify', { userId: 'eve', traits: { plan: 'pro', seats: 3 } })
    const res = await t.track('/v1/identify', { userId: 'eve', traits: { seats: null } })
    expect(res.statusCode, res.body).toBe(200)
    expect((await profile('eve')).traits).toEqual({ plan: 'pro' })
    // An unnamed field is still refused when null.
    expect(
      (await t.track('/v1/identify', { userId: 'eve', traits: { ssn: null } })).statusCode,
    ).toBe(400)
    expect((await t.admin('PUT', '/api/schema', SCHEMA)).statusCode).toBe(200)
    await t.track('/v1/identify', { userId: 'eve', traits: { plan: null } })
    expect((await profile('eve')).traits).toEqual({})
    expect((await t.admin('GET', '/api/schema')).json().dropped).toEqual({})
  })

  it('refuses a bad schema, naming the field', async () => {
    for (const [body, field] of [
      [{ mode: 'strict' }, 'mode'],
      [{ mode: 'drop', traits: { plan: { type: 'text' } } }, 'traits.plan.type'],
      [{ mode: 'drop', traits: { plan: { pii: 'yes' } } }, 'traits.plan.pii'],
      [{ mode: 'drop', events: { X: { props: {} } } }, 'events.X'],
      [{ mode: 'drop', extra: 1 }, 'extra'],
    ] as const) {
      const res = await t.admin('PUT', '/api/schema', body)
      expect(res.statusCode, JSON.stringify(body)).toBe(400)
      expect(res.json().error.issues.map((i: { field: string }) => i.field)).toContain(field)
    }
    expect((await t.admin('GET', '/api/schema')).json()).toMatchObject({
      mode: 'allow',
      traits: {},
    })
  })

  it('masks PII fields and people named in URLs in the logs', async () => {
    await t.admin('PUT', '/api/schema', { ...SCHEMA, mode: 'allow' })
    const lines: string[] = []
    const sink = new Writable({
      write(chunk: Buffer, _e, done) {
        lines.push(chunk.toString())
        done()
      },
    })
    const logger = pino(
      { level: 'info', ...privateLogOptions(() => t.rt.schemas.piiFields()) },
      sink,
    )
    const app = await buildApp({ ...t.rt, logger })
    try {
      await t.track('/v1/identify', { userId: 'dan', traits: { email: 'dan@secret.io' } })
      await app.inject({
        method: 'GET',
        url: '/api/profiles/dan@secret.io?x=dan@secret.io',
        headers: { authorization: `Bearer ${ADMIN_KEY}` },
      })
      // analytics.js fetches its settings with the write key in the path.
      const settings = await app.inject({
        method: 'GET',
        url: `/v1/projects/${WRITE_KEY}/settings`,
      })
      expect(settings.statusCode).toBe(200)
      logger.info({ traits: { email: 'dan@secret.io', plan: 'pro' } }, 'a message')
      const text = lines.join('')
      expect(text).toContain('/v1/projects/[key]/settings')
      expect(text).not.toContain(WRITE_KEY)
      expect(text).toContain('/api/profiles/[person]?[query]')
      expect(text).toContain('"email":"[pii]"')
      expect(text).toContain('"plan":"pro"')
      expect(text).not.toContain('dan@secret.io')
    } finally {
      await app.close()
    }
  })
})
