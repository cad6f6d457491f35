import { afterEach, describe, expect, it } from 'vitest'
import { Scenario, WS } from './helpers/scenario.js'
import { testStoreKinds } from './helpers/stores.js'

describe.each(testStoreKinds())('segment engine scenarios on %s', (kind) => {
  let sc: Scenario
  afterEach(async () => {
    await sc?.close()
  })

  it('exits exactly at t + D when a windowed event expires', async () => {
    sc = await Scenario.open(kind)
    await sc.run([
      { publish: { key: 'high-intent', rule: { event: 'Viewed Pricing', within: '7d' } } },
      { ingest: [{ userId: 'u1', event: 'Viewed Pricing', at: '-1d' }] },
      {
        expect: { u1: { 'high-intent': true } },
        transitions: ['u1 entered high-intent at +0 (event)'],
      },
      { advance: '5d23h59m' },
      { expect: { u1: { 'high-intent': true } }, transitions: [] },
      { advance: '1m' },
      {
        expect: { u1: { 'high-intent': false } },
        transitions: ['u1 exited high-intent at +6d (time)'],
      },
    ])
  })

  it('considers every segment for a profile it has never seen', async () => {
    sc = await Scenario.open(kind)
    await sc.run([
      { publish: { key: 'not-pro', rule: { not: { trait: 'plan', eq: 'pro' } } } },
      { publish: { key: 'never-ordered', rule: { event: 'Order Completed', count: { eq: 0 } } } },
      { ingest: [{ anonymousId: 'a1', event: 'Viewed Pricing' }] },
      {
        expect: { a1: { 'not-pro': true, 'never-ordered': true } },
        transitions: ['a1 entered never-ordered at +0 (event)', 'a1 entered not-pro at +0 (event)'],
      },
    ])
  })

  it('enters through older_than with no event at all', async () => {
    sc = await Scenario.open(kind)
    await sc.run([
      { publish: { key: 'trial-over', rule: { trait: 'trial_started', older_than: '14d' } } },
      { ingest: [{ userId: 'u1', traits: { trial_started: '2026-04-01T06:00:00Z' } }] },
      { expect: { u1: { 'trial-over': false } }, transitions: [] },
      { advance: '30d' },
      {
        expect: { u1: { 'trial-over': true } },
        transitions: ['u1 entered trial-over at +14d6h (time)'],
      },
    ])
  })

  it('leaves a count threshold when the oldest event that still counts expires', async () => {
    sc = await Scenario.open(kind)
    await sc.run([
      {
        publish: {
          key: 'twice',
          rule: { event: 'Viewed Pricing', within: '7d', count: { gte: 2 } },
        },
      },
      {
        ingest: [
          { userId: 'u1', event: 'Viewed Pricing', at: '-3d' },
          { userId: 'u1', event: 'Viewed Pricing', at: '-1d' },
          { userId: 'u1', event: 'Viewed Pricing' },
        ],
      },
      { expect: { u1: { twice: true } }, transitions: ['u1 entered twice at +0 (event)'] },
      // The -3d view expires at +4d: two still count.
      { advance: '5d' },
      { expect: { u1: { twice: true } }, transitions: [] },
      { advance: '2d' },
      { expect: { u1: { twice: false } }, transitions: ['u1 exited twice at +6d (time)'] },
    ])
  })

  it('cascades through nested segments within the same instant, in dependency order', async () => {
    sc = await Scenario.open(kind)
    await sc.run([
      { publish: { key: 'active', rule: { event: 'Logged In', within: '1d' } } },
      {
        publish: {
          key: 'active-pro',
          rule: { all: [{ segment: 'active' }, { trait: 'plan', eq: 'pro' }] },
        },
      },
      {
        publish: {
          key: 'active-pro-eu',
          rule: { all: [{ segment: 'active-pro' }, { trait: 'region', eq: 'eu' }] },
        },
      },
      { ingest: [{ userId: 'u1', traits: { plan: 'pro', region: 'eu' } }] },
      { advance: '1h' },
      { ingest: [{ userId: 'u1', event: 'Logged In' }] },
      {
        expect: { u1: { active: true, 'active-pro': true, 'active-pro-eu': true } },
        transitions: [
          'u1 entered active at +1h (event)',
          'u1 entered active-pro at +1h (event)',
          'u1 entered active-pro-eu at +1h (event)',
        ],
      },
      { advance: '2d' },
      {
        expect: { u1: { active: false, 'active-pro': false, 'active-pro-eu': false } },
        transitions: [
          'u1 exited active at +1d1h (time)',
          'u1 exited active-pro at +1d1h (time)',
          'u1 exited active-pro-eu at +1d1h (time)',
        ],
      },
      // A trait change cascades too.
      { ingest: [{ userId: 'u1', event: 'Logged In' }] },
      { ingest: [{ userId: 'u1', traits: { region: 'us' } }] },
      {
        expect: { u1: { 'active-pro': true, 'active-pro-eu': false } },
        transitions: [
          'u1 entered active at +2d1h (event)',
          'u1 entered active-pro at +2d1h (event)',
          'u1 entered active-pro-eu at +2d1h (event)',
          'u1 exited active-pro-eu at +2d1h (event)',
        ],
      },
    ])
  })

  it('re-evaluates a merged profile (reason merge), the merged-away one leaving', async () => {
    sc = await Scenario.open(kind)
    await sc.run([
      { publish: { key: 'viewers', rule: { event: 'Viewed Pricing', count: { gte: 2 } } } },
      {
        publish: {
          key: 'pro-viewers',
          rule: { all: [{ trait: 'plan', eq: 'pro' }, { segment: 'viewers' }] },
        },
      },
      {
        ingest: [
          { userId: 'u1', traits: { plan: 'pro' } },
          { userId: 'u1', event: 'Viewed Pricing' },
        ],
      },
      {
        ingest: [
          { anonymousId: 'a1', event: 'Viewed Pricing' },
          { anonymousId: 'a1', event: 'Viewed Pricing' },
        ],
      },
      {
        expect: { u1: { viewers: false, 'pro-viewers': false }, a1: { viewers: true } },
        transitions: ['a1 entered viewers at +0 (event)'],
      },
      { advance: '1h' },
      { ingest: [{ type: 'identify', userId: 'u1', anonymousId: 'a1' }] },
      {
        expect: { u1: { viewers: true, 'pro-viewers': true }, a1: { viewers: true } },
        transitions: [
          // The anonymous profile is gone (its transitions name it by its own id).
          expect.stringMatching(/^prf_\w+ exited viewers at \+1h \(merge\)$/) as unknown as string,
          'u1 entered viewers at +1h (merge)',
          'u1 entered pro-viewers at +1h (merge)',
        ],
      },
    ])
  })

  it('counts a late event from its own timestamp', async () => {
    sc = await Scenario.open(kind)
    await sc.run([
      { publish: { key: 'recent', rule: { event: 'Order Completed', within: '7d' } } },
      { ingest: [{ userId: 'u1', event: 'Order Completed', at: '-8d' }] },
      { expect: { u1: { recent: false } }, transitions: [] },
      { ingest: [{ userId: 'u2', event: 'Order Completed', at: '-6d' }] },
      { expect: { u2: { recent: true } }, transitions: ['u2 entered recent at +0 (event)'] },
      { advance: '2d' },
      { expect: { u2: { recent: false } }, transitions: ['u2 exited recent at +1d (time)'] },
    ])
  })

  it('fires the timers that fell due while stopped, at their true instants, in order', async () => {
    sc = await Scenario.open(kind)
    await sc.run([
      { publish: { key: 'hour', rule: { event: 'Opened App', within: '1h' } } },
      { publish: { key: 'day', rule: { event: 'Opened App', within: '1d' } } },
      {
        ingest: [
          { userId: 'u1', event: 'Opened App' },
          { userId: 'u2', event: 'Opened App', at: '-30m' },
        ],
      },
      { expect: { u1: { hour: true, day: true } } },
      { stop: true },
    ])
    sc.clock.advance(3 * 86_400_000)
    await sc.run([
      { start: true },
      {
        expect: { u1: { hour: false, day: false }, u2: { hour: false, day: false } },
        transitions: [
          'u2 exited hour at +30m (time)',
          'u1 exited hour at +1h (time)',
          'u2 exited day at +23h30m (time)',
          'u1 exited day at +1d (time)',
        ],
      },
    ])
  })

  it('backfills a new segment over stored history, then keeps it live', async () => {
    sc = await Scenario.open(kind)
    await sc.run([
      {
        ingest: [
          { userId: 'u1', event: 'Viewed Pricing', at: '-2d' },
          { userId: 'u2', event: 'Viewed Pricing', at: '-10d' },
        ],
      },
      { publish: { key: 'week', rule: { event: 'Viewed Pricing', within: '7d' } } },
      {
        expect: { u1: { week: true }, u2: { week: false } },
        transitions: ['u1 entered week at +0 (backfill)'],
      },
      { advance: '5d' },
      { expect: { u1: { week: false } }, transitions: ['u1 exited week at +5d (time)'] },
    ])
    const seg = await sc.runtime.segments.get(WS, 'week')
    expect(seg).toMatchObject({ status: 'live', version: 1, liveVersion: 1, size: 0 })
  })

  it('applies a new version as rule_change transitions, after showing the diff', async () => {
    sc = await Scenario.open(kind)
    await sc.run([
      {
        ingest: [
          { userId: 'u1', traits: { plan: 'pro' } },
          { userId: 'u2', traits: { plan: 'team' } },
          { userId: 'u3', traits: { plan: 'free' } },
        ],
      },
      { publish: { key: 'paid', rule: { trait: 'plan', eq: 'pro' } } },
      {
        expect: { u1: { paid: true }, u2: { paid: false } },
        transitions: ['u1 entered paid at +0 (backfill)'],
      },
    ])
    const next = { trait: 'plan', in: ['team', 'enterprise'] }
    const diff = await sc.runtime.segments.diff(WS, 'paid', next)
    expect(diff.entering).toMatchObject({ count: 1, sample: [{ userId: 'u2' }] })
    expect(diff.exiting).toMatchObject({ count: 1, sample: [{ userId: 'u1' }] })
    await sc.run([
      { advance: '1h' },
      { publish: { key: 'paid', rule: next } },
      {
        expect: { u1: { paid: false }, u2: { paid: true }, u3: { paid: false } },
        transitions: expect.arrayContaining([
          'u1 exited paid at +1h (rule_change)',
          'u2 entered paid at +1h (rule_change)',
        ]) as unknown as string[],
      },
    ])
    expect(await sc.runtime.segments.get(WS, 'paid')).toMatchObject({
      version: 2,
      liveVersion: 2,
      status: 'live',
      size: 1,
    })
    const versions = await sc.runtime.store.listSegmentVersions(WS, 'paid')
    expect(versions.map((v) => v.rule)).toEqual([{ trait: 'plan', eq: 'pro' }, next])
  })

  it('refuses to delete a segment others use; deleting one exits its members', async () => {
    sc = await Scenario.open(kind)
    await sc.run([
      { publish: { key: 'base', rule: { trait: 'plan', eq: 'pro' } } },
      { publish: { key: 'derived', rule: { segment: 'base' } } },
      { ingest: [{ userId: 'u1', traits: { plan: 'pro' } }] },
      { expect: { u1: { base: true, derived: true } } },
    ])
    await expect(sc.runtime.segments.remove(WS, 'base')).rejects.toMatchObject({
      code: 'segment_in_use',
      status: 409,
    })
    await expect(
      sc.runtime.segments.publish(WS, 'base', { rule: { segment: 'derived' } }),
    ).rejects.toMatchObject({
      code: 'invalid_rule',
      message: expect.stringMatching(
        /refers to itself: (base → derived → base|derived → base → derived)/,
      ),
    })
    await sc.run([
      { advance: '1m' },
      { remove: 'derived' },
      {
        expect: { u1: { base: true, derived: false } },
        transitions: ['u1 exited derived at +1m (deleted)'],
      },
      // Once deleted, nothing of it runs: a later change fires nothing for it.
      { ingest: [{ userId: 'u1', traits: { plan: 'free' } }] },
      { expect: { u1: { base: false } }, transitions: ['u1 exited base at +1m (event)'] },
    ])
  })

  it('drops the tracker state no rule needs once a segment is deleted or replaced', async () => {
    sc = await Scenario.open(kind)
    const keys = async () =>
      (await sc.runtime.store.query('SELECT DISTINCT key FROM trackers ORDER BY key', [])).map(
        (r) => String(r.key),
      )
    await sc.run([
      { publish: { key: 'seen-twice', rule: { event: 'Viewed Pricing', count: { gte: 2 } } } },
      { publish: { key: 'also-twice', rule: { event: 'Viewed Pricing', count: { gte: 2 } } } },
      {
        publish: {
          key: 'ordered',
          rule: { aggregate: 'sum', event: 'Order Completed', property: 'revenue', gte: 10 },
        },
      },
      {
        ingest: [
          { userId: 'u1', event: 'Viewed Pricing' },
          { userId: 'u1', event: 'Order Completed', properties: { revenue: 12 } },
        ],
      },
    ])
    expect(await keys()).toHaveLength(2)
    await sc.run([{ remove: 'ordered' }])
    expect(await keys()).toHaveLength(1)
    // Shared by two segments: deleting one keeps it.
    await sc.run([{ remove: 'also-twice' }])
    expect(await keys()).toHaveLength(1)
    // A new version that reads other events replaces the old state once it is live.
    await sc.run([{ publish: { key: 'seen-twice', rule: { event: 'Signed Up' } } }])
    expect(await keys()).toHaveLength(0)
  })
})
