import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ManualClock } from '../src/shared/clock.js'
import { newTestApp } from './helpers/runtime.js'
import type { TestApp } from './helpers/runtime.js'
import { testStoreKinds } from './helpers/stores.js'

const NOW = Date.parse('2026-06-01T12:00:00Z')

interface Entry {
  id: string
  at: string
  actor: string
  action: string
  target: string | null
  status: number
}

describe.each(testStoreKinds())('audit log on %s', (kind) => {
  let t: TestApp
  let clock: ManualClock

  beforeEach(async () => {
    clock = new ManualClock(NOW)
    t = await newTestApp(kind, { clock })
  })
  afterEach(async () => {
    await t.close()
  })

  const log = async (query = '') => {
    const res = await t.admin('GET', `/api/audit${query}`)
    expect(res.statusCode, res.body).toBe(200)
    return res.json() as { items: Entry[]; next: string | null }
  }

  it('records every admin change and bulk read with key, time, target and outcome, newest first', async () => {
    const adminKeyId = (await t.rt.keys.list('default')).find((k) => k.kind === 'admin')!.id
    await t.track('/v1/identify', { userId: 'ann', traits: { plan: 'pro' } })
    expect(
      (await t.admin('PUT', '/api/segments/pro', { rule: { trait: 'plan', eq: 'pro' } }))
        .statusCode,
    ).toBe(201)
    await t.rt.segments.settled('default', 'pro')
    clock.advance(1000)
    // Refused changes are recorded too, with their status.
    expect((await t.admin('PUT', '/api/segments/bad', { rule: { nope: 1 } })).statusCode).toBe(400)
    clock.advance(1000)
    expect(
      (await t.admin('POST', '/api/profiles/ann', { traits: { plan: 'team' } })).statusCode,
    ).toBe(200)
    // Reads are not recorded, except member lists (people's data in bulk).
    await t.admin('GET', '/api/profiles/ann')
    await t.admin('GET', '/api/segments')
    await t.admin('GET', '/api/segments/pro/members')
    // Tracking is not an admin action.
    await t.track('/v1/track', { userId: 'ann', event: 'Viewed' })

    const { items } = await log()
    expect(items.map((e) => [e.action, e.target, e.status])).toEqual([
      ['GET /api/segments/:key/members', 'pro', 200],
      ['POST /api/profiles/:id', 'ann', 200],
      ['PUT /api/segments/:key', 'bad', 400],
      ['PUT /api/segments/:key', 'pro', 201],
      ['key.create admin', adminKeyId, 0],
      ['key.create write', expect.stringMatching(/^key_/), 0],
    ])
    expect(items[0]!.actor).toBe(adminKeyId)
    expect(items[3]!.at).toBe(new Date(NOW).toISOString())
    expect(items[2]!.at).toBe(new Date(NOW + 1000).toISOString())
    expect(items.slice(4).every((e) => e.actor === 'bootstrap')).toBe(true)

    // Pages follow one another without gaps or repeats.
    const first = await log('?limit=4')
    expect(first.items).toHaveLength(4)
    const second = await log(`?limit=4&before=${first.next}`)
    expect([...first.items, ...second.items].map((e) => e.id)).toEqual(items.map((e) => e.id))
    expect(second.next).toBeNull()
    expect((await t.admin('GET', '/api/audit?limit=0')).statusCode).toBe(400)
  })

  it('records key changes made outside HTTP, and offers no way to change or remove an entry', async () => {
    const created = await t.rt.keys.create({ workspaceId: 'default', kind: 'write', name: 'site' })
    await t.rt.keys.revoke(created.record.id)
    const { items } = await log()
    expect(items.slice(0, 2).map((e) => [e.action, e.actor, e.target])).toEqual([
      ['key.revoke write', 'cli', created.record.id],
      ['key.create write', 'cli', created.record.id],
    ])
    const before = await log()
    for (const method of ['DELETE', 'PUT', 'POST', 'PATCH'] as const) {
      const res = await t.admin(method, '/api/audit', {})
      expect(res.statusCode, method).toBe(404)
      expect((await t.admin(method, `/api/audit/${items[0]!.id}`, {})).statusCode).toBe(404)
    }
    // Those attempts hit no route: nothing was recorded, nothing removed.
    expect((await log()).items).toEqual(before.items)
  })
})
