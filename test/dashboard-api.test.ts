/**
 * The API the dashboard opens with: `/api/overview` (each number equal to counting the rows
 * it stands for), `/api/segment-trends` (a segment's size at each day's instant equal to its
 * members counted then) and `/api/stream` (transitions as server-sent events, on a real
 * listening server).
 */
import type { AddressInfo } from 'node:net'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ManualClock } from '../src/shared/clock.js'
import { ADMIN_KEY, newTestApp } from './helpers/runtime.js'
import type { TestApp } from './helpers/runtime.js'
import { testStoreKinds } from './helpers/stores.js'

const MINUTE = 60_000
const HOUR = 60 * MINUTE
const DAY = 24 * HOUR
const START = Date.parse('2026-06-01T00:05:00Z')

describe.each(testStoreKinds())('dashboard API on %s', (kind) => {
  let t: TestApp
  let clock: ManualClock
  beforeEach(async () => {
    clock = new ManualClock(START)
    t = await newTestApp(kind, { clock })
  })
  afterEach(async () => {
    await t.close()
  })

  const ok = async (method: 'GET' | 'PUT' | 'DELETE', url: string, body?: unknown) => {
    const res = await t.admin(method, url, body)
    expect(res.statusCode, res.body).toBeLessThan(300)
    return res.json()
  }
  const put = async (key: string, rule: unknown) => {
    await ok('PUT', `/api/segments/${key}`, { rule })
    await t.rt.segments.settled('default', key)
  }
  const track = async (path: string, body: Record<string, unknown>) => {
    const res = await t.track(path, body)
    expect(res.statusCode, res.body).toBe(200)
  }
  /** Messages stored since `since`, counted from the event log itself. */
  const naiveEvents = async (since: number) =>
    Number(
      (
        await t.rt.store.query(
          `SELECT COUNT(*) AS n FROM events WHERE workspace_id = ? AND received_at >= ?`,
          ['default', since],
        )
      )[0]!.n,
    )

  it('counts profiles, reachable people, segments and the last hour of events as the rows say', async () => {
    await put('pro', { trait: 'plan', eq: 'pro' })
    await put('viewers', { event: 'Viewed Pricing' })
    // Reachable: an address, subscribed, and email-marketing consent (opt_in by default).
    await track('/v1/identify', {
      userId: 'ann',
      traits: { email: 'ann@example.com', plan: 'pro' },
    })
    await track('/v1/track', {
      userId: 'ann',
      event: 'Consent Updated',
      properties: { email_marketing: true },
    })
    await track('/v1/identify', { userId: 'bob', traits: { email: 'bob@example.com' } })
    await track('/v1/track', { anonymousId: 'v1', event: 'Viewed Pricing', messageId: 'same' })
    // A message sent twice is stored, and counted, once.
    await track('/v1/track', { anonymousId: 'v1', event: 'Viewed Pricing', messageId: 'same' })

    let o = await ok('GET', '/api/overview')
    expect(o).toEqual({
      profiles: 3,
      reachable: 1,
      segments: 2,
      eventsLastHour: 4,
      at: new Date(START).toISOString(),
    })
    expect(o.eventsLastHour).toBe(await naiveEvents(START - HOUR))

    // 61 minutes on, the first messages have left the hour; an anonymous visitor who logs in
    // merges into ann (still three people, one of them reachable).
    clock.advance(61 * MINUTE)
    await track('/v1/track', { anonymousId: 'v2', event: 'Viewed Pricing' })
    await track('/v1/identify', { anonymousId: 'v2', userId: 'ann' })
    clock.advance(30 * 1000)
    o = await ok('GET', '/api/overview')
    expect(o).toMatchObject({ profiles: 3, reachable: 1, eventsLastHour: 2 })
    const now = clock.now()
    expect(o.eventsLastHour).toBe(await naiveEvents(now - (now % MINUTE) - 59 * MINUTE))

    // Lifecycle stages are segments inside, but not counted as the workspace's segments.
    await ok('PUT', '/api/lifecycle', { preset: 'default' })
    expect((await ok('GET', '/api/segments')).items.length).toBeGreaterThan(2)
    expect((await ok('GET', '/api/overview')).segments).toBe(2)

    const bad = await t.admin('GET', '/api/overview?range=1h')
    expect(bad.statusCode).toBe(400)
    expect(bad.json().error.message).toContain('unknown query parameter "range"')
  })

  it("gives every segment's size at each day's instant as its members were counted then", async () => {
    await put('pro', { trait: 'plan', eq: 'pro' })
    /** Members of `pro` just before each day's 07:00 boundary. */
    const counted: number[] = []
    for (let d = 0; d < 10; d++) {
      clock.set(START + d * DAY + 3 * HOUR)
      await track('/v1/identify', { userId: `u${d}`, traits: { plan: 'pro' } })
      if (d % 3 === 2)
        await track('/v1/identify', { userId: `u${d - 2}`, traits: { plan: 'free' } })
      if (d === 5) await put('late', { trait: 'plan', eq: 'free' })
      clock.set(START + d * DAY + 7 * HOUR - 5 * MINUTE)
      counted.push((await ok('GET', '/api/segments/pro')).size)
    }
    expect(counted).toEqual([1, 2, 2, 3, 4, 4, 5, 6, 6, 7])
    // Day 9, 07:35: the points are 07:00 of days 2 to 8, then now.
    clock.set(START + 9 * DAY + 7 * HOUR + 30 * MINUTE)
    const trends = await ok('GET', '/api/segment-trends?days=7')
    expect(trends.from).toBe(new Date(START - 5 * MINUTE + 2 * DAY + 7 * HOUR).toISOString())
    expect(trends.to).toBe(new Date(clock.now()).toISOString())
    const pro = trends.items.find((i: { key: string }) => i.key === 'pro')
    expect(pro.sizes).toEqual([...counted.slice(2, 9), counted[9]])
    expect(pro.change).toBe(counted[9]! - counted[2]!)
    // `late` was made on day 5 (it had no members before) and holds who went free since.
    const late = trends.items.find((i: { key: string }) => i.key === 'late')
    const lateNow = (await ok('GET', '/api/segments/late')).size
    expect(late.sizes[0]).toBe(0)
    expect(late.sizes[7]).toBe(lateNow)
    expect(lateNow).toBeGreaterThan(0)
    // The default is 7 days; out of range is refused naming the parameter.
    expect((await ok('GET', '/api/segment-trends')).items[0].sizes).toHaveLength(8)
    const bad = await t.admin('GET', '/api/segment-trends?days=400')
    expect(bad.statusCode).toBe(400)
    expect(bad.json().error.message).toContain('days')
  })

  it('streams transitions as server-sent events while someone listens, and closes with the server', async () => {
    await put('viewers', { event: 'Viewed Pricing' })
    await t.app.listen({ port: 0, host: '127.0.0.1' })
    const { port } = t.app.server.address() as AddressInfo
    const base = `http://127.0.0.1:${port}`
    const refused = await fetch(`${base}/api/stream`)
    expect(refused.status).toBe(401)

    const res = await fetch(`${base}/api/stream`, {
      headers: { authorization: `Bearer ${ADMIN_KEY}` },
    })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toContain('text/event-stream')
    const stream = events(res)
    const next = stream.next
    // Another workspace's stream, opened alongside, gets only its own workspace's transitions.
    await t.rt.store.ensureWorkspace({ id: 'other', name: 'Other', createdAt: START })
    await t.rt.keys.create({ workspaceId: 'other', kind: 'admin', key: 'other-admin-key-0001' })
    await t.rt.keys.create({ workspaceId: 'other', kind: 'write', key: 'other-write-key-0001' })
    const otherRes = await fetch(`${base}/api/stream`, {
      headers: { authorization: 'Bearer other-admin-key-0001' },
    })
    const other = events(otherRes)
    await other.next('ready')

    await next('ready')
    await track('/v1/identify', { userId: 'cat', anonymousId: 'a-cat' })
    await track('/v1/track', { userId: 'cat', event: 'Viewed Pricing' })
    const entered = await next('transition')
    expect(entered.data).toMatchObject({
      segment: 'viewers',
      userId: 'cat',
      anonymousId: 'a-cat',
      kind: 'entered',
      at: new Date(START).toISOString(),
      reason: 'event',
      historical: false,
    })
    expect(entered.id).toBe(entered.data.id)
    const otherPut = await t.app.inject({
      method: 'PUT',
      url: '/api/segments/mine',
      headers: { authorization: 'Bearer other-admin-key-0001' },
      payload: { rule: { event: 'Signed Up' } },
    })
    expect(otherPut.statusCode, otherPut.body).toBeLessThan(300)
    await t.rt.segments.settled('other', 'mine')
    const otherTrack = await t.track(
      '/v1/track',
      { userId: 'dan', event: 'Signed Up' },
      { authorization: `Basic ${Buffer.from('other-write-key-0001:').toString('base64')}` },
    )
    expect(otherTrack.statusCode, otherTrack.body).toBe(200)
    // Its first transition is its own: cat's entry in this workspace was never sent to it.
    expect((await other.next('transition')).data).toMatchObject({ segment: 'mine', userId: 'dan' })
    // Deleting the segment makes its members leave: the feed says so.
    await ok('DELETE', '/api/segments/viewers')
    expect((await next('transition')).data).toMatchObject({
      segment: 'viewers',
      userId: 'cat',
      kind: 'exited',
    })
    // Closing the server ends the open stream instead of waiting for it.
    const closing = t.app.close()
    expect(await stream.ended()).toBe(true)
    expect(await other.ended()).toBe(true)
    await closing
  })
})

/** Server-sent events read from a fetch response. */
function events(res: Response) {
  const reader = res.body!.getReader()
  const decoder = new TextDecoder()
  let buffer = ''
  return {
    /** Reads until an event of `type` arrives; returns its data and id. */
    async next(type: string): Promise<{ data: Record<string, unknown>; id: string | undefined }> {
      for (;;) {
        const end = buffer.indexOf('\n\n')
        if (end >= 0) {
          const block = buffer.slice(0, end)
          buffer = buffer.slice(end + 2)
          const field = (name: string) =>
            block
              .split('\n')
              .find((l) => l.startsWith(`${name}: `))
              ?.slice(name.length + 2)
          if (field('event') === type) return { data: JSON.parse(field('data')!), id: field('id') }
          continue
        }
        const chunk = await reader.read()
        if (chunk.done) throw new Error(`stream ended before a ${type} event`)
        buffer += decoder.decode(chunk.value, { stream: true })
      }
    },
    /** Reads to the end; true once the server has ended the stream. */
    async ended(): Promise<boolean> {
      for (;;) if ((await reader.read()).done) return true
    },
  }
}
