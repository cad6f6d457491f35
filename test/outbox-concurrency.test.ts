import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { automationFanOut } from '../src/delivery/automations.js'
import { fanOut } from '../src/delivery/dispatcher.js'
import { ManualClock } from '../src/shared/clock.js'
import type { Store, TransitionRecord } from '../src/store/store.js'
import { runSegflow } from './helpers/process.js'
import { newTestApp } from './helpers/runtime.js'
import type { TestApp } from './helpers/runtime.js'
import { testStoreKinds } from './helpers/stores.js'

const NOW = Date.parse('2026-06-01T12:00:00Z')

/**
 * The transition outbox read by a consumer while another writer's transaction is still open:
 * on PostgreSQL transactions commit in any order, so a lower seq can appear after a higher one
 * was read. Every transition must still get its delivery and its automation run, once.
 */
describe.each(testStoreKinds())('the outbox under concurrent writers on %s', (kind) => {
  let t: TestApp
  let clock: ManualClock

  beforeEach(async () => {
    clock = new ManualClock(NOW)
    t = await newTestApp(kind, { clock, env: { SEGFLOW_WEBHOOK_ALLOW_PRIVATE: 'true' } })
    expect(
      (await t.admin('PUT', '/api/segments/pro', { rule: { trait: 'plan', eq: 'pro' } }))
        .statusCode,
    ).toBe(201)
    await t.rt.segments.settled('default', 'pro')
    // Nothing listens on this port: deliveries stay pending, which is all this test counts.
    expect(
      (await t.admin('PUT', '/api/webhooks/crm', { url: 'http://127.0.0.1:9/hook' })).statusCode,
    ).toBe(201)
    expect(
      (
        await t.admin('PUT', '/api/automations/tag-pro', {
          trigger: { segment: 'pro', on: 'entered' },
          actions: [{ type: 'add_tag', tag: 'pro-seen' }],
        })
      ).statusCode,
    ).toBe(201)
  })
  afterEach(async () => {
    await t.close()
  })

  const store = () => t.testStore.store
  const consume = async () => {
    for (;;) {
      const r = await store().write((tx) => fanOut(tx, clock.now()))
      if (!r.more) break
    }
    for (;;) {
      const r = await store().write((tx) => automationFanOut(tx, clock.now()))
      if (!r.more) break
    }
  }
  /** Per transition id: how many deliveries and automation runs it got. */
  const counts = async () => {
    const rows = await store().query(
      `SELECT t.id,
         (SELECT COUNT(*) FROM deliveries d WHERE d.workspace_id = t.workspace_id AND d.transition_seq = t.seq) AS deliveries,
         (SELECT COUNT(*) FROM automation_runs r WHERE r.workspace_id = t.workspace_id AND r.transition_id = t.id) AS runs
       FROM transitions t WHERE t.segment_key = 'pro' AND t.type = 'segment.entered' AND t.reason IN ('event', 'import')
       ORDER BY t.seq`,
      [],
    )
    return rows.map((r) => ({
      id: String(r.id),
      deliveries: Number(r.deliveries),
      runs: Number(r.runs),
    }))
  }
  const transition = (id: string, profileId: string): TransitionRecord => ({
    workspaceId: 'default',
    id,
    type: 'segment.entered',
    at: clock.now(),
    segmentKey: 'pro',
    segmentVersion: 1,
    profileId,
    reason: 'event',
    historical: false,
    recordedAt: clock.now(),
  })

  it.runIf(kind === 'postgres')(
    'delivers a transition whose transaction commits after a later one was read',
    async () => {
      // A second store on the same schema: another process writing (an import, say).
      const other: Store = t.testStore.location.open()
      try {
        let release!: () => void
        const gate = new Promise<void>((r) => (release = r))
        let inserted!: () => void
        const started = new Promise<void>((r) => (inserted = r))
        // A: writes the lower seq and holds its transaction open.
        const slow = other.write(async (tx) => {
          await tx.insertTransitions([transition('tr_slow', 'p_slow')])
          inserted()
          await gate
        })
        await started
        // B: a higher seq, committed while A is still open.
        await store().write((tx) => tx.insertTransitions([transition('tr_fast', 'p_fast')]))
        await consume()
        release()
        await slow
        // The worker's own run waits for transactions in flight to settle, then reads.
        await t.rt.delivery.runDue()
        await consume()
        // And once more: nothing is created twice.
        await consume()
        expect(await counts()).toEqual([
          { id: 'tr_slow', deliveries: 1, runs: 1 },
          { id: 'tr_fast', deliveries: 1, runs: 1 },
        ])
      } finally {
        await other.close()
      }
    },
  )

  it('gives every transition of an import running beside the server one delivery and one run', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'segflow-outbox-'))
    try {
      const file = join(dir, 'people.csv')
      writeFileSync(
        file,
        ['userId,plan', ...Array.from({ length: 1500 }, (_, i) => `imp-${i},pro`)].join('\n'),
      )
      // `segflow import` in its own process, in small batches: many transactions.
      const child = runSegflow(['import', file, '--batch-size', '20'], t.testStore.location.env)
      let log = ''
      child.stdout?.on('data', (c: Buffer) => (log += c.toString()))
      child.stderr?.on('data', (c: Buffer) => (log += c.toString()))
      const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)))
      let done = false
      void exited.then(() => (done = true))
      // Meanwhile the server ingests its own people and reads the outbox over and over.
      let n = 0
      while (!done) {
        const batch = Array.from({ length: 5 }, () => ({
          type: 'identify',
          userId: `srv-${n++}`,
          traits: { plan: 'pro' },
        }))
        expect((await t.track('/v1/batch', { batch })).statusCode).toBe(200)
        await consume()
      }
      expect(await exited, log).toBe(0)
      // Everything has committed: what is left is read now.
      await t.rt.delivery.runDue()
      await consume()
      const all = await counts()
      expect(all.length).toBe(1500 + n)
      const wrong = all.filter((c) => c.deliveries !== 1 || c.runs !== 1)
      expect(wrong.slice(0, 5)).toEqual([])
      expect(wrong.length).toBe(0)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }, 120_000)
})
