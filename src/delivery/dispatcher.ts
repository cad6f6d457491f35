import { createHash } from 'node:crypto'
import type { JsonObject } from '../shared/json.js'
import { profileSnapshot } from './address.js'
import type { DeliveryRecord, StoredTransition, WebhookRecord, WriteTx } from '../store/store.js'

/** The outbox consumer name of the webhook fan-out. */
export const WEBHOOK_CURSOR = 'webhooks'

/** A delivery's id: the same transition to the same destination always gets the same one. */
export function deliveryId(transitionId: string, destination: string): string {
  return `msg_${createHash('sha256').update(`${transitionId}\u0000${destination}`).digest('base64url').slice(0, 24)}`
}

export function matchesWebhook(w: WebhookRecord, t: StoredTransition): boolean {
  return (
    t.seq > w.fromSeq &&
    (w.segments === null || w.segments.includes(t.segmentKey)) &&
    (w.types === null || w.types.includes(t.type))
  )
}

const iso = (ms: number) => new Date(ms).toISOString()

/**
 * One step of an outbox consumer: reads the transitions after its read position, lets
 * `handle` turn them into rows, and moves the position, all in the caller's transaction. With
 * nothing listening it skips to the head instead of reading the whole outbox later.
 * `segments` (null: every segment) are the only ones anything listens to: the store skips the
 * others, so a busy outbox of segments nobody subscribed to does not hold up the ones that are.
 */
export async function consumeOutbox(
  tx: WriteTx,
  name: string,
  limit: number,
  segments: readonly string[] | null,
  handle: (transitions: StoredTransition[]) => Promise<number>,
): Promise<{ created: number; more: boolean }> {
  const cursor = await tx.delivery.outboxCursor(name)
  if (segments !== null && segments.length === 0) {
    const head = await tx.delivery.latestTransitionSeq()
    if (head > cursor) await tx.delivery.setOutboxCursor(name, head)
    return { created: 0, more: false }
  }
  // Read up to the head as it is now: when fewer than `limit` match, everything up to it is done.
  const filter =
    segments === null ? undefined : { segments, upTo: await tx.delivery.latestTransitionSeq() }
  const transitions = await tx.delivery.transitionsAfter(cursor, limit, filter)
  const full = transitions.length === limit
  const next = full || !filter ? (transitions[transitions.length - 1]?.seq ?? cursor) : filter.upTo
  const created = transitions.length === 0 ? 0 : await handle(transitions)
  if (next > cursor) await tx.delivery.setOutboxCursor(name, next)
  return { created, more: full }
}

/** The segments a set of subscriptions listens to; null when one listens to every segment. */
export function listenedSegments(lists: readonly (readonly string[] | null)[]): string[] | null {
  const out = new Set<string>()
  for (const l of lists) {
    if (l === null) return null
    for (const k of l) out.add(k)
  }
  return [...out].sort()
}

/**
 * Reads the transition outbox from where it left off and turns each transition into one
 * delivery per matching webhook, with a snapshot of the person (so retries send the same body).
 * Deliveries and the new read position are written in one transaction: a crash re-reads and
 * re-creates nothing twice (ids are derived from the transition and the destination).
 */
export async function fanOut(
  tx: WriteTx,
  now: number,
  limit = 500,
): Promise<{ created: number; more: boolean }> {
  const segments = listenedSegments((await tx.delivery.listWebhooks()).map((w) => w.segments))
  return consumeOutbox(tx, WEBHOOK_CURSOR, limit, segments, (transitions) =>
    deliveriesFor(tx, transitions, now),
  )
}

async function deliveriesFor(
  tx: WriteTx,
  transitions: readonly StoredTransition[],
  now: number,
): Promise<number> {
  return tx.delivery.insertDeliveries(await deliveryRows(tx, transitions, now))
}

/** The deliveries of these transitions to every matching webhook (to insert, pending). */
export async function deliveryRows(
  tx: WriteTx,
  transitions: readonly StoredTransition[],
  now: number,
): Promise<DeliveryRecord[]> {
  const byWs = new Map<string, StoredTransition[]>()
  for (const t of transitions)
    (byWs.get(t.workspaceId) ?? byWs.set(t.workspaceId, []).get(t.workspaceId)!).push(t)
  const rows: DeliveryRecord[] = []
  for (const [ws, list] of byWs) {
    // Disabled endpoints get their deliveries too (held, not sent): enabling one again resumes
    // where it stopped instead of silently skipping what happened meanwhile.
    const hooks = await tx.delivery.listWebhooks(ws)
    if (hooks.length === 0) continue
    const wanted = list.filter((t) => hooks.some((w) => matchesWebhook(w, t)))
    const ids = [...new Set(wanted.map((t) => t.profileId))]
    const [profiles, identities] = await Promise.all([
      tx.loadProfiles(ws, ids),
      tx.delivery.identitiesOf(ws, ids),
    ])
    const people = new Map(profiles.map((p) => [p.id, p]))
    for (const t of wanted) {
      const payload: JsonObject = {
        type: t.type,
        timestamp: iso(t.at),
        data: {
          id: t.id,
          type: t.type,
          at: iso(t.at),
          segment: { key: t.segmentKey, version: t.segmentVersion },
          profile: profileSnapshot(t.profileId, people.get(t.profileId), identities),
          reason: t.reason,
        },
      }
      for (const w of hooks) {
        if (!matchesWebhook(w, t)) continue
        const destination = `webhook:${w.id}`
        rows.push({
          workspaceId: ws,
          id: deliveryId(t.id, destination),
          destination,
          profileId: t.profileId,
          transitionSeq: t.seq,
          payload,
          status: 'pending',
          attempts: 0,
          nextAttemptAt: now,
          lastStatus: null,
          lastError: null,
          createdAt: now,
          updatedAt: now,
        })
      }
    }
  }
  return rows
}
