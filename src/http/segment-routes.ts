import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { Readable } from 'node:stream'
import type { SegmentService } from '../engine/segment-service.js'
import { SegflowError } from '../shared/errors.js'
import { isPlainObject } from '../shared/json.js'
import { parseInstant } from '../shared/time.js'

interface KeyParams {
  key: string
}

function limitOf(raw: unknown, max: number): number {
  if (raw === undefined) return Math.min(100, max)
  const n = Number(raw)
  if (!Number.isInteger(n) || n < 1 || n > max) {
    throw new SegflowError(
      'invalid_request',
      `limit ${JSON.stringify(raw)} must be a whole number from 1 to ${max}`,
    )
  }
  return n
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

function wantsCsv(req: FastifyRequest<{ Querystring: { format?: string } }>): boolean {
  return req.query.format === 'csv' || /\btext\/csv\b/.test(req.headers.accept ?? '')
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

  app.get<{ Params: KeyParams; Querystring: { cursor?: string; limit?: string; format?: string } }>(
    '/segments/:key/members',
    async (req, reply: FastifyReply) => {
      const ws = req.workspaceId
      const key = req.params.key
      if (!wantsCsv(req))
        return segments.members(ws, key, req.query.cursor ?? null, limitOf(req.query.limit, 1000))
      // The whole list as CSV, a page at a time: never all of it in memory.
      const first = await segments.members(ws, key, null, 1000)
      async function* lines() {
        yield 'id,user_id,email,entered_at\n'
        for (let page = first; ; page = await segments.members(ws, key, page.nextCursor, 1000)) {
          for (const m of page.items)
            yield `${[m.id, m.userId, m.email, m.enteredAt].map(csvCell).join(',')}\n`
          if (page.nextCursor === null) return
        }
      }
      return reply
        .type('text/csv; charset=utf-8')
        .header('content-disposition', `attachment; filename="${key}-members.csv"`)
        .send(Readable.from(lines()))
    },
  )

  app.get<{ Params: KeyParams; Querystring: { from?: string; to?: string } }>(
    '/segments/:key/history',
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
