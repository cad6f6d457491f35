/**
 * Issue 14 item 3: imported history must not act like something happening now. Transitions
 * caused by `segflow import` have reason `import` and are historical, as are those of messages
 * or timers processed more than SEGFLOW_HISTORY_AFTER late; automations skip them (recorded as
 * skipped runs) unless `trigger.history` is `run`; webhooks get them flagged unless the
 * endpoint says `history: skip`.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ConfigError, loadConfig } from '../src/cli/config.js'
import { importFile } from '../src/ingest/import.js'
import { ManualClock } from '../src/shared/clock.js'
import type { StoredTransition } from '../src/store/store.js'
import { Receiver } from './helpers/receiver.js'
import { newTestApp } from './helpers/runtime.js'
import type { TestApp } from './helpers/runtime.js'
import { testStoreKinds } from './helpers/stores.js'

const NOW = Date.parse('2026-06-01T12:00:00Z')
const HOUR = 3_600_000
const DAY = 24 * HOUR
const iso = (ms: number) => new Date(ms).toISOString()

interface RunView {
  profileId: string
  type: string
  status: string
  detail: string | null
}

describe.each(testStoreKinds())('historical transitions on %s', (kind) => {
  let t: TestApp
  let clock: ManualClock
  let rx: Receiver
  let dir: string

  const start = async (env: Record<string, string> = {}) => {
    t = await newTestApp(kind, {
      clock,
      env: { SEGFLOW_WEBHOOK_ALLOW_PRIVATE: 'true', ...env },
      delivery: { random: () => 0.5, timeoutMs: 1000 },
      random: () => 0.5,
    })
    const seg = await t.admin('PUT', '/api/segments/pricing', {
      rule: { event: 'Viewed Pricing', within: '7d' },
    })
    expect(seg.statusCode, seg.body).toBe(201)
    await t.rt.segments.settled('default', 'pricing')
  }

  beforeEach(async () => {
    clock = new ManualClock(NOW)
    rx = await new Receiver().start()
    dir = mkdtempSync(join(tmpdir(), 'segflow-history-'))
  })
  afterEach(async () => {
    await t?.close()
    await rx.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  const automation = async (key: string, trigger: Record<string, unknown> = {}) => {
    const res = await t.admin('PUT', `/api/automations/${key}`, {
      trigger: { segment: 'pricing', on: 'entered', ...trigger },
      actions: [{ type: 'add_tag', tag: key }],
    })
    expect(res.statusCode, res.body).toBe(201)
    return res.json() as { trigger: Record<string, unknown> }
  }
  const hook = async (id: string, body: Record<string, unknown> = {}) => {
    const res = await t.admin('PUT', `/api/webhooks/${id}`, { url: rx.url, ...body })
    expect(res.statusCode, res.body).toBe(201)
    return res.json() as { history: string }
  }
  const importEvents = async (users: string[], at: number) => {
    const file = join(dir, `events-${at}.ndjson`)
    writeFileSync(
      file,
      users
        .map((userId) =>
          JSON.stringify({ type: 'track', userId, event: 'Viewed Pricing', timestamp: iso(at) }),
        )
        .join('\n'),
    )
    // What `segflow import` runs, in process, on the injected clock.
    const summary = await importFile(file, t.rt.ingestor, clock, {
      workspaceId: 'default',
      format: 'ndjson',
    })
    expect(summary.stored).toBe(users.length)
  }
  const track = async (userId: string, at: number) => {
    const res = await t.track('/v1/track', {
      userId,
      event: 'Viewed Pricing',
      timestamp: iso(at),
    })
    expect(res.statusCode, res.body).toBe(200)
  }
  const transitions = async (): Promise<StoredTransition[]> =>
    t.rt.store.listTransitions('default', { limit: 1000 })
  const who = async (ts: readonly StoredTransition[]) => {
    const out: string[] = []
    for (const x of ts) {
      const p = await t.rt.store.getProfile('default', x.profileId)
      out.push(
        `${p?.userId} ${x.type} ${x.reason}${x.historical ? ' historical' : ''} at ${iso(x.at)}`,
      )
    }
    return out
  }
  const runs = async (key: string) =>
    (await t.admin('GET', `/api/automations/${key}/runs`)).json().items as RunView[]
  const tags = async (userId: string) =>
    (await t.admin('GET', `/api/profiles/${userId}`)).json().traits.tags as string[] | undefined
  const deliver = () => t.rt.delivery.runDue()
  /** What an endpoint was sent (delivered, as the receiver got it), sorted. */
  const received = async (id: string) => {
    const items = (await t.admin('GET', `/api/webhooks/${id}/deliveries`)).json().items as {
      id: string
      status: string
    }[]
    return items
      .map((d) => {
        expect(d.status).toBe('succeeded')
        const r = rx.received.find((x) => x.id === d.id)!
        const data = r.json.data as { reason: string; historical: boolean; type: string }
        return `${data.type} ${data.reason} historical=${data.historical}`
      })
      .sort()
  }
  const fire = () => t.rt.store.write((tx) => t.rt.engine.fireDue(tx, clock.now()))

  it('an import of 4-day-old events: reason import, historical, no automation acts (skipped runs), webhooks flagged', async () => {
    await start()
    await automation('nudge')
    await hook('crm')
    await importEvents(['ann', 'bob'], NOW - 4 * DAY)

    expect((await who(await transitions())).sort()).toEqual([
      `ann segment.entered import historical at ${iso(NOW)}`,
      `bob segment.entered import historical at ${iso(NOW)}`,
    ])
    // No run executes: each is recorded as skipped, saying why.
    expect(await t.rt.automationRunner.runDue()).toBe(0)
    const skipped = await runs('nudge')
    expect(skipped.map((r) => r.status)).toEqual(['skipped', 'skipped'])
    for (const r of skipped)
      expect(r.detail).toBe(
        'historical transition (reason import): not acted on, as trigger.history is skip (set it to run to act on history)',
      )
    expect(await tags('ann')).toBeUndefined()
    expect(await tags('bob')).toBeUndefined()
    // The webhook mirrors membership: it gets them, flagged.
    await deliver()
    expect(await received('crm')).toEqual([
      'segment.entered import historical=true',
      'segment.entered import historical=true',
    ])

    // The explanation says where the membership came from.
    const explained = (await t.admin('GET', '/api/profiles/ann/explain/pricing')).json()
    expect(explained).toMatchObject({
      member: true,
      since: iso(NOW),
      lastTransition: { type: 'segment.entered', at: iso(NOW), reason: 'import', historical: true },
    })

    // Their 7-day window ends 3 days from now, on time: that exit is live.
    clock.set(NOW - 4 * DAY + 7 * DAY)
    await fire()
    expect((await who(await transitions())).slice(2).sort()).toEqual([
      `ann segment.exited time at ${iso(NOW + 3 * DAY)}`,
      `bob segment.exited time at ${iso(NOW + 3 * DAY)}`,
    ])
    expect((await t.admin('GET', '/api/profiles/ann/explain/pricing')).json()).toMatchObject({
      member: false,
      lastTransition: { type: 'segment.exited', reason: 'time', historical: false },
    })
  })

  it('live events still trigger; a live event older than SEGFLOW_HISTORY_AFTER is historical', async () => {
    await start()
    await automation('nudge')
    await hook('crm')
    await track('cat', NOW) // now
    await track('dan', NOW - 23 * HOUR) // late, within the threshold
    await track('eve', NOW - 2 * DAY) // older than 24h: a replay, an offline device
    expect(await who(await transitions())).toEqual([
      `cat segment.entered event at ${iso(NOW)}`,
      `dan segment.entered event at ${iso(NOW)}`,
      `eve segment.entered event historical at ${iso(NOW)}`,
    ])
    expect(await t.rt.automationRunner.runDue()).toBe(2)
    expect(await tags('cat')).toEqual(['nudge'])
    expect(await tags('dan')).toEqual(['nudge'])
    expect(await tags('eve')).toBeUndefined()
    const eve = (await t.rt.store.resolveProfileId('default', 'eve'))!
    expect((await runs('nudge')).find((r) => r.profileId === eve)).toMatchObject({
      status: 'skipped',
      detail: expect.stringMatching(/^historical transition \(reason event\)/),
    })
    await deliver()
    expect(await received('crm')).toEqual([
      'segment.entered event historical=false',
      'segment.entered event historical=false',
      'segment.entered event historical=true',
    ])
    expect(rx.received).toHaveLength(3)
  })

  it('SEGFLOW_HISTORY_AFTER sets the threshold', async () => {
    await start({ SEGFLOW_HISTORY_AFTER: '3d' })
    await track('eve', NOW - 2 * DAY)
    await track('fay', NOW - 3 * DAY)
    expect(await who(await transitions())).toEqual([
      `eve segment.entered event at ${iso(NOW)}`,
      `fay segment.entered event historical at ${iso(NOW)}`,
    ])
  })

  it('a timer that fires more than the threshold late (after downtime) is historical', async () => {
    await start()
    await automation('goodbye', { on: 'exited' })
    await track('gus', NOW)
    clock.set(NOW + 6 * DAY)
    await track('hal', NOW + 6 * DAY)
    // segflow was down: gus's exit was due at NOW+7d and is processed 2 days later.
    clock.set(NOW + 9 * DAY)
    await fire()
    // hal's is processed on time (a timer a little late, within the threshold, is live).
    clock.set(NOW + 13 * DAY + HOUR)
    await fire()
    const exits = (await who(await transitions())).filter((l) => l.includes('exited'))
    expect(exits).toEqual([
      `gus segment.exited time historical at ${iso(NOW + 7 * DAY)}`,
      `hal segment.exited time at ${iso(NOW + 13 * DAY)}`,
    ])
    expect(await t.rt.automationRunner.runDue()).toBe(1)
    expect(await tags('hal')).toEqual(['goodbye'])
    expect(await tags('gus')).toBeUndefined()
    const gus = (await t.rt.store.resolveProfileId('default', 'gus'))!
    expect((await runs('goodbye')).find((r) => r.profileId === gus)).toMatchObject({
      status: 'skipped',
      detail: expect.stringMatching(/^historical transition \(reason time\)/),
    })
  })

  it('history: run acts on imported history; a webhook with history: skip gets none of it', async () => {
    await start()
    const a = await automation('backfill-welcome', { history: 'run' })
    expect(a.trigger.history).toBe('run')
    expect((await automation('nudge')).trigger.history).toBe('skip')
    expect((await hook('mirror')).history).toBe('send')
    expect((await hook('live-only', { history: 'skip' })).history).toBe('skip')
    await importEvents(['ivy'], NOW - 4 * DAY)
    await track('jon', NOW)
    expect(await t.rt.automationRunner.runDue()).toBe(3)
    expect(await tags('ivy')).toEqual(['backfill-welcome'])
    expect((await tags('jon'))?.sort()).toEqual(['backfill-welcome', 'nudge'])
    expect((await runs('backfill-welcome')).map((r) => r.status)).toEqual(['done', 'done'])
    expect((await runs('nudge')).map((r) => r.status).sort()).toEqual(['done', 'skipped'])
    await deliver()
    expect(await received('mirror')).toEqual([
      'segment.entered event historical=false',
      'segment.entered import historical=true',
    ])
    expect(await received('live-only')).toEqual(['segment.entered event historical=false'])
  })

  it('refuses bad history options with what was expected and the near miss', async () => {
    await start()
    const bad = async (url: string, body: unknown) => {
      const res = await t.admin('PUT', url, body)
      expect(res.statusCode, res.body).toBe(400)
      return res.json().error.message as string
    }
    const actions = [{ type: 'add_tag', tag: 'x' }]
    expect(
      await bad('/api/automations/a', {
        trigger: { segment: 'pricing', on: 'entered', history: 'skipp' },
        actions,
      }),
    ).toBe(
      'trigger.history: "skipp" must be skip or run (did you mean skip?): whether historical transitions (imports, messages or timers processed late) run the actions',
    )
    expect(
      await bad('/api/automations/a', {
        trigger: { segment: 'pricing', on: 'entered', history: true },
        actions,
      }),
    ).toMatch(/^trigger\.history: true must be skip or run:/)
    expect(
      await bad('/api/automations/a', {
        trigger: { segment: 'pricing', on: 'entered', histroy: 'run' },
        actions,
      }),
    ).toBe(
      'trigger.histroy: unknown field (did you mean history?); expected segment, on, delay, history',
    )
    expect(await bad('/api/webhooks/w', { url: rx.url, history: 'sendd' })).toBe(
      'history "sendd" must be send or skip (did you mean send?): whether historical transitions (imports, late messages and timers) are delivered',
    )
    expect(await bad('/api/webhooks/w', { url: rx.url, histroy: 'skip' })).toMatch(
      /^unknown field "histroy" \(did you mean history\?\); expected .*history$/,
    )
  })
})

describe('SEGFLOW_HISTORY_AFTER', () => {
  it('is a duration, 24h by default; anything else is refused naming the variable', () => {
    expect(loadConfig({}).historyAfterMs).toBe(DAY)
    expect(loadConfig({ SEGFLOW_HISTORY_AFTER: '90m' }).historyAfterMs).toBe(90 * 60_000)
    for (const raw of ['1 day', '24', '0h', 'soon']) {
      expect(() => loadConfig({ SEGFLOW_HISTORY_AFTER: raw })).toThrow(ConfigError)
      expect(() => loadConfig({ SEGFLOW_HISTORY_AFTER: raw })).toThrow(
        `SEGFLOW_HISTORY_AFTER=${JSON.stringify(raw)} must be a duration from 1m to 365d, like 30m, 2h or 7d`,
      )
    }
  })
})
