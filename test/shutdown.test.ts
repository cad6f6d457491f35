import { createServer } from 'node:http'
import type { Server } from 'node:http'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ADMIN_KEY, basic, WRITE_KEY } from './helpers/runtime.js'
import { startSegflowProcess } from './helpers/process.js'
import { newStoreLocation, testStoreKinds } from './helpers/stores.js'
import type { StoreLocation } from './helpers/stores.js'
import type { DeliveryRecord, DeliveryStatus } from '../src/store/store.js'

const PEOPLE = 20_000
const PER_BATCH = 500
const TIMEOUT_MS = 2000

const admin = { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' }

const until = async (cond: () => boolean, ms: number) => {
  const end = Date.now() + ms
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 25))
}

/** A webhook endpoint on 127.0.0.1 that answers 200 after `delayMs`, or never when null. */
class SlowEndpoint {
  readonly ids = new Set<string>()
  requests = 0
  delayMs: number | null
  private readonly server: Server
  url = ''

  constructor(delayMs: number | null) {
    this.delayMs = delayMs
    this.server = createServer((req, res) => {
      req.resume()
      req.on('end', () => {
        this.requests++
        const id = String(req.headers['webhook-id'])
        const delay = this.delayMs
        if (delay === null) return // hangs until the client gives up
        setTimeout(() => {
          this.ids.add(id)
          res.writeHead(200).end()
        }, delay)
      })
    })
  }

  async start(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r))
    const a = this.server.address()
    this.url = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}/hook`
    return this
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections()
    await new Promise((r) => this.server.close(r))
  }
}

async function deliveries(location: StoreLocation): Promise<Map<DeliveryStatus, number>> {
  const store = location.open()
  try {
    const counts = new Map<DeliveryStatus, number>()
    for (const status of ['pending', 'succeeded', 'failed', 'exhausted'] as const) {
      let after: string | null = null
      let n = 0
      for (;;) {
        const page: DeliveryRecord[] = await store.delivery.listDeliveries(
          'default',
          'webhook:crm',
          { status, limit: 1000, after },
        )
        n += page.length
        if (page.length < 1000) break
        after = page[page.length - 1]!.id
      }
      counts.set(status, n)
    }
    return counts
  } finally {
    await store.close()
  }
}

/** Attempts recorded for the first 1,000 pending deliveries (a cancelled request is none). */
async function attemptsRecorded(location: StoreLocation): Promise<number> {
  const store = location.open()
  try {
    const pending = await store.delivery.listDeliveries('default', 'webhook:crm', {
      status: 'pending',
      limit: 1000,
    })
    const attempts = await store.delivery.attemptsOf(
      'default',
      pending.map((d) => d.id),
    )
    return attempts.length + pending.filter((d) => d.attempts > 0 || d.lastError).length
  } finally {
    await store.close()
  }
}

// The audit's case: 20,000 deliveries pending, SEGFLOW_SHUTDOWN_TIMEOUT_MS=2000. SIGTERM must
// end the process within the timeout (plus a short grace), leaving the rest for the next start.
describe.each(testStoreKinds())('SIGTERM with a delivery backlog on %s', (kind) => {
  let location: StoreLocation
  let endpoint: SlowEndpoint
  beforeEach(async () => {
    location = await newStoreLocation(kind)
  })
  afterEach(async () => {
    await endpoint?.stop()
    await location.destroy()
  })

  const env = () => ({
    ...location.env,
    SEGFLOW_WRITE_KEY: WRITE_KEY,
    SEGFLOW_ADMIN_KEY: ADMIN_KEY,
    SEGFLOW_WEBHOOK_ALLOW_PRIVATE: 'true',
    SEGFLOW_SHUTDOWN_TIMEOUT_MS: String(TIMEOUT_MS),
  })

  async function backlog(delayMs: number | null) {
    endpoint = await new SlowEndpoint(delayMs).start()
    const server = await startSegflowProcess(env())
    for (const [url, body] of [
      ['/api/segments/pro', { rule: { trait: 'plan', eq: 'pro' } }],
      ['/api/webhooks/crm', { url: endpoint.url, maxInFlight: 32 }],
    ] as const) {
      const res = await fetch(server.url + url, {
        method: 'PUT',
        headers: admin,
        body: JSON.stringify(body),
      })
      expect(res.status, await res.text()).toBeLessThan(300)
    }
    for (let b = 0; b < PEOPLE / PER_BATCH; b++) {
      const res = await fetch(`${server.url}/v1/batch`, {
        method: 'POST',
        headers: { authorization: basic(WRITE_KEY), 'content-type': 'application/json' },
        body: JSON.stringify({
          batch: Array.from({ length: PER_BATCH }, (_, i) => ({
            type: 'identify',
            userId: `p${b * PER_BATCH + i}`,
            traits: { plan: 'pro' },
            messageId: `m${b * PER_BATCH + i}`,
          })),
        }),
      })
      expect(res.status).toBe(200)
    }
    // Sending has begun; almost all of the 20,000 are still to go.
    await until(() => endpoint.requests >= 32, 30_000)
    expect(endpoint.requests).toBeGreaterThanOrEqual(32)
    return server
  }

  async function terminate(server: Awaited<ReturnType<typeof startSegflowProcess>>) {
    const started = performance.now()
    server.child.kill('SIGTERM')
    const exit = await Promise.race([
      server.exited,
      new Promise<'still running'>((r) => setTimeout(() => r('still running'), 20_000)),
    ])
    const seconds = (performance.now() - started) / 1000
    if (exit === 'still running') {
      server.child.kill('SIGKILL')
      await server.exited
    }
    return { exit, seconds }
  }

  it('stops at the deadline while the endpoint does not answer, and loses no delivery', async () => {
    const server = await backlog(null)
    const { exit, seconds } = await terminate(server)
    expect(exit).toEqual({ code: 0, signal: null })
    expect(seconds).toBeLessThan(TIMEOUT_MS / 1000 + 2)
    expect(server.output()).toMatch(/left is done after the next start/)
    // The cancelled requests were not attempts: nothing failed, nothing was given up on.
    const after = await deliveries(location)
    expect(after.get('succeeded')).toBe(0)
    expect(after.get('failed')! + after.get('exhausted')!).toBe(0)
    expect(after.get('pending')).toBeGreaterThan(0)
    expect(await attemptsRecorded(location)).toBe(0)

    // The next start sends what was left, beginning with what was cancelled.
    endpoint.delayMs = 0
    const next = await startSegflowProcess(env())
    try {
      await until(() => endpoint.ids.size >= 500, 60_000)
      expect(endpoint.ids.size).toBeGreaterThanOrEqual(500)
    } finally {
      await terminate(next)
    }
  }, 240_000)

  it('stops after the round in flight while the endpoint answers slowly', async () => {
    const server = await backlog(100)
    const { exit, seconds } = await terminate(server)
    const answered = endpoint.ids.size
    expect(exit).toEqual({ code: 0, signal: null })
    expect(seconds).toBeLessThan(TIMEOUT_MS / 1000 + 2)
    // Once it has exited, nothing more is sent.
    const requests = endpoint.requests
    await new Promise((r) => setTimeout(r, 300))
    expect(endpoint.requests).toBe(requests)
    const after = await deliveries(location)
    // What the endpoint answered was recorded; the rest waits, none lost or failed.
    expect(after.get('succeeded')).toBe(answered)
    expect(after.get('failed')! + after.get('exhausted')!).toBe(0)
    expect(answered).toBeLessThan(PEOPLE / 2)
  }, 240_000)
})
