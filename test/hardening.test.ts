import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { request } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../src/cli/config.js'
import { openRuntime } from '../src/cli/runtime.js'
import { startServer } from '../src/cli/serve.js'
import { ManualClock } from '../src/shared/clock.js'
import { Receiver } from './helpers/receiver.js'
import { ADMIN_KEY, basic, newTestApp, WRITE_KEY } from './helpers/runtime.js'
import { newStoreLocation, testStoreKinds } from './helpers/stores.js'

describe('HTTPS', () => {
  let dir: string
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'segflow-tls-'))
    execFileSync('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '2',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
    ])
  })
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it('serves HTTPS when SEGFLOW_TLS_CERT and SEGFLOW_TLS_KEY are set', async () => {
    const server = await startServer(
      loadConfig({
        SEGFLOW_DATA_DIR: join(dir, 'data'),
        SEGFLOW_PORT: '0',
        SEGFLOW_TLS_CERT: join(dir, 'cert.pem'),
        SEGFLOW_TLS_KEY: join(dir, 'key.pem'),
        SEGFLOW_WRITE_KEY: WRITE_KEY,
        SEGFLOW_ADMIN_KEY: ADMIN_KEY,
      }),
      { logger: pino({ level: 'silent' }), print: () => undefined },
    )
    try {
      expect(server.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/)
      const ca = (await import('node:fs')).readFileSync(join(dir, 'cert.pem'))
      const call = (path: string, body?: unknown) =>
        new Promise<{ status: number; body: string }>((resolve, reject) => {
          const req = request(
            `${server.url}${path}`,
            {
              ca,
              method: body === undefined ? 'GET' : 'POST',
              headers: { authorization: basic(WRITE_KEY), 'content-type': 'application/json' },
            },
            (res) => {
              let text = ''
              res.on('data', (c: Buffer) => (text += c.toString()))
              res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }))
            },
          )
          req.on('error', reject)
          req.end(body === undefined ? undefined : JSON.stringify(body))
        })
      expect((await call('/healthz')).status).toBe(200)
      expect((await call('/v1/track', { userId: 'ann', event: 'Viewed' })).status).toBe(200)
      // Plain HTTP on the same port is not answered as HTTP.
      const plain = await fetch(server.url.replace('https:', 'http:') + '/healthz').then(
        (r) => r.status,
        () => 'refused',
      )
      expect(plain).not.toBe(200)
    } finally {
      await server.stop()
    }
  })

  it('refuses a half or unreadable TLS configuration, naming the variable', () => {
    expect(() => loadConfig({ SEGFLOW_TLS_CERT: join(dir, 'cert.pem') })).toThrow(
      /set both SEGFLOW_TLS_CERT and SEGFLOW_TLS_KEY.*only SEGFLOW_TLS_CERT is set/,
    )
    writeFileSync(join(dir, 'junk.pem'), 'not a certificate')
    expect(() =>
      loadConfig({
        SEGFLOW_TLS_CERT: join(dir, 'junk.pem'),
        SEGFLOW_TLS_KEY: join(dir, 'key.pem'),
      }),
    ).toThrow(/SEGFLOW_TLS_CERT=.*junk\.pem.*not a PEM file/)
    expect(() =>
      loadConfig({
        SEGFLOW_TLS_CERT: join(dir, 'missing.pem'),
        SEGFLOW_TLS_KEY: join(dir, 'key.pem'),
      }),
    ).toThrow(/SEGFLOW_TLS_CERT=.*missing\.pem.*cannot be used/)
    expect(() => loadConfig({ SEGFLOW_SECRET_KEY: 'short' })).toThrow(/at least 16 characters/)
  })
})

