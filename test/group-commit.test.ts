import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ManualClock } from '../src/shared/clock.js'
import { newTestApp } from './helpers/runtime.js'
import type { TestApp } from './helpers/runtime.js'
import { testStoreKinds } from './helpers/stores.js'

/** Holds the store's write lock until released, as a slow disk or a long commit would. */
function holdWrites(t: TestApp): { release: () => void; held: Promise<void> } {
  let release!: () => void
  const gate = new Promise<void>((r) => (release = r))
  let started!: () => void
  const held = new Promise<void>((r) => (started = r))
  void t.rt.store.write(async () => {
    started()
    await gate
  })
  return { release, held }
}

/** Waits until the queue holds `n` messages (waiting or committing). */
async function depthReaches(t: TestApp, n: number): Promise<void> {
  while (t.rt.queue.depth < n) await new Promise((r) => setTimeout(r, 2))
}

/** A valid track message, as the parser makes it. */
async function parsedTrack() {
  const { parseMessage } = await import('../src/ingest/message.js')
  const r = parseMessage(
    { userId: 'x', event: 'E' },
    { workspaceId: 'default', type: 'track', receivedAt: 0, newMessageId: () => 'p1' },
  )
  if (!r.ok) throw new Error('unreachable')
  return r.message
}

const track = (i: number) => ({ type: 'track', userId: `u${i}`, event: 'E', messageId: `m${i}` })

describe.each(testStoreKinds())('group commit on %s', (kind) => {
  let t: TestApp
  beforeEach(async () => {
    t = await newTestApp(kind, {
      clock: new ManualClock(Date.parse('2026-06-01T12:00:00Z')),
      env: { SEGFLOW_INGEST_QUEUE_LIMIT: '10' },
    })
  })
  afterEach(async () => {
    await t.close()
  })

  it('answers 429 with Retry-After when the queue is full, and loses nothing it accepted', async () => {
    const { release, held } = holdWrites(t)
    await held
    // The first request is taken for commit (and waits for the lock); the second waits in
    // the queue; the third would take the queue past 10 messages.
    const first = t.track('/v1/batch', { batch: [0, 1, 2, 3, 4, 5].map(track) })
    await depthReaches(t, 6)
    const second = t.track('/v1/batch', { batch: [6, 7, 8, 9, 10, 11].map(track) })
    await depthReaches(t, 12)
    const third = await t.track('/v1/batch', { batch: [12, 13, 14, 15, 16, 17].map(track) })
    expect(third.statusCode).toBe(429)
    expect(Number(third.headers['retry-after'])).toBeGreaterThanOrEqual(1)
    expect(third.json().error.code).toBe('overloaded')
    expect(t.rt.queue.depth).toBe(12)
    release()
    expect((await first).statusCode).toBe(200)
    expect((await second).statusCode).toBe(200)
    expect(await t.rt.store.countEvents('default')).toBe(12)
    // Once drained, the refused batch goes through on retry.
    expect(
      (await t.track('/v1/batch', { batch: [12, 13, 14, 15, 16, 17].map(track) })).statusCode,
    ).toBe(200)
    expect(await t.rt.store.countEvents('default')).toBe(18)
  })

  it('commits the requests that gather during a commit together, and answers each after it', async () => {
    const { release, held } = holdWrites(t)
    await held
    const answered: number[] = []
    const pending = Array.from({ length: 10 }, (_, i) =>
      t.track('/v1/track', track(i)).then((res) => {
        answered.push(res.statusCode)
        return res
      }),
    )
    // Wait until all ten have been accepted (authenticated, validated, queued).
    await depthReaches(t, 10)
    // Nothing is acknowledged while the commit cannot happen.
    expect(answered).toEqual([])
    const before =
      (await t.rt.metrics.commitMessages.get()).values.find(
        (v) => v.metricName === 'segflow_commit_messages_count',
      )?.value ?? 0
    release()
    for (const res of await Promise.all(pending)) expect(res.statusCode).toBe(200)
    const after =
      (await t.rt.metrics.commitMessages.get()).values.find(
        (v) => v.metricName === 'segflow_commit_messages_count',
      )?.value ?? 0
    // The first request was already committing alone; the other nine go in one commit.
    expect(after - before).toBeLessThanOrEqual(2)
    expect(await t.rt.store.countEvents('default')).toBe(10)
  })

  it('answers 503 when the commit fails, having stored nothing of the request', async () => {
    // The key is looked up (and cached) first; then the database goes away.
    expect((await t.track('/v1/track', track(0))).statusCode).toBe(200)
    await t.rt.store.close()
    const res = await t.track('/v1/track', track(1))
    expect(res.statusCode).toBe(503)
    expect(res.json().error.code).toBe('unavailable')
    expect(res.headers['retry-after']).toBe('1')
  })

  it('commits the other requests of a group when the store refuses one of them', async () => {
    const { release, held } = holdWrites(t)
    await held
    const good = (i: number) =>
      t.rt.ingestor.single('default', 'track', {
        userId: `u${i}`,
        event: 'E',
        messageId: `good-${i}`,
      })
    const first = good(0)
    await depthReaches(t, 1)
    // A message no parser would produce: its NULL messageId violates NOT NULL in both stores.
    const poison = t.rt.ingestor.commit(
      [{ ...(await parsedTrack()), messageId: null as unknown as string }],
      [],
    )
    const others = [good(1), good(2)]
    await depthReaches(t, 4)
    release()
    await first
    await expect(poison).rejects.toMatchObject({ code: 'unavailable' })
    for (const r of await Promise.all(others)) expect(r.accepted).toBe(1)
    expect(await t.rt.store.countEvents('default')).toBe(3)
  })
})
