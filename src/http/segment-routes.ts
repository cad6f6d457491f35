import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { Readable } from 'node:stream'
import type { MemberView, SegmentService } from '../engine/segment-service.js'
import { SegflowError } from '../shared/errors.js'
import { isPlainObject } from '../shared/json.js'
import { parseInstant } from '../shared/time.js'
import { Type } from '@sinclair/typebox'
import type { Static } from '@sinclair/typebox'
import { ref, OneOf } from './api-schemas.js'
import {
  adminErrors,
  answer,
  documented,
  ERASED,
  itemsOf,
  KEY,
  NO_QUERY,
  pageOf,
  pathParams,
  PROFILE_ID,
  small,
} from './route-schemas.js'
import { pageLimit, querySchema, text } from './query-schema.js'

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
  cursor: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 512,
      description: 'the `nextCursor` of the previous page',
    }),
  ),
  format: Type.Optional(
    OneOf(['json', 'csv'], {
      description: 'csv: the whole list as CSV, streamed (also with Accept: text/csv)',
    }),
  ),
  reachable: Type.Optional(
    Type.Boolean({
      description:
        "true: only members marketing email can reach (an address, subscribed, consent as the consent mode requires), the same as the segment's reachable size",
    }),
  ),
  q: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 200,
      description:
        'only members whose userId or email (case-insensitively) starts with this, or whose profile id it is (JSON)',
    }),
  ),
})

/** `GET /api/segments/:key/history`: the parameters it takes (and no others). */
export const HISTORY_QUERY = querySchema({
  from: text('ISO-8601 date (default: 30 days before to)'),
  to: text('ISO-8601 date, exclusive (default: now)'),
})

/** `GET /api/segments/:key/sizes`: read by the route itself (instants, step). */
export const SIZES_QUERY = querySchema({
  from: text('ISO-8601 instant; default: 30 steps back'),
  to: text('ISO-8601 instant; default: now'),
  step: text('hour or day (default)'),
})

/** `POST /api/segments/check`: a rule's text to check as publishing would (ajv checks it). */
export const CHECK_BODY = Type.Object(
  {
    source: Type.String({ maxLength: 100_000, description: 'the rule as YAML or JSON text' }),
    format: OneOf(['yaml', 'json'], { description: 'how source is written' }),
    key: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 64,
        description: 'the segment the rule is for (checks cycles through it); omit for a new one',
      }),
    ),
  },
  { additionalProperties: false },
)

const SOURCE_ISSUE = Type.Object({
  path: Type.String(),
  message: Type.String(),
  line: Type.Integer(),
  column: Type.Integer(),
})

const CHECKED = Type.Object({
  ok: Type.Boolean(),
  rule: Type.Optional(ref('Rule', 'the rule as JSON, when it is valid')),
  yaml: Type.Optional(Type.String({ description: 'the rule as YAML, when it is valid' })),
  issues: Type.Array(SOURCE_ISSUE),
})

const VERSIONS = Type.Object({
  segment: Type.String(),
  items: Type.Array(
    Type.Object({
      version: Type.Integer(),
      name: Type.String(),
      description: Type.String(),
      rule: ref('Rule'),
      yaml: Type.String(),
      publishedAt: Type.String({ format: 'date-time' }),
    }),
  ),
})

/** A rule body: parsed by the rule language (paths, "did you mean"), not by ajv. */
const RULE_BODY = Type.Object(
  { rule: ref('Rule', 'a rule (see README, "Rules")') },
  { additionalProperties: false },
)

const Instant = Type.String({ format: 'date-time' })

const SIZES = Type.Object({
  segment: Type.String(),
  step: OneOf(['hour', 'day']),
  from: Instant,
  to: Instant,
  createdAt: Instant,
  points: Type.Array(
    Type.Object({
      start: Instant,
      end: Instant,
      size: Type.Integer({ description: 'members at `end`' }),
      entered: Type.Integer(),
      exited: Type.Integer(),
      partial: Type.Optional(Type.Boolean({ description: 'the step has not ended yet' })),
    }),
  ),
  current: Type.Object({ at: Instant, size: Type.Integer(), reachable: Type.Integer() }),
})

const EXPLANATION = Type.Object({
  profile: Type.String(),
  segment: Type.String(),
  version: Type.Integer(),
  member: Type.Boolean(),
  since: Type.Union([Instant, Type.Null()]),
  lastTransition: Type.Union(
    [
      Type.Object({
        id: Type.String(),
        type: OneOf(['segment.entered', 'segment.exited']),
        at: Instant,
        reason: Type.String({ description: 'event, import, time, …' }),
        historical: Type.Boolean(),
      }),
      Type.Null(),
    ],
    { description: 'the latest entry or exit' },
  ),
  explanation: Type.Object({}, { description: 'condition by condition' }),
})

const doc = documented('segments')
const SEGMENT = KEY('segment')

