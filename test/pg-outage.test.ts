import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ADMIN_KEY, basic, WRITE_KEY } from './helpers/runtime.js'
import { PgCluster } from './helpers/pg-cluster.js'
import { startSegflowProcess } from './helpers/process.js'
import type { SegflowProcess } from './helpers/process.js'
import { Receiver } from './helpers/receiver.js'
import { PostgresStore } from '../src/store/postgres/postgres-store.js'
import { testStoreKinds } from './helpers/stores.js'

const admin = { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' }
const writer = { authorization: basic(WRITE_KEY), 'content-type': 'application/json' }

const until = async (cond: () => boolean | Promise<boolean>, ms: number) => {
  const end = Date.now() + ms
  while (!(await cond()) && Date.now() < end) await new Promise((r) => setTimeout(r, 50))
}

interface Answer {
  readonly status: number
  readonly retryAfter: string | null
  readonly body: { error?: { code?: string }; status?: string; store?: unknown }
}

async function call(url: string, init: RequestInit = {}): Promise<Answer> {
  const res = await fetch(url, init)
  const text = await res.text()
  let body: Answer['body'] = {}
  try {
    body = JSON.parse(text) as Answer['body']
  } catch {
    // not JSON: leave it empty, the status says enough
  }
  return { status: res.status, retryAfter: res.headers.get('retry-after'), body }
}

const track = (url: string, userId: string, messageId: string) =>
  call(`${url}/v1/track`, {
    method: 'POST',
    headers: writer,
    body: JSON.stringify({ userId, event: 'Viewed Pricing', messageId }),
  })

const identify = (url: string, userId: string, plan: string) =>
  call(`${url}/v1/identify`, {
    method: 'POST',
    headers: writer,
    body: JSON.stringify({ userId, traits: { plan }, messageId: `id-${userId}-${plan}` }),
  })

// Stops and starts a PostgreSQL cluster of its own under a running `segflow serve`.
describe.runIf(testStoreKinds().includes('postgres'))('a PostgreSQL outage', () => {
  let cluster: PgCluster
  let rx: Receiver
  let server: SegflowProcess

  beforeAll(async () => {
    cluster = await PgCluster.create()
    rx = await new Receiver().start()
    server = await startSegflowProcess({
      SEGFLOW_DATABASE_URL: cluster.url,
      SEGFLOW_WRITE_KEY: WRITE_KEY,
      SEGFLOW_ADMIN_KEY: ADMIN_KEY,
      SEGFLOW_WEBHOOK_ALLOW_PRIVATE: 'true',
    })
    expect(
      (
        await call(`${server.url}/api/segments/pro`, {
          method: 'PUT',
          headers: admin,
          body: JSON.stringify({ rule: { trait: 'plan', eq: 'pro' } }),
        })
      ).status,
    ).toBeLessThan(300)
    expect(
      (
        await call(`${server.url}/api/webhooks/crm`, {
          method: 'PUT',
          headers: admin,
          body: JSON.stringify({ url: rx.url }),
        })
      ).status,
    ).toBeLessThan(300)
  }, 120_000)

  afterAll(async () => {
    server?.child.kill('SIGKILL')
    await server?.exited
    await rx?.stop()
    await cluster?.destroy()
  })

  for (const mode of ['immediate', 'fast'] as const) {
    it(`survives pg_ctl stop -m ${mode}: 503 unavailable while down, recovers by itself, loses nothing acknowledged`, async () => {
      const acked: string[] = []
      const ack = async (user: string, id: string) => {
        if ((await track(server.url, user, id)).status === 200) acked.push(id)
      }
      for (let i = 0; i < 20; i++) await ack(`u${i % 5}`, `${mode}-before-${i}`)
      expect(acked).toHaveLength(20)
      expect((await identify(server.url, `${mode}-ann`, 'pro')).status).toBe(200)
      // A steady trickle of requests while the database goes away and comes back.
      let stopped = false
      let n = 0
      const load = (async () => {
        while (!stopped) {
          await ack(`u${n % 5}`, `${mode}-during-${n}`).catch(() => undefined)
          n++
          await new Promise((r) => setTimeout(r, 20))
        }
      })()

      await cluster.stop(mode)

      const down = await track(server.url, 'u1', `${mode}-down`)
      expect(down.status).toBe(503)
      expect(down.body.error?.code).toBe('unavailable')
      expect(Number(down.retryAfter)).toBeGreaterThan(0)
      const adminDown = await call(`${server.url}/api/segments`, { headers: admin })
      expect(adminDown.status).toBe(503)
      expect(adminDown.body.error?.code).toBe('unavailable')
      expect(adminDown.retryAfter).not.toBeNull()
      const health = await call(`${server.url}/healthz`)
      expect(health.status).toBe(503)
      expect(health.body.status).toBe('unavailable')
      expect((await call(`${server.url}/readyz`)).status).toBe(503)
      // Alive, just not ready: an orchestrator must not restart it for the database's outage.
      const live = await call(`${server.url}/livez`)
      expect(live.status).toBe(200)

      await new Promise((r) => setTimeout(r, 500))
      await cluster.start()

      await until(async () => (await call(`${server.url}/healthz`)).status === 200, 20_000)
      expect((await call(`${server.url}/healthz`)).status).toBe(200)
      await until(
        async () => (await track(server.url, 'u2', `${mode}-after`)).status === 200,
        20_000,
      )
      expect((await track(server.url, 'u2', `${mode}-after-2`)).status).toBe(200)
      acked.push(`${mode}-after-2`)
      stopped = true
      await load
      const exitedEarly = await Promise.race([
        server.exited.then(() => true),
        new Promise((r) => setTimeout(() => r(false), 10)),
      ])
      expect(exitedEarly).toBe(false)

      // Every acknowledged message is stored.
      const store = new PostgresStore({ connectionString: cluster.url, poolSize: 2 })
      try {
        const stored = new Set<string>()
        let cursor: string | null = null
        do {
          const page = await store.listEvents('default', { limit: 1000, cursor })
          for (const e of page.items) stored.add(e.messageId)
          cursor = page.nextCursor
        } while (cursor)
        expect(acked.filter((id) => !stored.has(id))).toEqual([])
      } finally {
        await store.close()
      }

      // The background work recovered too: a transition after the outage reaches the webhook.
      expect((await identify(server.url, `${mode}-bob`, 'pro')).status).toBe(200)
      const entered = (user: string) =>
        rx.received.some(
          (r) =>
            (r.json.data as { profile?: { userId?: string } }).profile?.userId === user ||
            r.body.includes(`"${user}"`),
        )
      await until(() => entered(`${mode}-bob`) && entered(`${mode}-ann`), 20_000)
      expect(entered(`${mode}-ann`)).toBe(true)
      expect(entered(`${mode}-bob`)).toBe(true)
    }, 120_000)
  }
})
