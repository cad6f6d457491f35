/**
 * Rules on consent, email status and reachability, live: a consent event, an unsubscribe
 * (link or admin API), a bounce's status, a new address and a change of consent mode move
 * people in and out at once, with a transition; `reachable: email` holds exactly the people a
 * segment's `reachable` count counts.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { Scenario, WS } from './helpers/scenario.js'
import { testStoreKinds } from './helpers/stores.js'

const consent = (userId: string, granted: boolean) => ({
  userId,
  event: 'Consent Updated',
  properties: { email_marketing: granted },
})

describe.each(testStoreKinds())('consent and email status in rules on %s', (kind) => {
  let sc: Scenario
  afterEach(async () => {
    await sc?.close()
  })

  /** Unsubscribes through the link of a marketing email sent to the person. */
  async function unsubscribeByLink(userId: string): Promise<void> {
    const rt = sc.runtime
    const profileId = (await rt.store.resolveProfileId(WS, userId))!
    const id = `eml_${userId}`
    await rt.store.write((tx) =>
      tx.messaging.insertSend({
        workspaceId: WS,
        id,
        profileId,
        address: `${userId}@example.com`,
        templateKey: 'news',
        automationKey: null,
        transitionId: null,
        category: 'marketing',
        status: 'sent',
        messageId: `<${id}@segflow>`,
        error: null,
        createdAt: sc.clock.now(),
        sentAt: sc.clock.now(),
      }),
    )
    expect(await rt.mailer.unsubscribe(WS, id)).toBe(true)
  }

  it('an unsubscribe moves a person out of a reachable: email segment at once', async () => {
    sc = await Scenario.open(kind)
    await sc.run([
      { publish: { key: 'reach', rule: { reachable: 'email' } } },
      { publish: { key: 'unsub', rule: { email_status: 'unsubscribed' } } },
      { publish: { key: 'everyone', rule: { trait: 'plan', exists: true } } },
      {
        ingest: [
          { userId: 'u1', traits: { plan: 'pro', email: 'u1@example.com' } },
          { userId: 'u2', traits: { plan: 'pro' } },
          consent('u1', true),
          consent('u2', true),
        ],
      },
      {
        expect: { u1: { reach: true, unsub: false }, u2: { reach: false } },
        transitions: [
          'u1 entered everyone at +0 (event)',
          'u1 entered reach at +0 (event)',
          'u2 entered everyone at +0 (event)',
        ],
      },
    ])
    const counts = async () => {
      const everyone = await sc.runtime.segments.get(WS, 'everyone')
      const reach = await sc.runtime.segments.get(WS, 'reach')
      return { reachable: everyone.reachable, reach: reach.size }
    }
    expect(await counts()).toEqual({ reachable: 1, reach: 1 })

    await sc.advanceTo(sc.clock.now() + 3_600_000)
    await unsubscribeByLink('u1')
    await sc.run([
      {
        expect: { u1: { reach: false, unsub: true } },
        transitions: ['u1 exited reach at +1h (event)', 'u1 entered unsub at +1h (event)'],
      },
    ])
    expect(await counts()).toEqual({ reachable: 0, reach: 0 })

    // Subscribed again through the admin API: back in.
    await sc.advanceTo(sc.clock.now() + 60_000)
    await sc.runtime.email.setStatus(WS, 'u1', { status: 'subscribed' })
    await sc.run([
      {
        expect: { u1: { reach: true, unsub: false } },
        transitions: ['u1 entered reach at +1h1m (event)', 'u1 exited unsub at +1h1m (event)'],
      },
    ])
    // An address makes u2 reachable; then a refusal of consent takes u1 out.
    await sc.run([
      { advance: '1m' },
      { ingest: [{ userId: 'u2', traits: { email: 'u2@example.com' } }, consent('u1', false)] },
      {
        expect: { u1: { reach: false }, u2: { reach: true } },
        transitions: ['u2 entered reach at +1h2m (event)', 'u1 exited reach at +1h2m (event)'],
      },
    ])
    expect(await counts()).toEqual({ reachable: 1, reach: 1 })
  })

  it('consent conditions follow the latest statement per purpose', async () => {
    sc = await Scenario.open(kind)
    await sc.run([
      { publish: { key: 'granted', rule: { consent: 'email_marketing' } } },
      { publish: { key: 'refused', rule: { consent: 'analytics', state: 'denied' } } },
      {
        ingest: [
          {
            userId: 'u1',
            event: 'Consent Updated',
            properties: { email_marketing: true, analytics: false },
          },
        ],
      },
      {
        expect: { u1: { granted: true, refused: true } },
        transitions: ['u1 entered granted at +0 (event)', 'u1 entered refused at +0 (event)'],
      },
      // An older statement arriving late changes nothing.
      { ingest: [{ ...consent('u1', false), at: '-1h' }] },
      { expect: { u1: { granted: true } }, transitions: [] },
      { advance: '1m' },
      { ingest: [consent('u1', false)] },
      { expect: { u1: { granted: false } }, transitions: ['u1 exited granted at +1m (event)'] },
    ])
  })

  it('a new consent mode recomputes reachable: email segments', async () => {
    sc = await Scenario.open(kind)
    await sc.run([
      { publish: { key: 'reach', rule: { reachable: 'email' } } },
      {
        ingest: [
          { userId: 'u1', traits: { email: 'u1@example.com' } },
          { userId: 'u2', traits: { email: 'u2@example.com' } },
          consent('u2', false),
        ],
      },
      // opt_in (the default): nobody granted consent.
      { expect: { u1: { reach: false }, u2: { reach: false } }, transitions: [] },
    ])
    await sc.runtime.emailSettings.put(WS, {
      from: 'News <news@example.com>',
      consent: { mode: 'opt_out' },
    })
    await sc.runtime.segments.settled(WS, 'reach')
    await sc.run([
      // opt_out: everyone who did not refuse.
      {
        expect: { u1: { reach: true }, u2: { reach: false } },
        transitions: ['u1 entered reach at +0 (rule_change)'],
      },
    ])
    const reach = await sc.runtime.segments.get(WS, 'reach')
    expect(reach.version).toBe(2)
    // Live, new people are judged under opt_out too.
    await sc.run([
      { ingest: [{ userId: 'u3', traits: { email: 'u3@example.com' } }] },
      { expect: { u3: { reach: true } }, transitions: ['u3 entered reach at +0 (event)'] },
    ])
  })
})
