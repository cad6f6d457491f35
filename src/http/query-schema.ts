import { Type } from '@sinclair/typebox'
import type { TObject, TProperties } from '@sinclair/typebox'
import type { FastifySchemaValidationError } from 'fastify'
import { SegflowError } from '../shared/errors.js'
import { closestName } from '../shared/suggest.js'

/** A query parameter's JSON Schema (the subset segflow's routes use), as errors read it. */
export interface ParamSchema {
  readonly type: 'string' | 'integer' | 'boolean'
  readonly description: string
  readonly enum?: readonly string[]
  readonly minimum?: number
  readonly maximum?: number
  readonly minLength?: number
  readonly maxLength?: number
  readonly default?: unknown
}

/**
 * A querystring schema refusing every parameter it does not name (the app's ajv is set not to
 * strip unknown ones silently, see app.ts), so `?reachabel=true` is a 400 with a suggestion,
 * never a filter quietly ignored. `/openapi.json` lists the same parameters from it, and the
 * handler's `req.query` type comes from it (the TypeBox type provider).
 * @example
 * app.get('/things', { schema: { querystring: querySchema({ limit: LIMIT }) } }, handler)
 */
export function querySchema<P extends TProperties>(properties: P): TObject<P> {
  const schema = Type.Object(properties, { additionalProperties: false })
  // A parameter with a default is optional to a client; ajv fills it in before the handler
  // runs, whose type (from the schema) therefore has it.
  const json = schema as { required?: string[] }
  const required = (json.required ?? []).filter((k) => !('default' in properties[k]!))
  if (required.length > 0) json.required = required
  else delete json.required
  return schema
}

/** Parameters a route reads itself (as text), declared only so that unknown ones are refused. */
export const text = (description: string) => Type.Optional(Type.String({ description }))

/** A page size: a whole number from 1 to `max`, `fallback` when absent. */
export const pageLimit = (max: number, fallback: number, what: string) =>
  Type.Integer({
    minimum: 1,
    maximum: max,
    default: fallback,
    description: `${what} per page, 1–${max} (default ${fallback})`,
  })

/** What part of a request failed its schema (fastify's dataVar). */
type SchemaErrorDataVar = 'body' | 'headers' | 'params' | 'querystring'

const WHERE: Record<SchemaErrorDataVar, string> = {
  querystring: 'query parameter',
  body: 'field',
  params: 'path parameter',
  headers: 'header',
}

/** What a parameter's schema accepts, in words. */
function expected(s: Partial<ParamSchema>): string {
  if (s.enum) return `one of ${s.enum.join(', ')}`
  if (s.type === 'boolean') return 'true or false'
  if (s.type === 'integer') {
    if (s.minimum !== undefined && s.maximum !== undefined)
      return `a whole number from ${s.minimum} to ${s.maximum}`
    return s.minimum !== undefined ? `a whole number of at least ${s.minimum}` : 'a whole number'
  }
  if (s.maxLength !== undefined) return `text of ${s.minLength ?? 0} to ${s.maxLength} characters`
  return 'text'
}

/** What ajv adds to an error with `verbose: true` (app.ts sets it). */
interface VerboseError extends FastifySchemaValidationError {
  readonly parentSchema?: { readonly properties?: Record<string, unknown> } & Partial<ParamSchema>
  readonly data?: unknown
}

/**
 * The app's `schemaErrorFormatter`: a request that fails its route's schema becomes one
 * `invalid_request` naming the parameter, with "did you mean" for a misspelt one.
 * @example
 * validationError([{ keyword: 'additionalProperties', params: { additionalProperty: 'reachabel' }, … }], 'querystring')
 * // unknown query parameter "reachabel"; did you mean reachable? (expected cursor, format, limit, reachable)
 */
export function validationError(
  errors: readonly FastifySchemaValidationError[],
  dataVar: SchemaErrorDataVar,
): SegflowError {
  const e = errors[0] as VerboseError | undefined
  const where = WHERE[dataVar]
  if (!e) return new SegflowError('invalid_request', `a ${where} is not valid`)
  if (e.keyword === 'additionalProperties') {
    const name = String(e.params.additionalProperty)
    const known = Object.keys(e.parentSchema?.properties ?? {}).sort()
    const near = closestName(name, known)
    return new SegflowError(
      'invalid_request',
      `unknown ${where} ${JSON.stringify(name)}` +
        (near ? `; did you mean ${near}?` : '') +
        (known.length > 0 ? ` (expected ${known.join(', ')})` : ` (this route takes none)`),
      { details: { parameter: name, ...(near ? { suggestion: near } : {}) } },
    )
  }
  const name = e.instancePath.split('/')[1] ?? ''
  if (Array.isArray(e.data))
    return new SegflowError(
      'invalid_request',
      `${name} is given ${e.data.length} times; give it once`,
      { details: { parameter: name } },
    )
  // Quoted as sent: a query parameter is text until its schema reads it.
  return new SegflowError(
    'invalid_request',
    `${name} ${JSON.stringify(String(e.data))} must be ${e.parentSchema ? expected(e.parentSchema) : e.message}`,
    { details: { parameter: name } },
  )
}
