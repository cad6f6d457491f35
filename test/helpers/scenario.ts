/**
 * Scenario tables for the segment engine, on a simulated clock: steps ingest messages, move
 * time (firing every timer at its own instant), publish segments, restart the process, and
 * check memberships and the exact transitions since the last check.
 */
import { expect } from 'vitest'
import { loadConfig } from '../../src/cli/config.js'
import { openRuntime } from '../../src/cli/runtime.js'
import type { Runtime } from '../../src/cli/runtime.js'
import type { TimerHost } from '../../src/engine/scheduler.js'
import { ManualClock } from '../../src/shared/clock.js'
import { parseDuration } from '../../src/shared/time.js'
import type { StoreKind } from '../../src/store/store.js'
import { newStoreLocation } from './stores.js'
import type { StoreLocation } from './stores.js'

export const WS = 'default'

/** A scheduler host that never wakes by itself: scenarios move time explicitly. */
export const manualTimers: TimerHost = { set: () => null, clear: () => undefined }

/** `+7d`, `-1h30m`… → ms. */
export function offset(text: string): number {
  const m = /^([+-])(.*)$/.exec(text)
  if (!m) throw new Error(`offset ${text} must start with + or -`)
  let total = 0
  for (const part of m[2]!.match(/\d+[smhdw]/g) ?? []) total += parseDuration(part)!
  if (m[2] === '0' || m[2] === '0s') total = 0
  return m[1] === '-' ? -total : total
}

/** ms → `+6d23h59m`, the form the transition lines use. */
export function formatOffset(ms: number): string {
  if (ms === 0) return '+0'
  let rest = Math.abs(ms)
  let out = ''
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
    ['ms', 1],
  ] as const) {
    if (rest >= size) {
      out += `${Math.floor(rest / size)}${unit}`
      rest %= size
    }
  }
  return `${ms < 0 ? '-' : '+'}${out}`
}

export interface Msg {
  readonly type?: 'track' | 'identify' | 'page' | 'alias'
  readonly userId?: string
  readonly anonymousId?: string
  readonly previousId?: string
  readonly event?: string
  readonly name?: string
  readonly traits?: Record<string, unknown>
  readonly properties?: Record<string, unknown>
  /** When it happened, relative to now (`-1d` for a late event). Default: now. */
  readonly at?: string
}

export type Step =
  | { readonly ingest: readonly Msg[] }
  | { readonly advance: string }
  | { readonly publish: { readonly key: string; readonly rule: unknown } }
  | { readonly remove: string }
  | { readonly restart: true }
  | { readonly stop: true }
  | { readonly start: true }
  | {
      readonly expect: Readonly<Record<string, Readonly<Record<string, boolean>>>>
      /** Every transition since the previous expect: `u1 entered vip at +1d (event)`. */
      readonly transitions?: readonly string[]
    }

/** A scenario's world: the store location, the runtime (when running) and the clock. */
export class Scenario {
  readonly clock: ManualClock
  rt: Runtime | null = null
  private seen = 0
  private n = 0

  private constructor(
    readonly location: StoreLocation,
    readonly start: number,
  ) {
    this.clock = new ManualClock(start)
  }

  static async open(
    kind: StoreKind,
    start = Date.parse('2026-04-01T00:00:00Z'),
  ): Promise<Scenario> {
    const s = new Scenario(await newStoreLocation(kind), start)
    await s.boot()
    return s
  }

  get runtime(): Runtime {
    if (!this.rt) throw new Error('segflow is stopped in this scenario')
    return this.rt
  }

  async boot(): Promise<void> {
    this.rt = await openRuntime(loadConfig({}), {
      store: this.location.open(),
      clock: this.clock,
      timers: manualTimers,
    })
    await this.rt.start()
  }

  async shutdown(): Promise<void> {
    await this.rt?.close()
    this.rt = null
  }

  async close(): Promise<void> {
    await this.shutdown()
    await this.location.destroy()
  }

  /** Moves the clock to `to`, firing each due timer at its own instant, in order. */
  async advanceTo(to: number): Promise<void> {
    const rt = this.runtime
    this.clock.set(Math.max(this.clock.now(), to))
    await rt.store.write((tx) => rt.engine.fireDue(tx, to, Number.MAX_SAFE_INTEGER))
  }

  async ingest(messages: readonly Msg[]): Promise<void> {
    const now = this.clock.now()
    const batch = messages.map((m) => ({
      type: m.type ?? (m.traits ? 'identify' : 'track'),
      messageId: `sc-${this.n++}`,
      ...(m.userId ? { userId: m.userId } : {}),
      ...(m.anonymousId ? { anonymousId: m.anonymousId } : {}),
      ...(m.previousId ? { previousId: m.previousId } : {}),
      ...(m.event ? { event: m.event } : {}),
      ...(m.name ? { name: m.name } : {}),
      ...(m.traits ? { traits: m.traits } : {}),
      ...(m.properties ? { properties: m.properties } : {}),
      timestamp: new Date(now + (m.at ? offset(m.at) : 0)).toISOString(),
    }))
    const r = await this.runtime.ingestor.batch(WS, { batch }, { bytes: 0, suspect: false })
    expect(r.rejected).toEqual([])
  }

  async publish(key: string, rule: unknown): Promise<void> {
    await this.runtime.segments.publish(WS, key, { name: key, rule })
    await this.runtime.segments.settled(WS, key)
  }

  async membership(userId: string, key: string): Promise<boolean> {
    const id = await this.runtime.store.resolveProfileId(WS, userId)
    if (id === null) return false
    return (await this.runtime.store.profileMemberships(WS, id)).some((m) => m.segmentKey === key)
  }

  /** Transitions recorded since the last call, as lines. */
  async newTransitions(): Promise<string[]> {
    const store = this.runtime.store
    const rows = await store.listTransitions(WS, { afterSeq: this.seen, limit: 100_000 })
    if (rows.length > 0) this.seen = rows[rows.length - 1]!.seq
    const lines: string[] = []
    for (const t of rows) {
      const p = await store.getProfile(WS, t.profileId)
      const anon = (await store.listIdentities(WS, t.profileId)).find((i) => i.kind === 'anonymous')
      const who = p?.userId ?? anon?.value ?? t.profileId
      lines.push(
        `${who} ${t.type === 'segment.entered' ? 'entered' : 'exited'} ${t.segmentKey} at ${formatOffset(t.at - this.start)} (${t.reason})`,
      )
    }
    return lines
  }

  async run(steps: readonly Step[]): Promise<void> {
    for (const [i, step] of steps.entries()) {
      const where = `step ${i} ${JSON.stringify(step).slice(0, 80)}`
      if ('ingest' in step) await this.ingest(step.ingest)
      else if ('advance' in step)
        await this.advanceTo(this.clock.now() + offset(`+${step.advance}`))
      else if ('publish' in step) await this.publish(step.publish.key, step.publish.rule)
      else if ('remove' in step) await this.runtime.segments.remove(WS, step.remove)
      else if ('restart' in step) {
        await this.shutdown()
        await this.boot()
      } else if ('stop' in step) await this.shutdown()
      else if ('start' in step) await this.boot()
      else if ('expect' in step) {
        for (const [userId, segments] of Object.entries(step.expect)) {
          for (const [key, member] of Object.entries(segments)) {
            expect(await this.membership(userId, key), `${where}: ${userId} in ${key}`).toBe(member)
          }
        }
        const lines = await this.newTransitions()
        if (step.transitions) expect(lines, `${where}: transitions`).toEqual(step.transitions)
      }
    }
  }
}
