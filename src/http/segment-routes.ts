import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { Readable } from 'node:stream'
import type { MemberView, SegmentService } from '../engine/segment-service.js'
import { SegflowError } from '../shared/errors.js'
import { isPlainObject } from '../shared/json.js'
import { parseInstant } from '../shared/time.js'
import { pageLimit, querySchema, text } from './query-schema.js'

interface KeyParams {
  key: string
}

function instantOf(raw: unknown, name: string): number | null {
  if (raw === undefined) return null
  const t = parseInstant(raw)
  if (t === null)
    throw new SegflowError(
      'invalid_request',
      `${name} ${JSON.stringify(raw)} must be an ISO-8601 date like 2026-01-31`,
    )
  return t
}

function ruleOf(body: unknown): unknown {
  if (!isPlainObject(body) || body.rule === undefined) {
    throw new SegflowError('invalid_body', 'body must be a JSON object like {"rule": {…}}')
  }
  for (const k of Object.keys(body)) {
    if (k !== 'rule')
      throw new SegflowError(
        'invalid_body',
        `unknown field ${JSON.stringify(k)}; expected only rule`,
      )
  }
  return body.rule
}

function csvCell(v: string | null): string {
  if (v === null) return ''
  return /[",\n\r]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v
}

/** `GET /api/segments/:key/members`: the parameters it takes (and no others). */
export const MEMBERS_QUERY = querySchema({
  limit: pageLimit(1000, 100, 'members (JSON; the CSV is always the whole list)'),
  cursor: {
    type: 'string',
    minLength: 1,
    maxLength: 512,
    description: 'the `nextCursor` of the previous page',
  },
  format: {
    type: 'string',
    enum: ['json', 'csv'],
    description: 'csv: the whole list as CSV, streamed (also with Accept: text/csv)',
  },
  q: {
    type: 'string',
    minLength: 1,
    maxLength: 200,
    description:
      'only members whose userId or email (case-insensitively) starts with this, or whose profile id it is (JSON)',
  },
  reachable: {
    type: 'boolean',
    description:
      "true: only members marketing email can reach (an address, subscribed, consent as the consent mode requires), the same as the segment's reachable size",
  },
})

/** `GET /api/segments/:key/history`: the parameters it takes (and no others). */
export const HISTORY_QUERY = querySchema({
  from: text('ISO-8601 date (default: 30 days before to)'),
  to: text('ISO-8601 date, exclusive (default: now)'),
})

interface MembersQuery {
  limit: number
  cursor?: string
  q?: string
  format?: 'json' | 'csv'
  reachable?: boolean
}

function wantsCsv(req: FastifyRequest<{ Querystring: MembersQuery }>): boolean {
  if (req.query.format !== undefined) return req.query.format === 'csv'
  return /\btext\/csv\b/.test(req.headers.accept ?? '')
}

/** CSV text of one batch of members. */
function csvRows(members: readonly MemberView[]): string {
  let out = ''
  for (const m of members)
    out += `${csvCell(m.id)},${csvCell(m.userId)},${csvCell(m.email)},${m.enteredAt}\n`
  return out
}

/** `/api/segments`: publish, list, delete, preview, diff, members (JSON and CSV), history. */
export async function segmentRoutes(app: FastifyInstance, segments: SegmentService): Promise<void> {
  app.get('/segments', async (req) => ({ items: await segments.list(req.workspaceId) }))

  app.get<{ Params: KeyParams }>('/segments/:key', async (req) =>
    segments.get(req.workspaceId, req.params.key),
  )

  app.put<{ Params: KeyParams }>('/segments/:key', async (req, reply) => {
    const { segment, created } = await segments.publish(req.workspaceId, req.params.key, req.body)
    return reply.status(created ? 201 : 200).send(segment)
  })

  app.delete<{ Params: KeyParams }>('/segments/:key', async (req) => {
    const { exited } = await segments.remove(req.workspaceId, req.params.key)
    return { deleted: req.params.key, exited }
  })

  app.post('/segments/preview', async (req) => segments.preview(req.workspaceId, ruleOf(req.body)))

  app.post<{ Params: KeyParams }>('/segments/:key/diff', async (req) =>
    segments.diff(req.workspaceId, req.params.key, ruleOf(req.body)),
  )

  app.get<{ Params: KeyParams; Querystring: MembersQuery }>(
    '/segments/:key/members',
    { schema: { querystring: MEMBERS_QUERY } },
    async (req, reply: FastifyReply) => {
      const ws = req.workspaceId
      const key = req.params.key
      const reachable = req.query.reachable ?? false
      if (!wantsCsv(req))
        return segments.members(ws, key, {
          cursor: req.query.cursor ?? null,
          limit: req.query.limit,
          reachable,
          search: req.query.q?.trim() || null,
        })
      if (req.query.q !== undefined)
        throw new SegflowError(
          'invalid_request',
          'q searches the JSON listing; the CSV is always the whole list (or its reachable part)',
        )
      if (req.query.cursor !== undefined)
        throw new SegflowError(
          'invalid_request',
          'cursor pages the JSON listing; the CSV is always the whole list',
        )
      // Streamed a keyset batch at a time: never the whole list in memory, and the client's
      // pace (backpressure) decides when the next batch is read.
      const batches = await segments.memberBatches(ws, key, { reachable })
      async function* lines() {
        yield 'id,user_id,email,entered_at\n'
        for await (const batch of batches) yield csvRows(batch)
      }
      return reply
        .type('text/csv; charset=utf-8')
        .header('content-disposition', `attachment; filename="${key}-members.csv"`)
        .send(Readable.from(lines()))
    },
  )

  app.get<{ Params: KeyParams; Querystring: { from?: string; to?: string } }>(
    '/segments/:key/history',
    { schema: { querystring: HISTORY_QUERY } },
    async (req) =>
      segments.history(
        req.workspaceId,
        req.params.key,
        instantOf(req.query.from, 'from'),
        instantOf(req.query.to, 'to'),
      ),
  )

  app.get<{ Params: KeyParams; Querystring: Record<string, string | undefined> }>(
    '/segments/:key/sizes',
    async (req) => {
      const q = req.query
      for (const k of Object.keys(q)) {
        if (!['from', 'to', 'step'].includes(k))
          throw new SegflowError(
            'invalid_request',
            `unknown query parameter ${JSON.stringify(k)}; expected from, to, step`,
          )
      }
      const step = q.step ?? 'day'
      if (step !== 'hour' && step !== 'day')
        throw new SegflowError(
          'invalid_request',
          `step ${JSON.stringify(step)} must be hour or day`,
        )
      return segments.sizes(req.workspaceId, req.params.key, {
        from: instantOf(q.from, 'from'),
        to: instantOf(q.to, 'to'),
        step,
      })
    },
  )

  app.get<{ Params: { id: string; key: string } }>('/profiles/:id/explain/:key', async (req) =>
    segments.explain(req.workspaceId, req.params.id, req.params.key),
  )
}
