/**
 * Helpers the routes declare their schemas with: answers, the standard error answers, path
 * and query parameters, and the summary and tag of an operation. The shapes themselves are in
 * api-schemas.ts.
 */
import { Type } from '@sinclair/typebox'
import type { TProperties, TSchema, TString } from '@sinclair/typebox'
import type { FastifySchema } from 'fastify'
import { Nullable, ref } from './api-schemas.js'
import { querySchema } from './query-schema.js'

/** A response: its description and JSON schema. */
export const answer = (schema: TSchema, description = 'OK'): TSchema => ({
  ...schema,
  description,
})

/** `{items: [...]}`. */
export const itemsOf = (item: TSchema, more: TProperties = {}) =>
  Type.Object({ items: Type.Array(item), ...more })

/** `{items: [...], nextCursor}`: one page of a keyset-paged listing. */
export const pageOf = (item: TSchema) =>
  itemsOf(item, {
    nextCursor: Nullable(
      Type.String({ description: 'pass as cursor for the next page; null on the last' }),
    ),
  })

/** An answer with only some counts or an echo (`{deleted: key}`, `{replayed: 3}`, …). */
export const small = (properties: TProperties) => Type.Object(properties)

const err = (description: string) => ({ ...ref('Error'), description })

/** The error answers every admin route can give; `extra` adds route-specific ones. */
export function adminErrors(extra: Record<number, string> = {}): Record<number, TSchema> {
  return {
    400: err('The request is not valid; `error.code` says why'),
    401: err('No key, an unknown or revoked one, or no live session'),
    403: err(
      'The wrong kind of key; for a session, a missing csrf token (`csrf_failed`) or a role that may not (`forbidden`)',
    ),
    404: err('Not found in this workspace'),
    503: err('The database is unavailable, or segflow is shutting down (Retry-After)'),
    ...Object.fromEntries(Object.entries(extra).map(([code, d]) => [code, err(d)])),
  }
}

/** Profile routes: an identifier of an erased person is a 409 (`suppressed`). */
export const ERASED = { 409: 'The id belongs to an erased person (`error.code` suppressed)' }

/** Any error answer (routes outside /api). */
export const errorAnswer = err

/** Path parameters, each a string described. */
export const pathParams = <K extends string>(params: Record<K, string>) =>
  Type.Object(
    Object.fromEntries(
      Object.entries<string>(params).map(([k, d]) => [k, Type.String({ description: d })]),
    ) as Record<K, TString>,
  )

export const KEY = (what: string) => pathParams({ key: `${what} key` })
export const PROFILE_ID = 'userId, anonymousId, email or internal profile id'

/** A querystring schema for routes that take no query parameters: any is refused (400). */
export const NO_QUERY = querySchema({})

/**
 * Route options declaring a route's schema, for one tag.
 * @example
 * const doc = documented('segments')
 * app.get('/segments/:key', doc('A segment', { params: KEY('segment'), response: { 200: ref('Segment') } }), handler)
 */
export const documented =
  (tag: string) =>
  <S extends Omit<FastifySchema, 'summary' | 'tags'>>(summary: string, schema: S) => ({
    // Keeps the type of `params` and `querystring`: the type provider reads them.
    schema: { summary, tags: [tag], ...schema },
  })
