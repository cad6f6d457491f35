import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { RETRY_DELAYS_MS } from '../src/delivery/schedule.js'
import { ManualClock } from '../src/shared/clock.js'
import { nonPublicReason } from '../src/delivery/targets.js'
import { comparePositions } from '../src/store/outbox.js'
import { Receiver } from './helpers/receiver.js'
import { newTestApp } from './helpers/runtime.js'
import type { TestApp } from './helpers/runtime.js'
import { testStoreKinds } from './helpers/stores.js'

const NOW = Date.parse('2026-06-01T12:00:00Z')
const MIN = 60_000
const HOUR = 60 * MIN

describe.each(testStoreKinds())('webhooks on %s', (kind) => {
  let t: TestApp
  let clock: ManualClock
  let rx: Receiver

  beforeEach(async () => {
    clock = new ManualClock(NOW)
    t = await newTestApp(kind, {
      clock,
      env: { SEGFLOW_WEBHOOK_ALLOW_PRIVATE: 'true' },
      delivery: { random: () => 0.5, timeoutMs: 1000 },
    })
    rx = await new Receiver().start()
    await t.admin('PUT', '/api/segments/pro', { rule: { trait: 'plan', eq: 'pro' } })
    await t.rt.segments.settled('default', 'pro')
  })
  afterEach(async () => {
    await t.close()
    await rx.stop()
  })

  const hook = async (body: Record<string, unknown> = {}) => {
    const res = await t.admin('PUT', '/api/webhooks/crm', { url: rx.url, ...body })
    expect([200, 201]).toContain(res.statusCode)
    return res.json() as { secret: string; status: string }
  }
  const identify = (userId: string, plan: string) =>
    t.track('/v1/identify', { userId, traits: { plan, email: `${userId}@x.io` } })
  const run = () => t.rt.delivery.runDue()
  const deliveries = async (status?: string) =>
    (
      await t.admin('GET', `/api/webhooks/crm/deliveries${status ? `?status=${status}` : ''}`)
    ).json().items as Array<{
      id: string
      status: string
      attempts: number
      nextAttemptAt: string | null
      lastError: string | null
      history: Array<{ attempt: number; status: number | null; error: string | null }>
    }>

  it('delivers each transition once, signed as Standard Webhooks, with a stable id', async () => {
    const { secret } = await hook()
    expect(secret).toMatch(/^whsec_/)
    await identify('ann', 'pro')
    expect(await run()).toBe(1)
    expect(rx.received).toHaveLength(1)
    const r = rx.received[0]!
    expect(rx.verify(r, secret, clock.now())).toMatchObject({ type: 'segment.entered' })
    expect(r.json).toMatchObject({
      type: 'segment.entered',
      timestamp: new Date(NOW).toISOString(),
      data: {
        type: 'segment.entered',
        at: new Date(NOW).toISOString(),
        segment: { key: 'pro', version: 1 },
        profile: { userId: 'ann', email: 'ann@x.io', anonymousIds: [] },
        reason: 'event',
      },
    })
    expect(r.id).toMatch(/^msg_/)
    expect(await run()).toBe(0)
    const [d] = await deliveries()
    expect(d).toMatchObject({ id: r.id, status: 'succeeded', attempts: 1 })
    // A signature made with another secret does not verify.
    expect(() => rx.verify(r, 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', clock.now())).toThrow()
  })

  it('sends a new endpoint what happens from its creation on, not the history before it', async () => {
    await identify('old', 'pro')
    await hook()
    await identify('new', 'pro')
    expect(await run()).toBe(1)
    expect(
      rx.received.map((r) => (r.json.data as { profile: { userId: string } }).profile.userId),
    ).toEqual(['new'])
  })

  it('retries on the Standard Webhooks schedule, honours Retry-After, exhausts, and replays with the same id', async () => {
    await hook()
    rx.answer(
      { status: 500 },
      { status: 429, headers: { 'retry-after': '3600' } },
      { status: 302, headers: { location: 'http://elsewhere' } },
    )
    for (let i = 0; i < 5; i++) rx.answer({ status: 503 })
    await identify('ann', 'pro')
    await run()
    let [d] = await deliveries()
    expect(d).toMatchObject({
      status: 'pending',
      attempts: 1,
      nextAttemptAt: new Date(NOW + 5000).toISOString(),
    })
    // Not before it is due.
    clock.advance(4999)
    expect(await run()).toBe(0)
    clock.advance(1)
    await run()
    ;[d] = await deliveries()
    // 429 with Retry-After: an hour, not the schedule's 5 minutes.
    expect(d).toMatchObject({
      attempts: 2,
      nextAttemptAt: new Date(clock.now() + HOUR).toISOString(),
    })
    clock.advance(HOUR)
    await run()
    ;[d] = await deliveries()
    expect(d).toMatchObject({ attempts: 3, lastError: 'HTTP 302 (redirects are not followed)' })
    expect(d!.nextAttemptAt).toBe(new Date(clock.now() + RETRY_DELAYS_MS[3]).toISOString())
    for (let a = 3; a < 8; a++) {
      clock.advance(RETRY_DELAYS_MS[a]!)
      await run()
    }
    ;[d] = await deliveries('exhausted')
    expect(d).toMatchObject({ status: 'exhausted', attempts: 8, nextAttemptAt: null })
    expect(d!.history.map((h) => h.status)).toEqual([500, 429, 302, 503, 503, 503, 503, 503])
    expect(new Set(rx.received.map((r) => r.id)).size).toBe(1)
    // Nothing more happens by itself; replay sends it again, same id.
    clock.advance(24 * HOUR)
    expect(await run()).toBe(0)
    expect((await t.admin('POST', '/api/webhooks/crm/replay', {})).json()).toEqual({ replayed: 1 })
    await run()
    expect(rx.received).toHaveLength(9)
    expect(rx.received[8]!.id).toBe(rx.received[0]!.id)
    expect((await deliveries())[0]).toMatchObject({ status: 'succeeded' })
    // The replay's attempt is kept after the first schedule's eight (not dropped as a repeat
    // of attempt 1, its count having started over).
    expect((await deliveries())[0]!.history.map((h) => [h.attempt, h.status])).toEqual([
      [1, 500],
      [2, 429],
      [3, 302],
      [4, 503],
      [5, 503],
      [6, 503],
      [7, 503],
      [8, 503],
      [9, 200],
    ])
  })

  it('replays a pending delivery now: it keeps its place in the schedule, and order holds', async () => {
    await hook()
    rx.answer({ status: 429, headers: { 'retry-after': '3600' } }, { status: 500 })
    await identify('ann', 'pro')
    await run()
    const [entered] = await deliveries()
    expect(entered).toMatchObject({
      status: 'pending',
      attempts: 1,
      nextAttemptAt: new Date(NOW + HOUR).toISOString(),
    })
    // Her exit waits behind the entry, which is waiting for its retry in an hour.
    await identify('ann', 'free')
    await run()
    expect(rx.received).toHaveLength(1)
    const replay = async (body: unknown) =>
      (await t.admin('POST', '/api/webhooks/crm/replay', body)).json()
    expect(await replay({ ids: ['msg_other'] })).toEqual({ replayed: 0 })

    clock.advance(MIN)
    expect(await replay({})).toEqual({ replayed: 2 })
    const due = await deliveries('pending')
    expect(due.map((d) => d.nextAttemptAt)).toEqual([
      new Date(clock.now()).toISOString(),
      new Date(clock.now()).toISOString(),
    ])
    // Tried now (500 this time): the next retry follows the schedule from attempt 2, and the
    // exit still waits.
    await run()
    expect(rx.received).toHaveLength(2)
    expect(rx.received[1]!.id).toBe(entered!.id)
    const again = (await deliveries()).find((d) => d.id === entered!.id)
    expect(again).toMatchObject({
      status: 'pending',
      attempts: 2,
      nextAttemptAt: new Date(clock.now() + RETRY_DELAYS_MS[2]!).toISOString(),
    })

    expect(await replay({ ids: [entered!.id] })).toEqual({ replayed: 1 })
    await run()
    expect(rx.received.map((r) => [r.id === entered!.id, r.json.type])).toEqual([
      [true, 'segment.entered'],
      [true, 'segment.entered'],
      [true, 'segment.entered'],
      [false, 'segment.exited'],
    ])
    expect((await deliveries()).map((d) => d.status)).toEqual(['succeeded', 'succeeded'])
    expect(await replay({})).toEqual({ replayed: 0 })
  })

  it('gives up on an endpoint that does not answer within the timeout, and retries', async () => {
    await hook()
    rx.answer('hang')
    await identify('ann', 'pro')
    await run()
    const [d] = await deliveries()
    expect(d).toMatchObject({
      status: 'pending',
      attempts: 1,
      lastError: 'no answer within 1000 ms',
    })
  })

  it('disables an endpoint that answers 410; saving it again resumes delivery', async () => {
    await hook()
    rx.answer({ status: 410 })
    await identify('ann', 'pro')
    await run()
    expect((await t.admin('GET', '/api/webhooks/crm')).json()).toMatchObject({
      status: 'disabled',
      disabledReason: 'the endpoint answered 410 Gone',
    })
    await identify('bob', 'pro')
    expect(await run()).toBe(0)
    expect(rx.received).toHaveLength(1)
    expect((await hook()).status).toBe('active')
    await run()
    expect(rx.received.map((r) => r.json.data.profile)).toMatchObject([
      { userId: 'ann' },
      { userId: 'bob' },
    ])
  })

  it('keeps deliveries for one person in order: a later one waits for the earlier', async () => {
    await hook()
    rx.answer({ status: 500 })
    await identify('ann', 'pro')
    await identify('bob', 'pro')
    clock.advance(MIN)
    await identify('ann', 'free')
    await run()
    // ann's entry failed; her exit waits behind it; bob is not held up.
    expect(
      rx.received.map(
        (r) => `${(r.json.data.profile as { userId: string }).userId} ${r.json.type}`,
      ),
    ).toEqual(['ann segment.entered', 'bob segment.entered'])
    clock.advance(5000)
    await run()
    expect(
      rx.received
        .slice(2)
        .map((r) => `${(r.json.data.profile as { userId: string }).userId} ${r.json.type}`),
    ).toEqual(['ann segment.entered', 'ann segment.exited'])
  })

  it('signs with both secrets during a rotation, then only the new one', async () => {
    const { secret: old } = await hook()
    const rotated = (await t.admin('POST', '/api/webhooks/crm/rotate', { overlap: '1h' })).json()
    expect(rotated.secret).not.toBe(old)
    expect(rotated.previousSecretsUntil).toEqual([new Date(NOW + HOUR).toISOString()])
    await identify('ann', 'pro')
    await run()
    const during = rx.received[0]!
    expect(String(during.headers['webhook-signature']).split(' ')).toHaveLength(2)
    expect(rx.verify(during, old, clock.now())).toBeTruthy()
    expect(rx.verify(during, rotated.secret, clock.now())).toBeTruthy()
    clock.advance(HOUR)
    await identify('bob', 'pro')
    await run()
    const after = rx.received[1]!
    expect(String(after.headers['webhook-signature']).split(' ')).toHaveLength(1)
    expect(rx.verify(after, rotated.secret, clock.now())).toBeTruthy()
    expect(() => rx.verify(after, old, clock.now())).toThrow()
    // Setting a secret explicitly rotates too.
    const mine = 'whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD'
    expect((await hook({ secret: mine })).secret).toBe(mine)
  })

  it('filters by segment and by transition type', async () => {
    await t.admin('PUT', '/api/segments/free', { rule: { trait: 'plan', eq: 'free' } })
    await t.rt.segments.settled('default', 'free')
    await hook({ segments: ['pro'], types: ['segment.exited'] })
    await identify('ann', 'pro')
    await identify('ann', 'free')
    await run()
    expect(
      rx.received.map((r) => `${(r.json.data.segment as { key: string }).key} ${r.json.type}`),
    ).toEqual(['pro segment.exited'])
    const unknown = await t.admin('PUT', '/api/webhooks/x', { url: rx.url, segments: ['nope'] })
    expect(unknown.json().error.message).toMatch(/segments nope do not exist/)
    const types = await t.admin('PUT', '/api/webhooks/x', { url: rx.url, types: ['segment.moved'] })
    expect(types.json().error.message).toMatch(
      /types must be a non-empty list of segment.entered, segment.exited/,
    )
  })

  it('reads past transitions of segments nobody listens to, page by page, missing none it wants', async () => {
    await t.admin('PUT', '/api/segments/free', { rule: { trait: 'plan', eq: 'free' } })
    await t.rt.segments.settled('default', 'free')
    await hook({ segments: ['pro'] })
    // 30 people move between the plans: 45 transitions of each segment, interleaved.
    for (let i = 0; i < 30; i++) {
      await identify(`p${i}`, i % 2 === 0 ? 'pro' : 'free')
      await identify(`p${i}`, i % 2 === 0 ? 'free' : 'pro')
    }
    const { fanOut } = await import('../src/delivery/dispatcher.js')
    // Pages of 7: the store returns only `pro` transitions, the cursor then jumps to the head.
    let pages = 0
    for (;;) {
      const r = await t.rt.store.write((tx) => fanOut(tx, clock.now(), 7))
      pages++
      if (!r.more) break
    }
    expect(pages).toBe(Math.ceil(45 / 7))
    // The read position is past every transition (on PostgreSQL, past their transactions).
    const cursor = await t.rt.store.write((tx) => tx.delivery.outboxCursor('webhooks'))
    const all = await t.rt.store.write((tx) => tx.delivery.transitionsAfter(0, 1000))
    expect(all).toHaveLength(90)
    for (const tr of all)
      expect(comparePositions({ tx: tr.txid, seq: tr.seq }, cursor)).toBeLessThanOrEqual(0)
    await run()
    const got = rx.received.map(
      (r) => `${(r.json.data.profile as { userId: string }).userId} ${r.json.type}`,
    )
    expect(got).toHaveLength(45)
    expect(new Set(got).size).toBe(45)
    expect(rx.received.every((r) => (r.json.data.segment as { key: string }).key === 'pro')).toBe(
      true,
    )
  })

  it('cancels pending deliveries when an endpoint is deleted', async () => {
    await hook()
    rx.answer({ status: 500 })
    await identify('ann', 'pro')
    await run()
    expect((await t.admin('DELETE', '/api/webhooks/crm')).json()).toEqual({ cancelled: 1 })
    clock.advance(HOUR)
    expect(await run()).toBe(0)
    expect((await t.admin('GET', '/api/webhooks/crm')).statusCode).toBe(404)
  })
})

describe.each(testStoreKinds())('webhook targets on %s', (kind) => {
  it('refuses loopback and private addresses unless allowed', async () => {
    const t = await newTestApp(kind)
    try {
      for (const url of [
        'http://127.0.0.1:9/x',
        'http://localhost/x',
        'http://10.1.2.3/x',
        'http://[::1]/x',
        'http://[::ffff:127.0.0.1]/x',
        'http://169.254.169.254/latest',
        'http://198.18.0.1/x',
      ]) {
        const res = await t.admin('PUT', '/api/webhooks/w', { url })
        expect(res.statusCode, url).toBe(400)
        expect(res.json().error.message).toMatch(
          /^url http:.*not a public address \(.+\); set SEGFLOW_WEBHOOK_ALLOW_PRIVATE=true/,
        )
      }
      const ftp = await t.admin('PUT', '/api/webhooks/w', { url: 'ftp://example.com/x' })
      expect(ftp.json().error.message).toMatch(/url must be http or https/)
    } finally {
      await t.close()
    }
  })

  // DNS rebinding: the name answers a public address when the webhook is saved, then
  // 127.0.0.1, where a real receiver listens. Only a check on the address the socket actually
  // connects to stops the signed POST from reaching it.
  it('checks the address actually connected to on every attempt, not an earlier answer', async () => {
    const clock = new ManualClock(NOW)
    let answer = ['93.184.216.34']
    const asked: string[] = []
    const resolve = async (host: string) => {
      asked.push(host)
      return answer
    }
    const t = await newTestApp(kind, {
      clock,
      delivery: { random: () => 0.5, timeoutMs: 1000, resolve },
    })
    const rx = await new Receiver().start()
    try {
      const port = new URL(rx.url).port
      const url = `http://rebind.segflow.test:${port}/hook`
      expect((await t.admin('PUT', '/api/webhooks/crm', { url })).statusCode).toBe(201)
      expect(asked).toEqual(['rebind.segflow.test'])
      await t.admin('PUT', '/api/segments/pro', { rule: { trait: 'plan', eq: 'pro' } })
      await t.rt.segments.settled('default', 'pro')
      answer = ['127.0.0.1']
      await t.track('/v1/identify', { userId: 'ann', traits: { plan: 'pro' } })
      expect(await t.rt.delivery.runDue()).toBe(1)
      expect(rx.received).toHaveLength(0)
      const [d] = (await t.admin('GET', '/api/webhooks/crm/deliveries')).json().items
      expect(d).toMatchObject({
        status: 'pending',
        attempts: 1,
        lastError: 'address 127.0.0.1 is not public (loopback)',
        history: [{ status: null, error: 'address 127.0.0.1 is not public (loopback)' }],
      })
      // One non-public answer among public ones is refused too.
      answer = ['93.184.216.34', '::ffff:7f00:1']
      clock.advance(HOUR)
      await t.rt.delivery.runDue()
      expect(rx.received).toHaveLength(0)
      const [again] = (await t.admin('GET', '/api/webhooks/crm/deliveries')).json().items
      expect(again.lastError).toBe(
        'address ::ffff:7f00:1 is not public (IPv4-mapped 127.0.0.1: loopback)',
      )
      // A literal address is connected to without any lookup: it is checked all the same (a
      // webhook stored before the rule, or written around the API).
      const [w] = await t.testStore.store.delivery.listWebhooks('default')
      await t.testStore.store.write((tx) => tx.delivery.upsertWebhook({ ...w!, url: rx.url }))
      clock.advance(HOUR)
      await t.rt.delivery.runDue()
      expect(rx.received).toHaveLength(0)
      const [literal] = (await t.admin('GET', '/api/webhooks/crm/deliveries')).json().items
      expect(literal.lastError).toBe('address 127.0.0.1 is not public (loopback)')
    } finally {
      await t.close()
      await rx.stop()
    }
  })

  it('lets the same rebinding name through when private targets are allowed', async () => {
    const t = await newTestApp(kind, {
      env: { SEGFLOW_WEBHOOK_ALLOW_PRIVATE: 'true' },
      delivery: { random: () => 0.5, timeoutMs: 1000, resolve: async () => ['127.0.0.1'] },
    })
    const rx = await new Receiver().start()
    try {
      const url = `http://rebind.segflow.test:${new URL(rx.url).port}/hook`
      expect((await t.admin('PUT', '/api/webhooks/crm', { url })).statusCode).toBe(201)
      await t.admin('PUT', '/api/segments/pro', { rule: { trait: 'plan', eq: 'pro' } })
      await t.rt.segments.settled('default', 'pro')
      await t.track('/v1/identify', { userId: 'ann', traits: { plan: 'pro' } })
      await t.rt.delivery.runDue()
      expect(rx.received).toHaveLength(1)
      expect(rx.received[0]!.headers.host).toBe(`rebind.segflow.test:${new URL(rx.url).port}`)
    } finally {
      await t.close()
      await rx.stop()
    }
  })
})

describe('nonPublicReason', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'carrier-grade NAT'],
    ['169.254.169.254', 'link-local'],
    ['0.0.0.0', 'this network'],
    ['192.0.0.1', 'IETF protocol assignments'],
    ['192.0.2.1', 'documentation'],
    ['198.18.0.1', 'benchmarking'],
    ['198.19.255.255', 'benchmarking'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['240.0.0.1', 'reserved'],
    ['255.255.255.255', 'reserved'],
    ['::', 'unspecified'],
    ['::1', 'loopback'],
    ['::127.0.0.1', 'IPv4-compatible 127.0.0.1: loopback'],
    ['::7f00:1', 'IPv4-compatible 127.0.0.1: loopback'],
    ['::ffff:127.0.0.1', 'IPv4-mapped 127.0.0.1: loopback'],
    ['::ffff:7f00:1', 'IPv4-mapped 127.0.0.1: loopback'],
    ['0:0:0:0:0:ffff:a00:1', 'IPv4-mapped 10.0.0.1: private'],
    ['::ffff:0:127.0.0.1', 'IPv4-translated 127.0.0.1: loopback'],
    ['64:ff9b::7f00:1', 'NAT64 127.0.0.1: loopback'],
    ['64:ff9b::169.254.169.254', 'NAT64 169.254.169.254: link-local'],
    ['64:ff9b:1::808:808', 'local-use NAT64'],
    ['2002:7f00:1::', '6to4 127.0.0.1: loopback'],
    ['2002:c0a8:101::1', '6to4 192.168.1.1: private'],
    ['2001:0:4136:e378:8000:63bf:80ff:fffe', 'Teredo 127.0.0.1: loopback'],
    ['fec0::1', 'site-local'],
    ['fc00::1', 'unique-local'],
    ['fd12:3456::1', 'unique-local'],
    ['fe80::1%eth0', 'link-local'],
    ['ff02::1', 'multicast'],
    ['2001:db8::1', 'documentation'],
    ['100::1', 'discard-only'],
    ['4000::1', 'not global unicast'],
    ['localhost', 'not an IP address'],
    ['1:2:3:4:5:6:7:8:9', 'not an IP address'],
  ])('%s is not public (%s)', (address, reason) => {
    expect(nonPublicReason(address)).toBe(reason)
  })

  it.each([
    '8.8.8.8',
    '93.184.216.34',
    '1.1.1.1',
    '172.32.0.1',
    '198.20.0.1',
    '223.255.255.255',
    '2606:4700::1111',
    '2a00:1450:4001:80b::200e',
    '::8.8.8.8',
    '::ffff:8.8.8.8',
    '64:ff9b::808:808',
    '64:ff9b::8.8.8.8',
    '2002:808:808::',
    '2001:0:4136:e378:8000:63bf:f7f7:f7f7',
  ])('%s is public', (address) => {
    expect(nonPublicReason(address)).toBeNull()
  })
})