describe('rate limits per key', () => {
  it('answers 429 with Retry-After once a key is over its rate, per key, and refills with time', async () => {
    const clock = new ManualClock(Date.parse('2026-06-01T12:00:00Z'))
    const t = await newTestApp('sqlite', {
      clock,
      env: { SEGFLOW_RATE_LIMIT_ADMIN: '2', SEGFLOW_RATE_LIMIT_WRITE: '3' },
    })
    try {
      await t.rt.store.ensureWorkspace({ id: 'other', name: 'Other', createdAt: clock.now() })
      await t.rt.keys.create({ workspaceId: 'other', kind: 'admin', key: 'other-admin-key-1' })
      // A burst of twice the rate, then 429.
      for (let i = 0; i < 4; i++)
        expect((await t.admin('GET', '/api/segments')).statusCode).toBe(200)
      const over = await t.admin('GET', '/api/segments')
      expect(over.statusCode).toBe(429)
      expect(over.headers['retry-after']).toBe('1')
      expect(over.json().error).toMatchObject({
        code: 'rate_limited',
        message: expect.stringContaining('more than 2 requests a second'),
      })
      // Another key has its own allowance.
      const other = await t.app.inject({
        method: 'GET',
        url: '/api/segments',
        headers: { authorization: 'Bearer other-admin-key-1' },
      })
      expect(other.statusCode).toBe(200)
      // Half a second later one request is allowed again (2 a second), then not.
      clock.advance(500)
      expect((await t.admin('GET', '/api/segments')).statusCode).toBe(200)
      expect((await t.admin('GET', '/api/segments')).statusCode).toBe(429)

      // Write keys: 3 a second, bursts of 6.
      const codes: number[] = []
      for (let i = 0; i < 7; i++)
        codes.push((await t.track('/v1/track', { userId: `u${i}`, event: 'X' })).statusCode)
      expect(codes).toEqual([200, 200, 200, 200, 200, 200, 429])
    } finally {
      await t.close()
    }
  })
})

describe.each(testStoreKinds())('credentials at rest on %s', (kind) => {
  it('keeps webhook secrets encrypted with SEGFLOW_SECRET_KEY, signs with them, and refuses the wrong key', async () => {
    const location = await newStoreLocation(kind)
    const rx = await new Receiver().start()
    const KEY = 'correct horse battery staple 42'
    const open = (env: Record<string, string>) =>
      openRuntime(loadConfig({ ...location.env, SEGFLOW_WEBHOOK_ALLOW_PRIVATE: 'true', ...env }), {
        delivery: { random: () => 0.5, timeoutMs: 1000 },
      })
    try {
      // Written before any key was set: stored as it is.
      let rt = await open({})
      await rt.keys.bootstrap({ writeKey: WRITE_KEY, adminKey: ADMIN_KEY })
      const first = (await rt.webhooks.put('default', 'old', { url: rx.url })).webhook as {
        secret: string
      }
      const raw = async () =>
        (await rt.store.query(`SELECT id, secrets FROM webhooks ORDER BY id`, [])).map((r) =>
          String(r.secrets),
        )
      expect((await raw())[0]).toContain(first.secret)
      await rt.close()

      // With the key: the old one is sealed at start, new ones are sealed when written.
      rt = await open({ SEGFLOW_SECRET_KEY: KEY })
      const second = (await rt.webhooks.put('default', 'new', { url: rx.url })).webhook as {
        secret: string
      }
      for (const stored of await raw()) {
        expect(stored.startsWith('enc:v1:')).toBe(true)
        expect(stored).not.toContain('whsec_')
      }
      // Deliveries are signed with the real secret.
      await rt.ingestor.single('default', 'identify', { userId: 'ann', traits: { a: 1 } })
      await rt.segments.publish('default', 'all', { rule: { trait: 'a', eq: 1 } })
      await rt.segments.settled('default', 'all')
      await rt.delivery.runDue()
      expect(rx.received.length).toBeGreaterThan(0)
      // Each delivery verifies with the secret of the endpoint it was for.
      const verifies = (r: (typeof rx.received)[number], secret: string) => {
        try {
          rx.verify(r, secret, Date.now())
          return true
        } catch {
          return false
        }
      }
      expect(rx.received).toHaveLength(2)
      expect(rx.received.filter((r) => verifies(r, first.secret))).toHaveLength(1)
      expect(rx.received.filter((r) => verifies(r, second.secret))).toHaveLength(1)
      await rt.close()

      // Without the key, or with another, segflow does not start, and says why.
      await expect(open({})).rejects.toThrow(/encrypted: set SEGFLOW_SECRET_KEY/)
      await expect(open({ SEGFLOW_SECRET_KEY: 'another key, 32 characters long' })).rejects.toThrow(
        /SEGFLOW_SECRET_KEY does not open the stored credentials/,
      )
    } finally {
      await rx.stop()
      await location.destroy()
    }
  })
})
