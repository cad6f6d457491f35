import { SegflowError } from '../shared/errors.js'
import type { JsonObject, JsonValue } from '../shared/json.js'
import type { DialectHooks, Row } from './sql-connection.js'
import type {
  ApiKeyRecord,
  IdentityKind,
  IdentityRecord,
  MergeReason,
  MergeRecord,
  MessageType,
  ProfileRecord,
  SegmentRecord,
  SegmentVersionRecord,
  MembershipRecord,
  StoredEvent,
  StoredTransition,
  TimerRecord,
  TrackerRecord,
  TransitionReason,
  Workspace,
} from './store.js'

/** Rows to records and back, shared by both dialects. */

export const EVENT_COLUMNS =
  'workspace_id, message_id, profile_id, type, name, ts, received_at, user_id, anonymous_id, properties, traits, payload'
export const PROFILE_COLUMNS =
  'workspace_id, id, user_id, traits, trait_times, first_seen, last_seen, created_at, updated_at, merged_into'

export function jsonParam(v: JsonObject | null): string | null {
  return v === null ? null : JSON.stringify(v)
}

export function profileParams(p: ProfileRecord): unknown[] {
  return [
    p.workspaceId,
    p.id,
    p.userId,
    JSON.stringify(p.traits),
    JSON.stringify(p.traitTimes),
    p.firstSeen,
    p.lastSeen,
    p.createdAt,
    p.updatedAt,
    p.mergedInto,
  ]
}

export function num(v: unknown): number {
  return Number(v)
}

export function numOrNull(v: unknown): number | null {
  return v === null || v === undefined ? null : Number(v)
}

export function strOrNull(v: unknown): string | null {
  return v === null || v === undefined ? null : String(v)
}

export function toWorkspace(r: Row): Workspace {
  return { id: String(r.id), name: String(r.name), createdAt: num(r.created_at) }
}

export function toApiKey(r: Row): ApiKeyRecord {
  return {
    id: String(r.id),
    workspaceId: String(r.workspace_id),
    kind: r.kind === 'admin' ? 'admin' : 'write',
    name: String(r.name),
    hash: String(r.hash),
    prefix: String(r.prefix),
    createdAt: num(r.created_at),
    revokedAt: numOrNull(r.revoked_at),
  }
}

export function toIdentity(r: Row): IdentityRecord {
  return {
    workspaceId: String(r.workspace_id),
    kind: r.kind as IdentityKind,
    value: String(r.value),
    profileId: String(r.profile_id),
    createdAt: num(r.created_at),
  }
}

export function toProfile(r: Row, h: DialectHooks): ProfileRecord {
  return {
    workspaceId: String(r.workspace_id),
    id: String(r.id),
    userId: strOrNull(r.user_id),
    traits: h.decodeJson(r.traits) as JsonObject,
    traitTimes: h.decodeJson(r.trait_times) as Record<string, number>,
    firstSeen: numOrNull(r.first_seen),
    lastSeen: numOrNull(r.last_seen),
    createdAt: num(r.created_at),
    updatedAt: num(r.updated_at),
    mergedInto: strOrNull(r.merged_into),
  }
}

export function toMerge(r: Row): MergeRecord {
  return {
    workspaceId: String(r.workspace_id),
    id: String(r.id),
    fromProfileId: String(r.from_profile_id),
    intoProfileId: String(r.into_profile_id),
    reason: r.reason as MergeReason,
    messageId: String(r.message_id),
    at: num(r.at),
  }
}

export function toEvent(r: Row, h: DialectHooks): StoredEvent {
  const json = (v: unknown) =>
    v === null || v === undefined ? null : (h.decodeJson(v) as JsonObject)
  return {
    seq: num(r.seq),
    workspaceId: String(r.workspace_id),
    messageId: String(r.message_id),
    profileId: String(r.profile_id),
    type: r.type as MessageType,
    name: strOrNull(r.name),
    timestamp: num(r.ts),
    receivedAt: num(r.received_at),
    userId: strOrNull(r.user_id),
    anonymousId: strOrNull(r.anonymous_id),
    properties: json(r.properties),
    traits: json(r.traits),
    payload: json(r.payload) ?? {},
  }
}

