/**
 * B4 — time passing. A windowed segment (`Viewed Pricing` within 1 day) over N profiles, 30 %
 * of them inside the window:
 *  1. simulated: the clock advances one day; every exit fires at its own instant (checked),
 *     and the rate at which the engine processes them is the expiries/s;
 *  2. real time: a running server (real clock, real timers) whose exits fall due over the next
 *     seconds; lateness = when the transition was recorded minus its true instant; then the
 *     process's CPU while nothing is due (idle);
 * against a full rescan on a 60-second timer: its scan time is measured on the same store;
 * its lateness is the wait for the next scan (uniform over the period) plus the scan.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '../src/cli/config.js'
import { openRuntime } from '../src/cli/runtime.js'
import { desugar } from '../src/rules/desugar.js'
import { parseRule } from '../src/rules/parse.js'
import { ManualClock, systemClock } from '../src/shared/clock.js'
import { dialectFor, RuleCompiler } from '../src/sql/index.js'
import { dropSchema, pgReachable, storeEnv } from './pg.js'
import type { BenchStore } from './pg.js'

export interface B4Figures {
  readonly target: string
  readonly store: BenchStore
  readonly profiles: number
  readonly expiries: number
  readonly expiriesPerSecond: number
  readonly latenessP50Ms: number
  readonly latenessP99Ms: number
  readonly idleCpuPercent: number
}

const WS = 'default'
const DAY = 86_400_000
const RULE = { event: 'Viewed Pricing', within: '1d' }

function batchOf(users: { id: string; at: number }[]) {
  return users.map((u, i) => ({
    type: 'track',
    messageId: `b4-${u.id}-${i}`,
    userId: u.id,
    event: 'Viewed Pricing',
    timestamp: new Date(u.at).toISOString(),
  }))
}

const q = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? 0
}

/** B4 on SQLite, then on PostgreSQL when the server is reachable. */
export async function runB4(o: {
  profiles: number
  realProfiles: number
  realSeconds: number
}): Promise<B4Figures[]> {
  const figures: B4Figures[] = []
  figures.push(...(await runB4On('sqlite', o)))
  if (await pgReachable()) figures.push(...(await runB4On('postgres', o)))
  return figures
}