function wantsCsv(req: FastifyRequest<{ Querystring: Static<typeof MEMBERS_QUERY> }>): boolean {
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
  const api = app.withTypeProvider<TypeBoxTypeProvider>()
  api.get(
    '/segments',
    doc('Segments with their sizes', {
      querystring: NO_QUERY,
      response: { 200: answer(itemsOf(ref('Segment'))), ...adminErrors() },
    }),
    async (req) => ({ items: await segments.list(req.workspaceId) }),
  )

  api.get(
    '/segments/:key',
    doc('A segment', {
      params: SEGMENT,
      querystring: NO_QUERY,
      response: { 200: answer(ref('Segment')), ...adminErrors() },
    }),
    async (req) => segments.get(req.workspaceId, req.params.key),
  )

  api.put(
    '/segments/:key',
    doc('Create a segment or publish a new version (computed in the background)', {
      params: SEGMENT,
      querystring: NO_QUERY,
      documentedBody: Type.Object({
        name: Type.Optional(Type.String()),
        description: Type.Optional(Type.String()),
        priority: Type.Optional(Type.Integer()),
        rule: ref('Rule', 'a rule (see README, "Rules")'),
      }),
      response: {
        200: answer(ref('Segment')),
        201: answer(ref('Segment'), 'Created'),
        ...adminErrors(),
      },
    }),
    async (req, reply) => {
      const { segment, created } = await segments.publish(req.workspaceId, req.params.key, req.body)
      return reply.status(created ? 201 : 200).send(segment)
    },
  )

  api.delete(
    '/segments/:key',
    doc('Delete a segment: its members exit (reason deleted)', {
      params: SEGMENT,
      querystring: NO_QUERY,
      response: {
        200: answer(small({ deleted: Type.String(), exited: Type.Integer() })),
        ...adminErrors({ 409: 'Other segments refer to it' }),
      },
    }),
    async (req) => {
      const { exited } = await segments.remove(req.workspaceId, req.params.key)
      return { deleted: req.params.key, exited }
    },
  )

  api.post(
    '/segments/check',
    doc('Checks a rule written as YAML or JSON as publishing would: issues at line and column', {
      querystring: NO_QUERY,
      body: CHECK_BODY,
      response: { 200: answer(CHECKED), ...adminErrors() },
    }),
    async (req) =>
      segments.check(req.workspaceId, req.body.source, req.body.format, req.body.key ?? null),
  )

  api.get(
    '/segments/:key/versions',
    doc("A segment's versions, oldest first, each with its rule (JSON and YAML)", {
      params: SEGMENT,
      querystring: NO_QUERY,
      response: { 200: answer(VERSIONS), ...adminErrors() },
    }),
    async (req) => segments.versions(req.workspaceId, req.params.key),
  )

  api.post(
    '/segments/preview',
    doc('How many people a rule matches now, and a sample', {
      querystring: NO_QUERY,
      documentedBody: RULE_BODY,
      response: { 200: answer(ref('Counted')), ...adminErrors() },
    }),
    async (req) => segments.preview(req.workspaceId, ruleOf(req.body)),
  )

  api.post(
    '/segments/:key/diff',
    doc('Who would enter and leave if this rule were published', {
      params: SEGMENT,
      querystring: NO_QUERY,
      documentedBody: RULE_BODY,
      response: {
        200: answer(Type.Object({ entering: ref('Counted'), exiting: ref('Counted') })),
        ...adminErrors(),
      },
    }),
    async (req) => segments.diff(req.workspaceId, req.params.key, ruleOf(req.body)),
  )

  api.get(
    '/segments/:key/members',
    doc(
      'Members in profile-id order, a page at a time (cursor); the whole list as CSV, streamed, with format=csv or Accept: text/csv; reachable=true: only those marketing email can reach',
      {
        params: SEGMENT,
        querystring: MEMBERS_QUERY,
        response: {
          200: {
            description: 'OK',
            content: {
              'application/json': { schema: pageOf(ref('Member')) },
              'text/csv': {
                schema: Type.String({
                  description: 'header id,user_id,email,entered_at, then one row per member',
                }),
              },
            },
          },
          ...adminErrors(),
        },
      },
    ),
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

  api.get(
    '/segments/:key/history',
    doc('Entered and exited per UTC day', {
      params: SEGMENT,
      querystring: HISTORY_QUERY,
      response: {
        200: answer(
          Type.Object({
            from: Type.String({ format: 'date-time' }),
            to: Type.String({ format: 'date-time' }),
            days: Type.Array(
              Type.Object({ day: Type.String(), entered: Type.Integer(), exited: Type.Integer() }),
            ),
          }),
        ),
        ...adminErrors(),
      },
    }),
    async (req) =>
      segments.history(
        req.workspaceId,
        req.params.key,
        instantOf(req.query.from, 'from'),
        instantOf(req.query.to, 'to'),
      ),
  )

  api.get(
    '/segments/:key/sizes',
    doc('Exact size at the end of each hour or UTC day, with entered and exited', {
      params: SEGMENT,
      querystring: SIZES_QUERY,
      response: { 200: answer(SIZES), ...adminErrors() },
    }),
    async (req) => {
      const q = req.query
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

  api.get(
    '/profiles/:id/explain/:key',
    doc('Why a profile is or is not in a segment, condition by condition', {
      params: pathParams({ id: PROFILE_ID, key: 'segment key' }),
      querystring: NO_QUERY,
      response: { 200: answer(EXPLANATION), ...adminErrors(ERASED) },
    }),
    async (req) => segments.explain(req.workspaceId, req.params.id, req.params.key),
  )
}
