/**
 * Scores, lifecycle stages and computed fields as live as segments: scenario tables on the
 * simulated clock, and the admin API that shows and explains them.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { ManualClock } from '../src/shared/clock.js'
import { newTestApp } from './helpers/runtime.js'
import type { TestApp } from './helpers/runtime.js'
import { Scenario, WS } from './helpers/scenario.js'
import { runSql, testStoreKinds } from './helpers/stores.js'

const HOUR = 3_600_000
const DAY = 24 * HOUR

/** Transitions since the last call, sorted (several can share one instant). */
async function moves(sc: Scenario): Promise<string[]> {
  return (await sc.newTransitions()).sort()
}

describe.each(testStoreKinds())('scores and lifecycle on %s', (kind) => {
  let sc: Scenario
  afterEach(async () => {
    await sc?.close()
  })

  it('exits a score segment at the exact instant decay carries the score below the threshold', async () => {
    sc = await Scenario.open(kind)
    await sc.runtime.scores.put(WS, 'opens', {
      halfLife: '1d',
      criteria: [{ name: 'Opened', event: 'Email Opened', points: 8 }],
    })
    await sc.run([
      { publish: { key: 'engaged', rule: { score: 'opens', gte: 5 } } },
      { ingest: [{ userId: 'u1', event: 'Email Opened' }] },
      { advance: '6h' },
      { ingest: [{ userId: 'u1', event: 'Email Opened' }] },
      // 8 + 8 = 16; at +1d 4 + 8; at +1d6h 4 + 4; at +2d 2 + 4 = 6; at +2d6h 2 + 2 = 4 < 5.
      { advance: '1d23h59m' },
      {
        expect: { u1: { engaged: true } },
        transitions: ['u1 entered engaged at +0 (event)'],
      },
      { advance: '1m' },
      {
        expect: { u1: { engaged: false } },
        transitions: ['u1 exited engaged at +2d6h (time)'],
      },
    ])
  })

  it('moves a person New → Active → Lapsing → At-risk → Churned, and back to Active', async () => {
    sc = await Scenario.open(kind)
    const view = await sc.runtime.lifecycle.put(WS, { preset: 'default' })
    expect(view.stages.map((s) => s.key)).toEqual([
      'new',
      'active',
      'lapsing',
      'at_risk',
      'churned',
    ])
    const stage = async () =>
      (await sc.runtime.insights.forProfile(
        WS,
        (await sc.runtime.store.resolveProfileId(WS, 'u1'))!,
      ))!.lifecycle?.stage ?? null

    await sc.ingest([{ type: 'page', userId: 'u1', name: 'Home' }])
    expect(await moves(sc)).toEqual(['u1 entered lifecycle-new at +0 (event)'])
    expect(await stage()).toBe('new')
    await sc.advanceTo(sc.start + 3 * DAY)
    await sc.ingest([{ userId: 'u1', event: 'Viewed Pricing' }])
    expect(await moves(sc)).toEqual([])
    // First seen 7 days ago: no longer new; engaged 4 days ago: active.
    await sc.advanceTo(sc.start + 40 * DAY - 1)
    expect(await moves(sc)).toEqual([
      'u1 entered lifecycle-active at +7d (time)',
      'u1 entered lifecycle-at_risk at +17d (time)',
      'u1 entered lifecycle-churned at +33d (time)',
      'u1 entered lifecycle-lapsing at +10d (time)',
      'u1 exited lifecycle-active at +10d (time)',
      'u1 exited lifecycle-at_risk at +33d (time)',
      'u1 exited lifecycle-lapsing at +17d (time)',
      'u1 exited lifecycle-new at +7d (time)',
    ])
    expect(await stage()).toBe('churned')
    // Reactivated: any engagement brings them back to Active at once.
    await sc.advanceTo(sc.start + 40 * DAY)
    await sc.ingest([{ type: 'page', userId: 'u1', name: 'Pricing' }])
    expect(await moves(sc)).toEqual([
      'u1 entered lifecycle-active at +40d (event)',
      'u1 exited lifecycle-churned at +40d (event)',
    ])
    expect(await stage()).toBe('active')
    const why = await sc.runtime.lifecycle.explain(WS, 'u1')
    expect(why.stage).toBe('active')
    expect(why.stages.map((s) => [s.stage, s.member])).toEqual([
      ['new', false],
      ['active', true],
      ['lapsing', false],
      ['at_risk', false],
      ['churned', false],
    ])
  })

  it('lets rules use stages, scores and computed fields, and changing a model re-evaluates its segments', async () => {
    sc = await Scenario.open(kind)
    await sc.runtime.lifecycle.put(WS, { preset: 'default' })
    await sc.runtime.scores.put(WS, 'buyer', {
      criteria: [{ event: 'Order Completed', points: 10, cap: 30 }],
    })
    await sc.run([
      {
        publish: {
          key: 'new-buyers',
          rule: { all: [{ lifecycle: 'new' }, { score: 'buyer', gte: 20 }] },
        },
      },
      { publish: { key: 'big-spenders', rule: { computed: 'total_revenue', gte: 100 } } },
      {
        publish: {
          key: 'lapsed-buyers',
          rule: { computed: 'last_purchase_at', older_than: '30d' },
        },
      },
      {
        ingest: [
          { userId: 'u1', event: 'Order Completed', properties: { revenue: 60 } },
          { userId: 'u1', event: 'Order Completed', properties: { revenue: 49.99 } },
        ],
      },
      {
        expect: { u1: { 'new-buyers': true, 'big-spenders': true, 'lapsed-buyers': false } },
      },
    ])
    await moves(sc)
    // A model change publishes a new version of the segments using it: 5 points an order is too few.
    const before = (await sc.runtime.segments.get(WS, 'new-buyers')).version
    await sc.advanceTo(sc.start + HOUR)
    const out = await sc.runtime.scores.put(WS, 'buyer', {
      criteria: [{ event: 'Order Completed', points: 5 }],
    })
    expect(out.republished).toEqual(['new-buyers'])
    await sc.runtime.segments.settled(WS, 'new-buyers')
    expect((await sc.runtime.segments.get(WS, 'new-buyers')).version).toBe(before + 1)
    await sc.run([
      {
        expect: { u1: { 'new-buyers': false } },
        transitions: ['u1 exited new-buyers at +1h (rule_change)'],
      },
      { advance: '29d22h59m' },
      { expect: { u1: { 'lapsed-buyers': false } } },
    ])
    await sc.advanceTo(sc.start + 30 * DAY)
    expect((await moves(sc)).filter((l) => !l.includes('lifecycle-'))).toEqual([
      'u1 entered lapsed-buyers at +30d (time)',
    ])
    expect(await sc.membership('u1', 'big-spenders')).toBe(true)
  })
  it('rewrites models stored as half_life (before schema version 12) to halfLife', async () => {
    sc = await Scenario.open(kind)
    await sc.runtime.scores.put(WS, 'opens', {
      halfLife: '1d',
      criteria: [{ name: 'Opened', event: 'Email Opened', points: 8 }],
    })
    await sc.run([
      { publish: { key: 'engaged', rule: { score: 'opens', gte: 5 } } },
      { ingest: [{ userId: 'u1', event: 'Email Opened' }] },
      { stop: true },
    ])
    // The data as a version before 12 left it: the model and the segment's copy of it in snake_case.
    const old = (col: string) => `${col} = replace(${col}, '"halfLife":', '"half_life":')`
    await runSql(sc.location, [
      `UPDATE score_models SET ${old('definition')}`,
      `UPDATE segments SET ${old('models')}, ${old('live_models')}`,
      `DELETE FROM segflow_migrations WHERE version = 12`,
    ])
    const [before] = await runSql(sc.location, [`SELECT definition FROM score_models`])
    expect(String(before![0]!.definition)).toContain('"half_life":"1d"')
    await sc.run([{ start: true }])
    const model = await sc.runtime.scores.get(WS, 'opens')
    expect(model.halfLife).toBe('1d')
    expect(model.definition).toEqual({
      halfLife: '1d',
      criteria: [{ name: 'Opened', event: 'Email Opened', points: 8 }],
    })
    const [segs] = await runSql(sc.location, [`SELECT models, live_models FROM segments`])
    expect(JSON.parse(String(segs![0]!.live_models))).toEqual({ opens: model.definition })
    // The decay still applies: 8 points halve to 4 a day later, below 5.
    await sc.run([
      { expect: { u1: { engaged: true } } },
      { advance: '1d' },
      { expect: { u1: { engaged: false } }, transitions: ['u1 exited engaged at +1d (time)'] },
    ])
  })
})

