import type { ConsentChange } from '../privacy/index.js'
import type { JsonObject } from '../shared/json.js'
import type { MessageType } from '../store/store.js'

/**
 * A validated, normalised Segment message, ready for the writer. Produced by ingest/
 * (HTTP, import) and by the profile API; everything here has already been checked.
 */
export interface Message {
  readonly workspaceId: string
  readonly type: MessageType
  readonly messageId: string
  readonly userId: string | null
  readonly anonymousId: string | null
  /** track: the event name; page/screen: the page or screen name; otherwise null. */
  readonly name: string | null
  readonly properties: JsonObject | null
  /** identify: the person's traits; group: the group's traits. */
  readonly traits: JsonObject | null
  readonly groupId: string | null
  readonly previousId: string | null
  /** When it happened, corrected for client clock skew; ms since epoch. */
  readonly timestamp: number
  readonly receivedAt: number
  /** The rest of the message as sent (context, integrations, sentAt, …), kept verbatim. */
  readonly payload: JsonObject
  /**
   * Set by the profile API and CSV import, never by the tracking API: resolve to this
   * internal profile id, or (import) by email when the row has no id.
   */
  readonly target?: { readonly profileId?: string; readonly email?: string }
  /**
   * False for changes an operator makes (the profile API, CSV import) rather than something
   * the person did: they do not move first/last seen. Default true.
   */
  readonly activity?: boolean
  /**
   * Brought by `segflow import`: history, not something happening now. The transitions it
   * causes have reason `import` and are historical (automations skip them by default). Counted
   * when stored, in the same transaction, for `segflow_imported_messages_total` (the import
   * runs in its own process).
   */
  readonly imported?: boolean
  /** identify from `PUT /api/profiles/:id`: traits not named are removed. */
  readonly replaceTraits?: boolean
  /** Consent the message records (a `Consent Updated` event, a consent manager, `Sec-GPC`). */
  readonly consent?: readonly ConsentChange[]
}

/**
 * An identify that sets (or, with null, removes) traits of a known profile, made by segflow
 * itself or an operator rather than sent by a tracker: it does not move first/last seen.
 */
export function traitUpdate(o: {
  workspaceId: string
  profileId: string | null
  /** Used when there is no profile yet: the new profile's userId. */
  userId?: string
  messageId: string
  traits: JsonObject
  now: number
  library: string
  replace?: boolean
  payload?: JsonObject
}): Message {
  return {
    workspaceId: o.workspaceId,
    type: 'identify',
    messageId: o.messageId,
    userId: o.profileId === null ? (o.userId ?? null) : null,
    anonymousId: null,
    name: null,
    properties: null,
    traits: o.traits,
    groupId: null,
    previousId: null,
    timestamp: o.now,
    receivedAt: o.now,
    payload: { context: { library: { name: o.library } }, ...o.payload },
    ...(o.profileId === null ? {} : { target: { profileId: o.profileId } }),
    ...(o.replace ? { replaceTraits: true } : {}),
    activity: false,
  }
}
