import type { Message } from '../engine/message.js'
import type { Clock } from '../shared/clock.js'
import { issuesError } from '../shared/errors.js'
import type { SegflowError } from '../shared/errors.js'
import type { Issue } from '../shared/errors.js'
import { isPlainObject } from '../shared/json.js'
import type { JsonObject } from '../shared/json.js'
import type { Metrics } from '../shared/metrics.js'
import type { Store } from '../store/store.js'
import { minimise, OPEN_SCHEMA, parseSchema, piiFields, schemaJson } from './schema.js'
import type { DataSchema } from './schema.js'

/** Field names whose dropped counts are kept per workspace (the rest are counted as `other`). */
const MAX_COUNTED = 1000

/**
 * Each workspace's data schema (data minimisation), cached in memory and applied to every
 * message before it is committed: fields outside it are dropped and counted, or refused. Also
 * the set of PII-flagged field names that log output masks.
 */
export class SchemaService {
  /** Each workspace that set a schema: it, and when it was set. */
  private readonly schemas = new Map<string, { schema: DataSchema; updatedAt: number }>()
  private readonly dropped = new Map<string, Map<string, number>>()
  private pii = new Set<string>()

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly metrics?: Metrics,
  ) {}

  async load(): Promise<void> {
    for (const row of await this.store.listSchemas())
      this.schemas.set(row.workspaceId, {
        schema: parseSchema(row.definition),
        updatedAt: row.updatedAt,
      })
    this.changed()
  }

  /** Field names flagged PII in any workspace. */
  piiFields(): ReadonlySet<string> {
    return this.pii
  }

  get(workspaceId: string): DataSchema {
    return this.schemas.get(workspaceId)?.schema ?? OPEN_SCHEMA
  }

  private changed(): void {
    this.pii = piiFields([...this.schemas.values()].map((s) => s.schema))
  }

  async put(workspaceId: string, body: unknown) {
    const schema = parseSchema(body)
    const now = this.clock.now()
    await this.store.putSchema(workspaceId, schemaJson(schema), now)
    this.schemas.set(workspaceId, { schema, updatedAt: now })
    this.changed()
    return this.view(workspaceId)
  }

  async remove(workspaceId: string) {
    await this.store.deleteSchema(workspaceId)
    this.schemas.delete(workspaceId)
    this.changed()
    return this.view(workspaceId)
  }

  view(workspaceId: string) {
    const at = this.schemas.get(workspaceId)?.updatedAt
    const counts = this.dropped.get(workspaceId) ?? new Map<string, number>()
    return {
      ...schemaJson(this.get(workspaceId)),
      updatedAt: at === undefined ? null : new Date(at).toISOString(),
      /** Fields dropped since this process started, by field. */
      dropped: Object.fromEntries([...counts].sort((a, b) => b[1] - a[1])),
    }
  }

  /**
   * The message as the schema lets it in: with fields outside it removed (mode drop, counted),
   * or the issues that refuse it (mode reject).
   */
  apply(m: Message): { message: Message; issues: Issue[] } {
    const schema = this.get(m.workspaceId)
    if (schema.mode === 'allow') return { message: m, issues: [] }
    const r = minimise(schema, m)
    if (r.issues.length > 0) return { message: m, issues: r.issues }
    if (r.dropped.length === 0) return { message: m, issues: [] }
    this.count(m.workspaceId, r.dropped)
    // RudderStack keeps identify traits in context.traits too: drop them there as well.
    let payload = m.payload
    const context = payload.context
    if (isPlainObject(context) && isPlainObject(context.traits)) {
      const traits = { ...(context.traits as JsonObject) }
      for (const f of r.dropped) if (f.startsWith('traits.')) delete traits[f.slice(7)]
      payload = { ...payload, context: { ...(context as JsonObject), traits } }
    }
    return {
      message: { ...m, traits: r.traits, properties: r.properties, payload },
      issues: [],
    }
  }

  private count(workspaceId: string, fields: readonly string[]): void {
    const counts =
      this.dropped.get(workspaceId) ?? this.dropped.set(workspaceId, new Map()).get(workspaceId)!
    for (const f of fields) {
      const key = counts.has(f) || counts.size < MAX_COUNTED ? f : 'other'
      counts.set(key, (counts.get(key) ?? 0) + 1)
      this.metrics?.droppedFields.inc({ kind: f.startsWith('traits.') ? 'trait' : 'property' })
    }
  }
}

/** A refusal of one message by the schema, as the single-message endpoints answer it. */
export function schemaRefusal(issues: readonly Issue[]): SegflowError {
  return issuesError(
    'invalid_message',
    `message carries fields the workspace does not collect: ${issues.map((i) => i.message).join('; ')}`,
    issues,
  )
}
