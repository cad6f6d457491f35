import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { Message } from '../src/engine/message.js'
import { Writer } from '../src/engine/writer.js'
import { ManualClock } from '../src/shared/clock.js'
import type { Store } from '../src/store/store.js'
import { newTestStore, testStoreKinds } from './helpers/stores.js'
import type { TestStore } from './helpers/stores.js'

const T0 = Date.parse('2026-03-01T00:00:00Z')
let counter = 0

/** A message with defaults; `at` is minutes after T0. */
function msg(m: Partial<Message> & { at?: number }): Message {
  const timestamp = T0 + (m.at ?? 0) * 60_000
  return {
    workspaceId: 'w',
    type: 'track',
    messageId: `m${++counter}`,
    userId: null,
    anonymousId: null,
    name: m.type === undefined || m.type === 'track' ? 'Did Something' : null,
    properties: null,
    traits: null,
    groupId: null,
    previousId: null,
    timestamp,
    receivedAt: timestamp,
    payload: {},
    ...m,
  }
}

async function profileOf(store: Store, ref: string) {
  const id = await store.resolveProfileId('w', ref)
  if (id === null) return null
  const p = await store.getProfile('w', id)
  const events = await store.listEvents('w', { profileId: id, limit: 1000 })
  const identities = await store.listIdentities('w', id)
  return {
    id,
    userId: p?.userId,
    traits: p?.traits,
    firstSeen: p?.firstSeen,
    lastSeen: p?.lastSeen,
    events: events.items.map((e) => e.messageId).sort(),
    identities: identities.map((i) => `${i.kind}:${i.value}`).sort(),
  }
}

