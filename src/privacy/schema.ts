import { issuesError } from '../shared/errors.js'
import type { Issue } from '../shared/errors.js'
import { isPlainObject } from '../shared/json.js'
import type { JsonObject, JsonValue } from '../shared/json.js'

/** What a field may hold. `any`: anything. */
export const FIELD_TYPES = ['string', 'number', 'boolean', 'object', 'array', 'any'] as const
export type FieldType = (typeof FIELD_TYPES)[number]

export interface FieldSpec {
  readonly type: FieldType
  /** Personal data: masked in logs. */
  readonly pii: boolean
}

/**
 * What a workspace collects. `allow`: everything (the schema only marks PII); `drop`: traits
 * and event properties not in the schema, or of another type, are dropped and counted;
 * `reject`: a message carrying one is refused, naming the field.
 */
export type SchemaMode = 'allow' | 'drop' | 'reject'

export interface DataSchema {
  readonly mode: SchemaMode
  readonly traits: ReadonlyMap<string, FieldSpec>
  /** Properties by event name; `*` applies to every event, page and screen. */
  readonly events: ReadonlyMap<string, ReadonlyMap<string, FieldSpec>>
}

export const OPEN_SCHEMA: DataSchema = { mode: 'allow', traits: new Map(), events: new Map() }

function fields(v: unknown, path: string, issues: Issue[]): Map<string, FieldSpec> {
  const out = new Map<string, FieldSpec>()
  if (!isPlainObject(v)) {
    issues.push({ path, message: `${path} must be an object like {"plan": {"type": "string"}}` })
    return out
  }
  for (const [name, spec] of Object.entries(v)) {
    const at = `${path}.${name}`
    if (name.trim() === '') {
      issues.push({ path: at, message: 'a field name must not be empty' })
      continue
    }
    if (!isPlainObject(spec)) {
      issues.push({ path: at, message: `${at} must be like {"type": "string", "pii": false}` })
      continue
    }
    for (const k of Object.keys(spec))
      if (k !== 'type' && k !== 'pii')
        issues.push({
          path: `${at}.${k}`,
          message: `unknown field ${JSON.stringify(k)}; expected type, pii`,
        })
    const type = spec.type ?? 'any'
    if (!(FIELD_TYPES as readonly unknown[]).includes(type))
      issues.push({ path: `${at}.type`, message: `type must be one of ${FIELD_TYPES.join(', ')}` })
    if (spec.pii !== undefined && typeof spec.pii !== 'boolean')
      issues.push({ path: `${at}.pii`, message: 'pii must be true or false' })
    out.set(name, { type: type as FieldType, pii: spec.pii === true })
  }
  return out
}