export function encodeCursor(ts: number, seq: number): string {
  return Buffer.from(`${ts}:${seq}`).toString('base64url')
}

export function decodeCursor(cursor: string): [number, number] {
  const [a, b] = Buffer.from(cursor, 'base64url').toString().split(':')
  const ts = Number(a)
  const seq = Number(b)
  if (!Number.isFinite(ts) || !Number.isFinite(seq)) {
    throw new SegflowError(
      'invalid_request',
      `cursor ${JSON.stringify(cursor)} is not one this API returned`,
    )
  }
  return [ts, seq]
}

function jsonOrNull(v: unknown): JsonValue | null {
  return v === null || v === undefined ? null : (JSON.parse(String(v)) as JsonValue)
}

export function toSegment(r: Row): SegmentRecord {
  return {
    workspaceId: String(r.workspace_id),
    key: String(r.key),
    version: num(r.version),
    name: String(r.name),
    description: String(r.description),
    priority: num(r.priority),
    rule: JSON.parse(String(r.rule)) as JsonValue,
    liveVersion:
      r.live_version === null || r.live_version === undefined ? null : num(r.live_version),
    liveRule:
      r.live_rule === null || r.live_rule === undefined
        ? null
        : (JSON.parse(String(r.live_rule)) as JsonValue),
    models: jsonOrNull(r.models),
    liveModels: jsonOrNull(r.live_models),
    status: r.status === 'live' ? 'live' : 'computing',
    backfillCursor: strOrNull(r.backfill_cursor),
    backfillDone: num(r.backfill_done),
    backfillTotal: num(r.backfill_total),
    createdAt: num(r.created_at),
    updatedAt: num(r.updated_at),
  }
}

export function toSegmentVersion(r: Row): SegmentVersionRecord {
  return {
    workspaceId: String(r.workspace_id),
    key: String(r.key),
    version: num(r.version),
    name: String(r.name),
    description: String(r.description),
    rule: JSON.parse(String(r.rule)) as JsonValue,
    publishedAt: num(r.published_at),
  }
}

export function toMembership(r: Row): MembershipRecord {
  return {
    workspaceId: String(r.workspace_id),
    segmentKey: String(r.segment_key),
    profileId: String(r.profile_id),
    version: num(r.version),
    enteredAt: num(r.entered_at),
  }
}

export function toTracker(r: Row, h: DialectHooks): TrackerRecord {
  return {
    workspaceId: String(r.workspace_id),
    profileId: String(r.profile_id),
    key: String(r.key),
    state: h.decodeJson(r.state) as JsonValue,
  }
}

export function toTimer(r: Row): TimerRecord {
  return {
    workspaceId: String(r.workspace_id),
    profileId: String(r.profile_id),
    segmentKey: String(r.segment_key),
    dueAt: num(r.due_at),
  }
}

export function toTransition(r: Row): StoredTransition {
  return {
    seq: num(r.seq),
    // xid8 comes back as text; SQLite has no such column.
    txid: r.txid === undefined || r.txid === null ? 0 : Number(r.txid),
    workspaceId: String(r.workspace_id),
    id: String(r.id),
    type: r.type === 'segment.exited' ? 'segment.exited' : 'segment.entered',
    at: num(r.at),
    segmentKey: String(r.segment_key),
    segmentVersion: num(r.segment_version),
    profileId: String(r.profile_id),
    reason: String(r.reason) as TransitionReason,
    // A boolean on PostgreSQL, 0/1 on SQLite.
    historical: r.historical === true || Number(r.historical) === 1,
    recordedAt: num(r.recorded_at),
  }
}