describe.each(testStoreKinds())('identity resolution on %s', (kind) => {
  let t: TestStore
  let writer: Writer
  const write = (...messages: Message[]) => writer.write(messages)

  beforeEach(async () => {
    t = await newTestStore(kind)
    writer = new Writer(t.store, new ManualClock(T0))
  })
  afterEach(async () => {
    await t.cleanup()
  })

  it('identify claims the anonymous profile it was sent from', async () => {
    await write(msg({ anonymousId: 'a1', messageId: 'e1' }))
    await write(
      msg({
        type: 'identify',
        userId: 'u1',
        anonymousId: 'a1',
        traits: { plan: 'pro' },
        messageId: 'e2',
        at: 1,
      }),
    )
    const p = await profileOf(t.store, 'u1')
    expect(p).toMatchObject({ userId: 'u1', traits: { plan: 'pro' }, events: ['e1', 'e2'] })
    expect(p!.identities).toEqual(['anonymous:a1', 'user:u1'])
    expect((await profileOf(t.store, 'a1'))!.id).toBe(p!.id)
    expect(await t.store.countProfiles('w')).toBe(1)
  })

  it('identify merges an anonymous profile into an existing user, keeping every event and trait', async () => {
    await write(
      msg({
        type: 'identify',
        userId: 'u1',
        traits: { plan: 'pro', name: 'Ann' },
        messageId: 'e1',
        at: 0,
      }),
    )
    await write(msg({ anonymousId: 'a1', messageId: 'e2', at: 5 }))
    await write(
      msg({
        type: 'identify',
        anonymousId: 'a1',
        traits: { plan: 'free', city: 'Oslo' },
        messageId: 'e3',
        at: 6,
      }),
    )
    const anonId = (await profileOf(t.store, 'a1'))!.id
    await write(msg({ type: 'identify', userId: 'u1', anonymousId: 'a1', messageId: 'e4', at: 10 }))
    const p = await profileOf(t.store, 'u1')
    expect(p).toMatchObject({
      userId: 'u1',
      // plan was set later on the anonymous profile, so its value wins; name and city both survive.
      traits: { plan: 'free', name: 'Ann', city: 'Oslo' },
      events: ['e1', 'e2', 'e3', 'e4'],
      firstSeen: T0,
      lastSeen: T0 + 10 * 60_000,
    })
    // The merged-away id still finds the survivor, and the merge is recorded.
    expect(await t.store.resolveProfileId('w', anonId)).toBe(p!.id)
    const merges = await t.store.listMerges('w', p!.id)
    expect(merges).toMatchObject([
      { fromProfileId: anonId, intoProfileId: p!.id, reason: 'identify', messageId: 'e4' },
    ])
    expect(await t.store.countProfiles('w')).toBe(1)
  })

  it('does not hand a shared device anonymousId from one user to another', async () => {
    await write(msg({ type: 'identify', userId: 'u1', anonymousId: 'a1', messageId: 'e1' }))
    await write(msg({ type: 'identify', userId: 'u2', anonymousId: 'a1', messageId: 'e2', at: 1 }))
    const u1 = await profileOf(t.store, 'u1')
    const u2 = await profileOf(t.store, 'u2')
    expect(u1!.id).not.toBe(u2!.id)
    expect(u2).toMatchObject({ userId: 'u2', events: ['e2'], identities: ['user:u2'] })
    expect(u1!.identities).toEqual(['anonymous:a1', 'user:u1'])
  })

  it('alias merges the previous id into the new userId', async () => {
    await write(
      msg({ type: 'identify', userId: 'old', traits: { a: 1, b: 1 }, messageId: 'e1', at: 0 }),
    )
    await write(msg({ type: 'identify', userId: 'new', traits: { b: 2 }, messageId: 'e2', at: 1 }))
    await write(
      msg({ type: 'alias', userId: 'new', previousId: 'old', name: null, messageId: 'e3', at: 2 }),
    )
    const p = await profileOf(t.store, 'old')
    expect(p).toMatchObject({ userId: 'new', traits: { a: 1, b: 2 }, events: ['e1', 'e2', 'e3'] })
    expect(p!.identities).toEqual(['user:new', 'user:old'])
    expect(await t.store.listMerges('w', p!.id)).toMatchObject([{ reason: 'alias' }])
  })

  it('alias with an unknown previousId lets that id find the profile later, as either kind', async () => {
    await write(msg({ type: 'alias', userId: 'u1', previousId: 'x9', name: null, messageId: 'e1' }))
    await write(msg({ anonymousId: 'x9', messageId: 'e2', at: 1 }))
    const p = await profileOf(t.store, 'u1')
    expect(p).toMatchObject({ events: ['e1', 'e2'], identities: ['alias:x9', 'user:u1'] })
  })

  it('resolves merges made earlier in the same batch', async () => {
    await write(msg({ type: 'identify', userId: 'u1', messageId: 'e0' }))
    await write(
      msg({ anonymousId: 'a1', messageId: 'e1', at: 1 }),
      msg({ anonymousId: 'a1', messageId: 'e2', at: 2 }),
      msg({ type: 'identify', userId: 'u1', anonymousId: 'a1', messageId: 'e3', at: 3 }),
      msg({ anonymousId: 'a1', messageId: 'e4', at: 4 }),
    )
    expect(await profileOf(t.store, 'a1')).toMatchObject({
      userId: 'u1',
      events: ['e0', 'e1', 'e2', 'e3', 'e4'],
    })
    expect(await t.store.countProfiles('w')).toBe(1)
  })

  it('follows chains of merges: an id merged twice still resolves', async () => {
    await write(msg({ anonymousId: 'a1', messageId: 'e1' }))
    const first = (await profileOf(t.store, 'a1'))!.id
    await write(msg({ type: 'identify', userId: 'u1', messageId: 'e2' }))
    await write(msg({ type: 'identify', userId: 'u1', anonymousId: 'a1', messageId: 'e3' }))
    await write(msg({ type: 'identify', userId: 'u2', messageId: 'e4' }))
    await write(msg({ type: 'alias', userId: 'u2', previousId: 'u1', name: null, messageId: 'e5' }))
    const p = await profileOf(t.store, 'u2')
    expect(await t.store.resolveProfileId('w', first)).toBe(p!.id)
    expect(p!.events).toEqual(['e1', 'e2', 'e3', 'e4', 'e5'])
    expect(await t.store.countProfiles('w')).toBe(1)
  })

  it('lets the newer value win per trait, whatever the arrival order; null removes', async () => {
    await write(msg({ type: 'identify', userId: 'u1', traits: { plan: 'pro', seats: 3 }, at: 10 }))
    // Arrives late, describing an earlier moment: plan is older than what is stored.
    await write(
      msg({ type: 'identify', userId: 'u1', traits: { plan: 'free', city: 'Rome' }, at: 5 }),
    )
    expect((await profileOf(t.store, 'u1'))!.traits).toEqual({
      plan: 'pro',
      seats: 3,
      city: 'Rome',
    })
    await write(msg({ type: 'identify', userId: 'u1', traits: { seats: null }, at: 11 }))
    await write(msg({ type: 'identify', userId: 'u1', traits: { seats: 9 }, at: 7 }))
    expect((await profileOf(t.store, 'u1'))!.traits).toEqual({ plan: 'pro', city: 'Rome' })
  })

  it('merges a profile known only by email into the user who identifies with it', async () => {
    await write(
      msg({
        type: 'identify',
        traits: { email: 'Ann@Example.com', source: 'csv' },
        target: { email: 'ann@example.com' },
        activity: false,
        messageId: 'e1',
      }),
    )
    const emailOnly = (await profileOf(t.store, 'ann@example.com'))!
    expect(emailOnly).toMatchObject({ firstSeen: null, identities: ['email:ann@example.com'] })
    await write(
      msg({
        type: 'identify',
        userId: 'u1',
        traits: { email: 'ann@example.com' },
        messageId: 'e2',
        at: 3,
      }),
    )
    const p = await profileOf(t.store, 'u1')
    expect(p).toMatchObject({
      traits: { email: 'ann@example.com', source: 'csv' },
      events: ['e1', 'e2'],
    })
    expect(await t.store.resolveProfileId('w', emailOnly.id)).toBe(p!.id)
    expect(await t.store.listMerges('w', p!.id)).toMatchObject([{ reason: 'email' }])
    // But an email already held by another identified user is left with them.
    await write(
      msg({
        type: 'identify',
        userId: 'u2',
        traits: { email: 'ann@example.com' },
        messageId: 'e3',
        at: 4,
      }),
    )
    expect((await profileOf(t.store, 'u2'))!.identities).toEqual(['user:u2'])
  })

  it('stores one event for a messageId sent three times, in one batch or several', async () => {
    const m = msg({ userId: 'u1', messageId: 'dup' })
    const first = await write(m, m)
    expect(first.map((o) => o.status)).toEqual(['stored', 'duplicate'])
    expect((await write(m))[0]!.status).toBe('duplicate')
    expect((await profileOf(t.store, 'u1'))!.events).toEqual(['dup'])
    expect(await t.store.countEvents('w')).toBe(1)
  })

  it('keeps workspaces apart: the same userId is two people in two workspaces', async () => {
    await write(msg({ type: 'identify', userId: 'u1', traits: { ws: 'w' } }))
    await write(msg({ workspaceId: 'v', type: 'identify', userId: 'u1', traits: { ws: 'v' } }))
    expect((await profileOf(t.store, 'u1'))!.traits).toEqual({ ws: 'w' })
    const other = await t.store.resolveProfileId('v', 'u1')
    expect((await t.store.getProfile('v', other!))!.traits).toEqual({ ws: 'v' })
    expect(await t.store.getProfile('v', (await t.store.resolveProfileId('w', 'u1'))!)).toBeNull()
  })
})
