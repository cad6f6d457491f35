import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyInstance } from 'fastify'
import type { AuditLog } from '../privacy/index.js'
import { Type } from '@sinclair/typebox'
import { Nullable, ref } from './api-schemas.js'
import { adminErrors, answer, documented, itemsOf } from './route-schemas.js'
import { pageLimit, querySchema, text } from './query-schema.js'

/** `GET /api/audit`: the parameters it takes (and no others). */
export const AUDIT_QUERY = querySchema({
  limit: pageLimit(1000, 100, 'entries'),
  before: text('the `next` of the previous page'),
})

/** Reads that hand out people's data in bulk: recorded like changes. */
const AUDITED_READS = new Set(['/api/segments/:key/members'])
/**
 * POSTs that change nothing and read no one's data (a rule's text checked as the dashboard's
 * editor types): not recorded, or the log would fill with keystrokes.
 */
const UNAUDITED_POSTS = new Set(['/api/segments/check'])

/**
 * Records every change made through the admin API (and bulk reads of people) in the audit
 * log before the answer goes out: the key (or `user:<email>`), the route, its parameters and
 * the status. Must be registered after the admin key check, in the same context as the admin routes.
 * `GET /api/audit` reads the log; nothing can change or remove an entry.
 */
export async function auditRoutes(app: FastifyInstance, audit: AuditLog): Promise<void> {
  const api = app.withTypeProvider<TypeBoxTypeProvider>()
  app.addHook('onSend', async (req, reply, payload) => {
    if (req.workspaceId === '' || req.actor === '') return payload
    const route = req.routeOptions.url ?? req.url
    const change = req.method !== 'GET' && req.method !== 'HEAD' && req.method !== 'OPTIONS'
    if (!change && !AUDITED_READS.has(route)) return payload
    if (UNAUDITED_POSTS.has(route)) return payload
    const params = Object.values((req.params ?? {}) as Record<string, string>)
    await audit.record({
      workspaceId: req.workspaceId,
      actor: req.actor,
      action: `${req.method} ${route}`,
      target: params.length > 0 ? params.join('/') : null,
      status: reply.statusCode,
    })
    return payload
  })

  api.get(
    '/audit',
    documented('privacy')(
      'The audit log, newest first: every change through the admin API, bulk reads of members, key changes, exports and erasures',
      {
        querystring: AUDIT_QUERY,
        response: {
          200: answer(
            itemsOf(ref('AuditEntry'), {
              next: Nullable(Type.String({ description: 'pass as before for the next page' })),
            }),
          ),
          ...adminErrors(),
        },
      },
    ),
    async (req) => audit.list(req.workspaceId, req.query.limit, req.query.before ?? null),
  )
}