/** Parses `PUT /api/schema`; throws `invalid_body` with every issue's path. */
export function parseSchema(body: unknown): DataSchema {
  const issues: Issue[] = []
  if (!isPlainObject(body)) {
    issues.push({
      path: '',
      message: 'body must be like {"mode": "drop", "traits": {...}, "events": {...}}',
    })
  } else {
    for (const k of Object.keys(body))
      if (!['mode', 'traits', 'events'].includes(k))
        issues.push({
          path: k,
          message: `unknown field ${JSON.stringify(k)}; expected mode, traits, events`,
        })
    if (!['allow', 'drop', 'reject'].includes(body.mode as string))
      issues.push({ path: 'mode', message: 'mode must be "allow", "drop" or "reject"' })
  }
  const b = (isPlainObject(body) ? body : {}) as Record<string, unknown>
  const traits =
    b.traits === undefined ? new Map<string, FieldSpec>() : fields(b.traits, 'traits', issues)
  const events = new Map<string, Map<string, FieldSpec>>()
  if (b.events !== undefined) {
    if (!isPlainObject(b.events))
      issues.push({ path: 'events', message: 'events must be an object keyed by event name' })
    else
      for (const [name, e] of Object.entries(b.events)) {
        const at = `events.${name}`
        if (!isPlainObject(e) || Object.keys(e).some((k) => k !== 'properties')) {
          issues.push({
            path: at,
            message: `${at} must be like {"properties": {"revenue": {"type": "number"}}}`,
          })
          continue
        }
        events.set(
          name,
          e.properties === undefined ? new Map() : fields(e.properties, `${at}.properties`, issues),
        )
      }
  }
  if (issues.length > 0)
    throw issuesError(
      'invalid_body',
      `schema is not valid: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
      issues,
    )
  return { mode: b.mode as SchemaMode, traits, events }
}

/** The schema as JSON, as `PUT /api/schema` takes it. */
export function schemaJson(s: DataSchema): JsonObject {
  const obj = (m: ReadonlyMap<string, FieldSpec>): JsonObject =>
    Object.fromEntries([...m].map(([k, f]) => [k, { type: f.type, pii: f.pii }]))
  return {
    mode: s.mode,
    traits: obj(s.traits),
    events: Object.fromEntries([...s.events].map(([k, p]) => [k, { properties: obj(p) }])),
  }
}

function typeOf(v: JsonValue): FieldType {
  if (Array.isArray(v)) return 'array'
  if (v === null) return 'any'
  const t = typeof v
  return t === 'string' || t === 'number' || t === 'boolean' ? t : 'object'
}

function fits(spec: FieldSpec | undefined, v: JsonValue): boolean {
  // null removes a trait (or says "unknown"): any declared field may be null.
  return spec !== undefined && (spec.type === 'any' || v === null || typeOf(v) === spec.type)
}

/** What minimisation did to one message: the fields it dropped, or why it refuses it. */
export interface Minimised {
  readonly traits: JsonObject | null
  readonly properties: JsonObject | null
  /** `traits.coupon`, `properties.debug`: dropped (mode drop). */
  readonly dropped: string[]
  /** Mode reject: every field that is not in the schema or not of its type. */
  readonly issues: Issue[]
}

/**
 * Applies a workspace's schema to a message's traits and properties. Top-level keys are the
 * fields; nested objects are one field (typed `object`).
 */
export function minimise(
  schema: DataSchema,
  m: {
    type: string
    name: string | null
    traits: JsonObject | null
    properties: JsonObject | null
  },
): Minimised {
  const dropped: string[] = []
  const issues: Issue[] = []
  if (schema.mode === 'allow')
    return { traits: m.traits, properties: m.properties, dropped, issues }
  const check = (
    obj: JsonObject | null,
    label: string,
    spec: (k: string) => FieldSpec | undefined,
  ): JsonObject | null => {
    if (obj === null) return null
    let out: JsonObject | null = null
    for (const [k, v] of Object.entries(obj)) {
      const s = spec(k)
      if (fits(s, v)) continue
      const field = `${label}.${k}`
      const why =
        s === undefined
          ? `${field} is not in the workspace's schema (mode ${schema.mode})`
          : `${field} must be ${s.type === 'array' || s.type === 'object' ? 'an' : 'a'} ${s.type} (the workspace's schema)`
      if (schema.mode === 'reject') issues.push({ path: field, message: why })
      else {
        out ??= { ...obj }
        delete out[k]
        dropped.push(field)
      }
    }
    return out ?? obj
  }
  // Group traits describe the group, not the person: only identify traits are checked.
  const traits =
    m.type === 'identify' ? check(m.traits, 'traits', (k) => schema.traits.get(k)) : m.traits
  const named = m.name === null ? undefined : schema.events.get(m.name)
  const any = schema.events.get('*')
  const properties =
    m.type === 'identify' || m.type === 'group' || m.type === 'alias'
      ? m.properties
      : check(m.properties, 'properties', (k) => named?.get(k) ?? any?.get(k))
  return { traits, properties, dropped, issues }
}

/** Every field name flagged PII in any workspace: what log output masks. */
export function piiFields(schemas: Iterable<DataSchema>): Set<string> {
  const out = new Set<string>()
  for (const s of schemas) {
    for (const [k, f] of s.traits) if (f.pii) out.add(k)
    for (const props of s.events.values()) for (const [k, f] of props) if (f.pii) out.add(k)
  }
  return out
}
