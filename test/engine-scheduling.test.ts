import { afterEach, describe, expect, it } from 'vitest'
import { loadConfig } from '../src/cli/config.js'
import { openRuntime } from '../src/cli/runtime.js'
import type { Runtime } from '../src/cli/runtime.js'
import type { TimerHost } from '../src/engine/scheduler.js'
import { ManualClock } from '../src/shared/clock.js'
import { Scenario, WS } from './helpers/scenario.js'
import { newStoreLocation, testStoreKinds } from './helpers/stores.js'
import type { StoreLocation } from './helpers/stores.js'

const DAY = 86_400_000

describe.each(testStoreKinds())('scheduling cost on %s', (kind) => {
  let sc: Scenario | undefined
  afterEach(async () => {
    await sc?.close()
    sc = undefined
  })

  it('re-evaluates no profile without an event or a due timer', async () => {
    sc = await Scenario.open(kind)
    await sc.publish('month', { event: 'Signed In', within: '30d' })
    await sc.publish('pro', { trait: 'plan', eq: 'pro' })
    await sc.ingest(
      Array.from({ length: 300 }, (_, i) => ({
        userId: `u${i}`,
        event: 'Signed In',
        at: `-${i % 20}d`,
      })),
    )
    await sc.ingest(
      Array.from({ length: 300 }, (_, i) => ({
        userId: `u${i}`,
        traits: { plan: i % 2 ? 'pro' : 'free' },
      })),
    )
    const engine = sc.runtime.engine
    const before = engine.stats.evaluations
    // Ten days pass; the earliest sign-in (-19d) expires at +11d, so nothing is due.
    for (let d = 1; d <= 10; d++) await sc.advanceTo(sc.start + d * DAY)
    expect(engine.stats.evaluations).toBe(before)
    // When timers fall due, exactly their profiles are evaluated, for that segment only.
    await sc.advanceTo(sc.start + 11 * DAY)
    const due = Array.from({ length: 300 }, (_, i) => i).filter((i) => i % 20 === 19).length
    expect(engine.stats.evaluations - before).toBe(due)
    expect((await sc.runtime.segments.get(WS, 'month')).size).toBe(300 - due)
  })

  it('records the exits that fell due before an event that arrives while the scheduler is late', async () => {
    sc = await Scenario.open(kind)
    await sc.publish('recent', { event: 'Viewed', within: '1d' })
    await sc.publish('twice', { event: 'Viewed', within: '1d', count: { gte: 2 } })
    await sc.ingest([{ userId: 'u1', event: 'Viewed' }])
    expect(await sc.newTransitions()).toEqual(['u1 entered recent at +0 (event)'])
    // Two days pass and no timer fires (the process was busy, or asleep): u1's exit from
    // `recent` fell due at +1d. Then u1 views again, twice.
    sc.clock.set(sc.start + 2 * DAY)
    await sc.ingest([
      { userId: 'u1', event: 'Viewed' },
      { userId: 'u1', event: 'Viewed' },
    ])
    // The exit happened, at its own instant, before the event's entries: in that order.
    expect(await sc.newTransitions()).toEqual([
      'u1 exited recent at +1d (time)',
      'u1 entered recent at +2d (event)',
      'u1 entered twice at +2d (event)',
    ])
    expect(await sc.membership('u1', 'recent')).toBe(true)
  })
})

/** A timer host that records what it was asked, and fires only when told. */
class RecordingTimers implements TimerHost {
  readonly armed: number[] = []
  private pending: (() => void) | null = null
  set(fn: () => void, ms: number): unknown {
    this.armed.push(ms)
    this.pending = fn
    return this.armed.length
  }
  clear(): void {
    this.pending = null
  }
  fire(): void {
    const fn = this.pending
    this.pending = null
    fn?.()
  }
}

describe.each(testStoreKinds())('the scheduler on %s', (kind) => {
  let location: StoreLocation
  let rt: Runtime
  afterEach(async () => {
    await rt?.close()
    await location?.destroy()
  })

  it('holds one timeout for the earliest timer, and none when nothing is scheduled', async () => {
    location = await newStoreLocation(kind)
    const clock = new ManualClock(Date.parse('2026-05-01T00:00:00Z'))
    const timers = new RecordingTimers()
    rt = await openRuntime(loadConfig({}), { store: location.open(), clock, timers })
    await rt.start()
    expect(timers.armed).toEqual([])
    await rt.segments.publish(WS, 'week', { rule: { event: 'Signed In', within: '7d' } })
    await rt.segments.settled(WS, 'week')
    await rt.ingestor.single(WS, 'track', { userId: 'u1', event: 'Signed In' })
    await rt.ingestor.single(WS, 'track', {
      userId: 'u2',
      event: 'Signed In',
      timestamp: new Date(clock.now() - DAY).toISOString(),
    })
    // Armed for u2's expiry (6 days), the earliest; u1's later timer did not re-arm it.
    expect(timers.armed).toEqual([7 * DAY, 6 * DAY])
    clock.advance(6 * DAY)
    timers.fire()
    await rt.scheduler.stop()
    await rt.scheduler.start()
    expect((await rt.segments.get(WS, 'week')).size).toBe(1)
    // Woken at u2's expiry, it fired it and armed for u1's.
    expect(timers.armed.at(-1)).toBe(DAY)
  })
})