describe.each(testStoreKinds())(
  'scores, computed fields and lifecycle over the API on %s',
  (kind) => {
    let t: TestApp
    let clock: ManualClock
    const NOW = Date.parse('2026-06-01T12:00:00Z')
    afterEach(async () => {
      await t.close()
    })

    async function setUp() {
      clock = new ManualClock(NOW)
      t = await newTestApp(kind, { clock })
      const at = (ms: number) => new Date(NOW - ms).toISOString()
      const r = await t.track('/v1/batch', {
        batch: [
          {
            type: 'identify',
            userId: 'ann',
            traits: { email: 'ann@example.com' },
            timestamp: at(20 * DAY),
          },
          {
            type: 'track',
            userId: 'ann',
            event: 'Order Completed',
            properties: { revenue: 30.5 },
            timestamp: at(10 * DAY),
          },
          {
            type: 'track',
            userId: 'ann',
            event: 'Order Completed',
            properties: { revenue: 19.5 },
            timestamp: at(2 * DAY),
          },
          { type: 'track', userId: 'ann', event: 'Email Opened', timestamp: at(9 * DAY) },
          { type: 'track', userId: 'ann', event: 'Email Opened', timestamp: at(1 * DAY) },
          { type: 'track', userId: 'ann', event: 'Email Clicked', timestamp: at(1 * DAY) },
          { type: 'page', userId: 'ann', name: 'Home', timestamp: at(HOUR) },
        ],
      })
      expect(r.statusCode).toBe(200)
    }

    it('shows computed fields, scores and the stage on the profile, and explains the score', async () => {
      await setUp()
      expect(
        (await t.admin('PUT', '/api/scores/engagement', { preset: 'engagement' })).statusCode,
      ).toBe(201)
      expect((await t.admin('PUT', '/api/lifecycle', { preset: 'default' })).statusCode).toBe(200)
      await t.rt.segments.settled(WS, 'lifecycle-active')
      const p = (await t.admin('GET', '/api/profiles/ann')).json()
      expect(p.computed).toEqual({
        last_purchase_at: new Date(NOW - 2 * DAY).toISOString(),
        purchase_count: 2,
        total_revenue: 50,
        account_age_days: 20,
        last_email_opened_at: new Date(NOW - DAY).toISOString(),
        last_email_clicked_at: new Date(NOW - DAY).toISOString(),
        // This week: the order 2 days ago, an open, a click and a page; last week: an order and an open.
        engagement_this_week: 4,
        engagement_last_week: 2,
        engagement_velocity: 2,
      })
      // Opens 2 + 2, click 5, page 1, orders 10 + 10 (none a half-life old yet), seen this week 10, this month 5.
      expect(p.scores).toEqual({ engagement: 45 })
      expect(p.lifecycle).toMatchObject({ stage: 'active', name: 'Active' })

      const why = (await t.admin('GET', '/api/profiles/ann/scores/engagement')).json()
      expect(why.score).toBe(45)
      expect(why.criteria).toEqual([
        { criterion: 'Opened an email', kind: 'event', points: 4 },
        { criterion: 'Clicked an email', kind: 'event', points: 5 },
        { criterion: 'Visited a page', kind: 'event', points: 1 },
        { criterion: 'Purchased', kind: 'event', points: 20 },
        { criterion: 'Active in the last 7 days', kind: 'rule', points: 10 },
        { criterion: 'Active in the last 30 days', kind: 'rule', points: 5 },
      ])
      // Four days later the oldest purchase is 14 days old: its 10 points have halved.
      clock.set(NOW + 4 * DAY)
      const later = (await t.admin('GET', '/api/profiles/ann/scores/engagement')).json()
      expect(later.criteria[3]).toEqual({ criterion: 'Purchased', kind: 'event', points: 15 })
    })

    it('renders templates with computed fields, scores and the stage', async () => {
      await setUp()
      await t.admin('PUT', '/api/scores/engagement', { preset: 'engagement' })
      await t.admin('PUT', '/api/lifecycle', { preset: 'default' })
      await t.rt.segments.settled(WS, 'lifecycle-active')
      const put = await t.admin('PUT', '/api/templates/hello', {
        subject: 'Hi',
        html: '{% if lifecycle == "active" %}Welcome back{% endif %}: {{ computed.purchase_count }} orders, {{ computed.total_revenue }} spent, score {{ scores.engagement }}',
      })
      expect(put.statusCode).toBeLessThan(300)
      const preview = await t.admin('POST', '/api/templates/hello/preview', { profile: 'ann' })
      expect(preview.statusCode).toBe(200)
      expect(preview.json().previews[0].html).toBe('Welcome back: 2 orders, 50 spent, score 45')
    })

    it('explains a score inside a segment, shows the presets, and turns stages on and off', async () => {
      await setUp()
      expect((await t.admin('GET', '/api/scores/presets')).json().engagement.halfLife).toBe('14d')
      // A model named "presets" could never be read back: the key is reserved.
      const reserved = await t.admin('PUT', '/api/scores/presets', { preset: 'engagement' })
      expect(reserved.statusCode).toBe(400)
      expect(reserved.json().error.message).toContain('"presets" is reserved')
      await t.admin('PUT', '/api/scores/engagement', { preset: 'engagement' })
      await t.admin('PUT', '/api/segments/engaged', { rule: { score: 'engagement', gte: 40 } })
      await t.rt.segments.settled(WS, 'engaged')
      const why = (await t.admin('GET', '/api/profiles/ann/explain/engaged')).json()
      expect(why.member).toBe(true)
      expect(why.explanation.values.score).toBe(45)
      expect(why.explanation.values.criteria[3]).toEqual({ criterion: 'Purchased', points: 20 })

      const off = (await t.admin('GET', '/api/lifecycle')).json()
      expect(off.enabled).toBe(false)
      expect(off.defaults.map((d: { key: string }) => d.key)).toEqual([
        'new',
        'active',
        'lapsing',
        'at_risk',
        'churned',
      ])
      await t.admin('PUT', '/api/lifecycle', { preset: 'default' })
      await t.rt.segments.settled(WS, 'lifecycle-active')
      const on = (await t.admin('GET', '/api/lifecycle')).json()
      expect(on.stages.find((x: { key: string }) => x.key === 'active').size).toBe(1)
      expect((await t.admin('DELETE', '/api/lifecycle')).statusCode).toBe(200)
      expect((await t.admin('GET', '/api/lifecycle')).json().enabled).toBe(false)
      expect((await t.admin('GET', '/api/profiles/ann')).json().lifecycle).toBeNull()
    })

    it('runs an automation when a person enters a lifecycle stage', async () => {
      await setUp()
      await t.admin('PUT', '/api/lifecycle', { preset: 'default' })
      await t.rt.segments.settled(WS, 'lifecycle-at_risk')
      const put = await t.admin('PUT', '/api/automations/winback', {
        trigger: { segment: 'lifecycle-at_risk', on: 'entered' },
        actions: [{ type: 'set_trait', trait: 'winback', value: true }],
      })
      expect(put.statusCode, put.body).toBe(201)
      // Ann last engaged an hour ago: at risk 14 days after that, to the millisecond.
      clock.set(NOW + 14 * DAY - HOUR)
      await t.rt.store.write((tx) => t.rt.engine.fireDue(tx, clock.now()))
      expect(await t.rt.automationRunner.runDue()).toBe(1)
      const p = (await t.admin('GET', '/api/profiles/ann')).json()
      expect(p.traits.winback).toBe(true)
      expect(p.lifecycle).toEqual({
        stage: 'at_risk',
        name: 'At-risk',
        since: new Date(NOW + 14 * DAY - HOUR).toISOString(),
      })
    })

    it('spells halfLife the same going in and coming out, and refuses half_life', async () => {
      await setUp()
      const snake = await t.admin('PUT', '/api/scores/opens', {
        half_life: '7d',
        criteria: [{ event: 'Email Opened', points: 2 }],
      })
      expect(snake.statusCode).toBe(400)
      expect(snake.json().error.code).toBe('invalid_model')
      expect(snake.json().error.issues[0].path).toBe('half_life')
      expect(snake.json().error.message).toContain('did you mean halfLife?')
      const camel = await t.admin('PUT', '/api/scores/opens', {
        halfLife: '7d',
        criteria: [{ event: 'Email Opened', points: 2 }],
      })
      expect(camel.statusCode).toBe(201)
      const got = (await t.admin('GET', '/api/scores/opens')).json()
      expect(got.halfLife).toBe('7d')
      expect(got.definition.halfLife).toBe('7d')
      const presets = (await t.admin('GET', '/api/scores/presets')).json()
      expect(Object.keys(presets.engagement)).not.toContain('half_life')
    })

    it('refuses bad models, unknown models, reserved keys and deleting a model in use', async () => {
      await setUp()
      const bad = await t.admin('PUT', '/api/scores/x', {
        halfLife: 'soon',
        criteria: [
          { event: 'Email Opened', points: 'two' },
          { rule: { segment: 'vip' }, points: 1 },
        ],
      })
      expect(bad.statusCode).toBe(400)
      expect(bad.json().error.code).toBe('invalid_model')
      expect(bad.json().error.issues.map((i: { path: string }) => i.path)).toEqual([
        'halfLife',
        'criteria[0].points',
        'criteria[1].rule',
      ])
      const unknown = await t.admin('PUT', '/api/segments/s', { rule: { score: 'nope', gte: 1 } })
      expect(unknown.statusCode).toBe(400)
      expect(unknown.json().error.message).toContain('scoring model nope does not exist')
      const reserved = await t.admin('PUT', '/api/segments/lifecycle-x', {
        rule: { trait: 'a', exists: true },
      })
      expect(reserved.statusCode).toBe(400)
      expect(reserved.json().error.message).toContain('PUT /api/lifecycle')
      await t.admin('PUT', '/api/scores/m', { criteria: [{ type: 'page', points: 1 }] })
      await t.admin('PUT', '/api/segments/s', { rule: { score: 'm', gte: 1 } })
      const del = await t.admin('DELETE', '/api/scores/m')
      expect(del.statusCode).toBe(409)
      expect(del.json().error.usedBy).toEqual(['s'])
      const badStage = await t.admin('PUT', '/api/lifecycle', {
        stages: [
          { key: 'a', rule: { lifecycle: 'b' } },
          { key: 'a', rule: { trait: 'x', exists: true } },
        ],
      })
      expect(badStage.statusCode).toBe(400)
      expect(badStage.json().error.issues.map((i: { path: string }) => i.path)).toEqual([
        'stages[0].rule',
        'stages[1].key',
      ])
    })
  },
)
