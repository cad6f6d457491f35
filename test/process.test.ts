import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ADMIN_KEY, basic, WRITE_KEY } from './helpers/runtime.js'
import { startSegflowProcess } from './helpers/process.js'
import { newStoreLocation, testStoreKinds } from './helpers/stores.js'
import type { StoreLocation } from './helpers/stores.js'

const BATCH = 100

function batchBody(n: number) {
  return JSON.stringify({
    batch: Array.from({ length: BATCH }, (_, i) => ({
      type: 'track',
      userId: `user-${(n * 7 + i) % 50}`,
      event: 'Streamed',
      messageId: `b${n}-m${i}`,
      properties: { n, i },
    })),
  })
}

async function send(url: string, n: number): Promise<number> {
  const res = await fetch(`${url}/v1/batch`, {
    method: 'POST',
    headers: { authorization: basic(WRITE_KEY), 'content-type': 'application/json' },
    body: batchBody(n),
  })
  await res.arrayBuffer()
  return res.status
}

/**
 * Streams batches from `senders` concurrent clients until `stop()`; records which batches
 * were acknowledged (200) and which failed or were refused.
 */
function stream(url: string, senders: number) {
  let next = 0
  let stopped = false
  const acked: number[] = []
  const failed: number[] = []
  /** How each failed request failed: an HTTP status, or the socket error's code. */
  const failures: string[] = []
  const loops = Array.from({ length: senders }, async () => {
    while (!stopped) {
      const n = next++
      try {
        const status = await send(url, n)
        if (status === 200) acked.push(n)
        else {
          failed.push(n)
          failures.push(String(status))
        }
      } catch (e) {
        failed.push(n)
        const cause = (e as { cause?: { code?: string } }).cause
        failures.push(cause?.code ?? String(e))
        return
      }
    }
  })
  return {
    acked,
    failed,
    failures,
    sent: () => next,
    stop: async () => {
      stopped = true
      await Promise.all(loops)
    },
  }
}

async function storedMessageIds(location: StoreLocation): Promise<string[]> {
  const store = location.open()
  try {
    const ids: string[] = []
    let cursor: string | null = null
    do {
      const page = await store.listEvents('default', { limit: 1000, cursor })
      ids.push(...page.items.map((e) => e.messageId))
      cursor = page.nextCursor
    } while (cursor)
    return ids
  } finally {
    await store.close()
  }
}

const until = async (cond: () => boolean, ms: number) => {
  const end = Date.now() + ms
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 5))
}

describe.each(testStoreKinds())('crash safety of segflow serve on %s', (kind) => {
  let location: StoreLocation
  const env = () => ({
    ...location.env,
    SEGFLOW_WRITE_KEY: WRITE_KEY,
    SEGFLOW_ADMIN_KEY: ADMIN_KEY,
  })
  beforeEach(async () => {
    location = await newStoreLocation(kind)
  })
  afterEach(async () => {
    await location.destroy()
  })

  it('keeps every acknowledged message, exactly once, across kill -9 and a restart', async () => {
    const first = await startSegflowProcess(env())
    const load = stream(first.url, 4)
    await until(() => load.acked.length >= 20, 20_000)
    first.child.kill('SIGKILL')
    await first.exited
    await load.stop()
    expect(load.acked.length).toBeGreaterThanOrEqual(20)

    const ids = await storedMessageIds(location)
    expect(new Set(ids).size).toBe(ids.length)
    const stored = new Set(ids)
    for (const n of load.acked) {
      for (let i = 0; i < BATCH; i++) expect(stored.has(`b${n}-m${i}`)).toBe(true)
    }

    // Clients retry what was not acknowledged; the restarted server stores each message once.
    const second = await startSegflowProcess(env())
    try {
      for (let n = 0; n < load.sent(); n++) expect(await send(second.url, n)).toBe(200)
    } finally {
      second.child.kill('SIGTERM')
      await second.exited
    }
    const after = await storedMessageIds(location)
    expect(after.length).toBe(load.sent() * BATCH)
    expect(new Set(after).size).toBe(after.length)
  })

  it('on SIGTERM answers the requests in flight, commits them, and exits 0', async () => {
    const server = await startSegflowProcess(env())
    const load = stream(server.url, 4)
    await until(() => load.acked.length >= 10, 20_000)
    server.child.kill('SIGTERM')
    const exit = await server.exited
    await load.stop()
    expect(exit).toEqual({ code: 0, signal: null })
    expect(server.output()).toMatch(/stopped/)
    const stored = new Set(await storedMessageIds(location))
    // Every request was answered (200, or 503 once draining) or never read (refused at
    // connect, or its idle keep-alive connection closed before it arrived): a request that
    // failed at the socket must have stored nothing, or its answer was lost.
    expect(load.failures.length).toBe(load.failed.length)
    load.failed.forEach((n) => expect(stored.has(`b${n}-m0`)).toBe(false))
    for (const n of load.acked)
      expect(stored.has(`b${n}-m0`) && stored.has(`b${n}-m${BATCH - 1}`)).toBe(true)
    // A batch is stored whole or not at all: nothing half-written by the shutdown.
    for (let n = 0; n < load.sent(); n++) {
      const present = Array.from({ length: BATCH }, (_, i) => stored.has(`b${n}-m${i}`))
      expect(present.every((p) => p === present[0])).toBe(true)
    }
  })
})

describe.each(testStoreKinds())('webhook delivery across a crash on %s', (kind) => {
  let location: StoreLocation
  beforeEach(async () => {
    location = await newStoreLocation(kind)
  })
  afterEach(async () => {
    await location.destroy()
  })

  it('sends again, with the same id, what was sent but not recorded when the process died', async () => {
    const { Receiver } = await import('./helpers/receiver.js')
    const rx = await new Receiver().start()
    const env = {
      ...location.env,
      SEGFLOW_WRITE_KEY: WRITE_KEY,
      SEGFLOW_ADMIN_KEY: ADMIN_KEY,
      SEGFLOW_WEBHOOK_ALLOW_PRIVATE: 'true',
    }
    const admin = { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' }
    try {
      const first = await startSegflowProcess(env)
      // The process dies the moment the request reaches the endpoint: sent, never recorded.
      rx.answer(() => first.child.kill('SIGKILL'))
      await fetch(`${first.url}/api/segments/pro`, {
        method: 'PUT',
        headers: admin,
        body: JSON.stringify({ rule: { trait: 'plan', eq: 'pro' } }),
      })
      await fetch(`${first.url}/api/webhooks/crm`, {
        method: 'PUT',
        headers: admin,
        body: JSON.stringify({ url: rx.url }),
      })
      const ingest = await fetch(`${first.url}/v1/identify`, {
        method: 'POST',
        headers: { authorization: basic(WRITE_KEY), 'content-type': 'application/json' },
        body: JSON.stringify({ userId: 'ann', traits: { plan: 'pro' } }),
      })
      expect(ingest.status).toBe(200)
      await first.exited
      expect(rx.received).toHaveLength(1)

      const second = await startSegflowProcess(env)
      try {
        await until(() => rx.received.length >= 2, 15_000)
        expect(rx.received).toHaveLength(2)
        expect(rx.received[1]!.id).toBe(rx.received[0]!.id)
        expect(rx.received[1]!.body).toBe(rx.received[0]!.body)
      } finally {
        second.child.kill('SIGTERM')
        await second.exited
      }
    } finally {
      await rx.stop()
    }
  })
})
