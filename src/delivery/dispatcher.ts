import { createHash } from 'node:crypto'
import type { JsonObject } from '../shared/json.js'
import { profileSnapshot } from './address.js'
import { comparePositions, isAfterMark } from '../store/outbox.js'
import type { DeliveryRecord, StoredTransition, WebhookRecord, WriteTx } from '../store/store.js'

/** The outbox consumer name of the webhook fan-out. */
export const WEBHOOK_CURSOR = 'webhooks'

/** A delivery's id: the same transition to the same destination always gets the same one. */
export function deliveryId(transitionId: string, destination: string): string {
  return `msg_${createHash('sha256').update(`${transitionId}\u0000${destination}`).digest('base64url').slice(0, 24)}`
}

export function matchesWebhook(w: WebhookRecord, t: StoredTransition): boolean {
  return (
    isAfterMark(w.from, t) &&
    (w.segments === null || w.segments.includes(t.segmentKey)) &&
    (w.types === null || w.types.includes(t.type)) &&
    (w.history === 'send' || !t.historical)
  )
}

const iso = (ms: number) => new Date(ms).toISOString()

/**
 * One step of an outbox consumer: reads the transitions after its read position and up to the
 * store's horizon (before which nothing can still be committed, however writers interleave),
 * lets `handle` turn them into rows, and moves the position, all in the caller's transaction.
 * `listening` says which segments anything listens to (null: every segment): the store skips
 * the others, so a busy outbox of segments nobody subscribed to does not hold up the ones that
 * are, and with nothing listening it skips to the horizon instead of reading it all later.
 */
export async function consumeOutbox(
  tx: WriteTx,
  name: string,
  limit: number,
  listening: () => Promise<readonly string[] | null>,
  handle: (transitions: StoredTransition[]) => Promise<number>,
): Promise<{ created: number; more: boolean }> {
  // The horizon first, the subscriptions after: a subscription too new to be seen here was
  // committed after every transition below the horizon, so it wants none of them.
  const horizon = await tx.delivery.outboxHorizon()
  const segments = await listening()
  const cursor = await tx.delivery.outboxCursor(name)
  if (comparePositions(horizon, cursor) <= 0) return { created: 0, more: false }
  const transitions =
    segments !== null && segments.length === 0
      ? []
      : await tx.delivery.outboxBetween(cursor, horizon, limit, segments)
  const full = transitions.length === limit
  // Fewer than `limit` up to the horizon: everything up to it is done.
  const last = transitions[transitions.length - 1]
  const next = full && last ? { tx: last.txid, seq: last.seq } : horizon
  const created = transitions.length === 0 ? 0 : await handle(transitions)
  await tx.delivery.setOutboxCursor(name, next)
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
  return consumeOutbox(
    tx,
    WEBHOOK_CURSOR,
    limit,
    async () => listenedSegments((await tx.delivery.listWebhooks()).map((w) => w.segments)),
    (transitions) => deliveriesFor(tx, transitions, now),
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
          historical: t.historical,
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