async function runB4On(
  store: BenchStore,
  o: { profiles: number; realProfiles: number; realSeconds: number },
): Promise<B4Figures[]> {
  const figures: B4Figures[] = []
  const dir = mkdtempSync(join(tmpdir(), 'segflow-b4-'))
  const schema = (part: string) => `bench_b4_${part}_${process.pid}`
  const config = (part: string) => loadConfig(storeEnv(store, join(dir, part), schema(part)))
  try {
    // ---- 1. simulated day ----
    const start = Date.parse('2026-06-01T00:00:00Z')
    const clock = new ManualClock(start)
    const rt = await openRuntime(config('sim'), {
      clock,
      timers: { set: () => null, clear: () => undefined },
    })
    await rt.segments.publish(WS, 'recent', { rule: RULE })
    await rt.segments.settled(WS, 'recent')
    const users = Array.from({ length: o.profiles }, (_, i) => ({
      id: `u${i}`,
      // 30 % viewed within the last day (spread over it), the rest two to nine days ago.
      at:
        i % 10 < 3
          ? start - Math.floor(((i * 7919) % 1000) * (DAY / 1000))
          : start - (2 + (i % 8)) * DAY,
    }))
    for (let i = 0; i < users.length; i += 2500) {
      const r = await rt.ingestor.batch(
        WS,
        { batch: batchOf(users.slice(i, i + 2500)) },
        {
          bytes: 0,
          suspect: false,
        },
      )
      if (r.rejected.length > 0) throw new Error('B4 messages were rejected')
    }
    const inside = (await rt.store.segmentSizes(WS)).get('recent') ?? 0
    const before = (await rt.store.listTransitions(WS, { limit: 1_000_000 })).length
    clock.set(start + DAY)
    const t0 = performance.now()
    while ((await rt.store.write((tx) => rt.engine.fireDue(tx, start + DAY, 1000))) > 0) {
      /* until nothing is due */
    }
    const ms = performance.now() - t0
    const exits = (await rt.store.listTransitions(WS, { afterSeq: 0, limit: 1_000_000 }))
      .slice(before)
      .filter((t) => t.type === 'segment.exited')
    const due = new Map(users.map((u) => [u.id, u.at + DAY]))
    let exact = 0
    for (const t of exits) {
      const p = await rt.store.getProfile(WS, t.profileId)
      if (p && due.get(p.userId!) === t.at) exact++
    }
    if (exits.length !== inside || exact !== exits.length)
      throw new Error(`B4: ${exits.length} exits for ${inside} members, ${exact} at their instant`)

    // The baseline's scan: the rule over every profile, as a rescan would run it.
    const compiler = new RuleCompiler(dialectFor(rt.store.kind))
    const parsed = parseRule(RULE)
    if (!parsed.ok) throw new Error('rule')
    const scan = compiler.members(desugar(parsed.rule), { workspaceId: WS, now: start + DAY })
    const s0 = performance.now()
    await rt.store.query(scan.sql, scan.params)
    const scanMs = performance.now() - s0
    await rt.close()

    // ---- 2. real time ----
    const real = await openRuntime(config('real'), {
      clock: systemClock,
    })
    await real.start()
    await real.segments.publish(WS, 'recent', { rule: RULE })
    await real.segments.settled(WS, 'recent')
    const now = Date.now()
    // Views that leave the window over the next `realSeconds` seconds, from 1 s on.
    const soon = Array.from({ length: o.realProfiles }, (_, i) => ({
      id: `r${i}`,
      at: now - DAY + 1000 + Math.floor((i / o.realProfiles) * o.realSeconds * 1000),
    }))
    for (let i = 0; i < soon.length; i += 2500)
      await real.ingestor.batch(
        WS,
        { batch: batchOf(soon.slice(i, i + 2500)) },
        {
          bytes: 0,
          suspect: false,
        },
      )
    await new Promise((r) => setTimeout(r, (o.realSeconds + 1.5) * 1000))
    const late = (await real.store.listTransitions(WS, { limit: 1_000_000 }))
      .filter((t) => t.type === 'segment.exited')
      .map((t) => t.recordedAt - t.at)
    if (late.length !== soon.length)
      throw new Error(`B4 real time: ${late.length} of ${soon.length} exits recorded`)
    // Idle: nothing due for a day; the process should sleep.
    const cpu0 = process.cpuUsage()
    const w0 = performance.now()
    await new Promise((r) => setTimeout(r, 3000))
    const cpu = process.cpuUsage(cpu0)
    const idle = ((cpu.user + cpu.system) / 1000 / (performance.now() - w0)) * 100
    await real.close()

    figures.push({
      target: 'segflow timers',
      store,
      profiles: o.profiles,
      expiries: exits.length,
      expiriesPerSecond: Math.round((exits.length / ms) * 1000),
      latenessP50Ms: Number(q(late, 0.5).toFixed(1)),
      latenessP99Ms: Number(q(late, 0.99).toFixed(1)),
      idleCpuPercent: Number(idle.toFixed(2)),
    })
    const period = 60_000
    figures.push({
      target: 'full rescan every 60 s',
      store,
      profiles: o.profiles,
      expiries: exits.length,
      expiriesPerSecond: Math.round((exits.length / scanMs) * 1000),
      latenessP50Ms: Math.round(0.5 * period + scanMs),
      latenessP99Ms: Math.round(0.99 * period + scanMs),
      idleCpuPercent: Number(((scanMs / period) * 100).toFixed(2)),
    })
    return figures
  } finally {
    rmSync(dir, { recursive: true, force: true })
    if (store === 'postgres') for (const part of ['sim', 'real']) await dropSchema(schema(part))
  }
}
