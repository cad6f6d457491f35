import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { MIGRATIONS } from '../src/store/migrations.js'
import type { EventRecord } from '../src/store/store.js'
import { newTestStore, testStoreKinds } from './helpers/stores.js'
import type { TestStore } from './helpers/stores.js'

describe.each(testStoreKinds())('store on %s', (kind) => {
  let t: TestStore
  beforeEach(async () => {
    t = await newTestStore(kind)
  })
  afterEach(async () => {
    await t.cleanup()
  })

  it('applies every migration once and records the version', async () => {
    expect(await t.store.schemaVersion()).toBe(MIGRATIONS.at(-1)!.version)
    expect(await t.store.migrate()).toEqual([])
    // A second process opening the same data migrates nothing either.
    const again = t.location.open()
    try {
      expect(await again.migrate()).toEqual([])
    } finally {
      await again.close()
    }
  })

  it('keeps workspaces and keys, and revokes a key once', async () => {
    expect(await t.store.ensureWorkspace({ id: 'w1', name: 'One', createdAt: 1 })).toBe(true)
    expect(await t.store.ensureWorkspace({ id: 'w1', name: 'Other', createdAt: 2 })).toBe(false)
    expect(await t.store.getWorkspace('w1')).toEqual({ id: 'w1', name: 'One', createdAt: 1 })
    await t.store.insertApiKey({
      id: 'key_1',
      workspaceId: 'w1',
      kind: 'write',
      name: 'n',
      hash: 'h1',
      prefix: 'p',
      createdAt: 5,
      revokedAt: null,
    })
    expect((await t.store.findApiKeyByHash('h1'))?.id).toBe('key_1')
    expect(await t.store.findApiKeyByHash('nope')).toBeNull()
    expect(await t.store.revokeApiKey('key_1', 9)).toBe(true)
    expect(await t.store.revokeApiKey('key_1', 10)).toBe(false)
    expect((await t.store.getApiKey('key_1'))?.revokedAt).toBe(9)
    await expect(
      t.store.insertApiKey({
        id: 'key_2',
        workspaceId: 'missing',
        kind: 'write',
        name: 'n',
        hash: 'h2',
        prefix: 'p',
        createdAt: 5,
        revokedAt: null,
      }),
    ).rejects.toThrow()
  })

  it('rolls back a failed write transaction entirely', async () => {
    const event: EventRecord = {
      workspaceId: 'w',
      messageId: 'm1',
      profileId: 'p1',
      type: 'track',
      name: 'E',
      timestamp: 1,
      receivedAt: 1,
      userId: 'u',
      anonymousId: null,
      properties: {},
      traits: null,
      payload: {},
    }
    await expect(
      t.store.write(async (tx) => {
        await tx.insertEvents([event])
        throw new Error('boom')
      }),
    ).rejects.toThrow('boom')
    expect(await t.store.countEvents('w')).toBe(0)
    await t.store.write((tx) => tx.insertEvents([event]))
    expect(await t.store.countEvents('w')).toBe(1)
  })

  it('pages events newest first with a cursor', async () => {
    const events: EventRecord[] = Array.from({ length: 25 }, (_, i) => ({
      workspaceId: 'w',
      messageId: `m${i}`,
      profileId: 'p1',
      type: 'track',
      name: `E${i}`,
      // Two events share each timestamp, so the cursor must break ties by arrival.
      timestamp: 1000 + Math.floor(i / 2),
      receivedAt: 5000,
      userId: 'u',
      anonymousId: null,
      properties: { i },
      traits: null,
      payload: { context: { n: i } },
    }))
    expect(await t.store.write((tx) => tx.insertEvents(events))).toBe(25)
    // A messageId already stored is skipped, not an error.
    expect(await t.store.write((tx) => tx.insertEvents(events.slice(0, 3)))).toBe(0)
    const seen: string[] = []
    let cursor: string | null = null
    do {
      const page = await t.store.listEvents('w', { profileId: 'p1', limit: 10, cursor })
      seen.push(...page.items.map((e) => e.messageId))
      cursor = page.nextCursor
    } while (cursor)
    expect(seen).toEqual(events.map((e) => e.messageId).reverse())
    const first = (await t.store.listEvents('w', { limit: 1 })).items[0]!
    expect(first.properties).toEqual({ i: 24 })
    expect(first.payload).toEqual({ context: { n: 24 } })
    await expect(t.store.listEvents('w', { limit: 1, cursor: 'garbage' })).rejects.toThrow(/cursor/)
  })
})
