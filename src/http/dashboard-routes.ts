import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import type { FastifyInstance } from 'fastify'
import type { LiveFeed, LiveFeedEvent } from '../delivery/live-feed.js'
import type { OverviewService } from '../engine/overview.js'
import { MAX_TREND_DAYS } from '../engine/overview.js'
import { querySchema } from './query-schema.js'
import { adminErrors, answer, documented, NO_QUERY } from './route-schemas.js'

/** `GET /api/segment-trends`: the parameters it takes. */
export const TRENDS_QUERY = querySchema({
  days: Type.Integer({
    minimum: 1,
    maximum: MAX_TREND_DAYS,
    default: 7,
    description: `days of trend, 1–${MAX_TREND_DAYS} (default 7)`,
  }),
})

const doc = documented('dashboard')
const Instant = Type.String({ format: 'date-time' })

const OVERVIEW = Type.Object({
  profiles: Type.Integer({ description: 'profiles, merged ones counted once' }),
  reachable: Type.Integer({
    description: 'profiles marketing email can reach now, under the consent mode',
  }),
  segments: Type.Integer({ description: 'segments, lifecycle stages not counted' }),
  eventsLastHour: Type.Integer({
    description: 'messages stored in the current minute and the 59 before it',
  }),
  at: Instant,
})

const TRENDS = Type.Object({
  from: Type.String({ format: 'date-time', description: 'the first point: an hour boundary' }),
  to: Type.String({ format: 'date-time', description: 'the last point: now' }),
  items: Type.Array(
    Type.Object({
      key: Type.String(),
      sizes: Type.Array(Type.Integer(), {
        description:
          "days + 1 sizes: at the current hour's start days, days − 1, … 1 days ago, and now",
      }),
      change: Type.Integer({ description: 'now minus days ago' }),
    }),
  ),
})

/** A comment line every so often keeps proxies from closing a quiet stream. */
const KEEPALIVE_MS = 15_000

export interface DashboardRouteDeps {
  readonly overview: OverviewService
  readonly liveFeed: LiveFeed
}

/**
 * What the dashboard opens with: `GET /api/overview` (the workspace in numbers),
 * `GET /api/segment-trends` (every segment's size once a day, for sparklines) and
 * `GET /api/stream` (transitions as server-sent events).
 */
export async function dashboardRoutes(
  app: FastifyInstance,
  deps: DashboardRouteDeps,
): Promise<void> {
  const api = app.withTypeProvider<TypeBoxTypeProvider>()
  api.get(
    '/overview',
    doc(
      'The workspace in numbers: profiles, reachable profiles, segments, events in the last hour',
      {
        querystring: NO_QUERY,
        response: { 200: answer(OVERVIEW), ...adminErrors() },
      },
    ),
    async (req) => deps.overview.overview(req.workspaceId),
  )

  api.get(
    '/segment-trends',
    doc(
      "Every segment's exact size at the current hour's start on each of the last days, and now",
      {
        querystring: TRENDS_QUERY,
        response: { 200: answer(TRENDS), ...adminErrors() },
      },
    ),
    async (req) => deps.overview.trends(req.workspaceId, req.query.days),
  )

  // Open streams, ended before the server closes (an open stream would hold it open).
  const streams = new Set<() => void>()
  app.addHook('preClose', async () => {
    for (const end of [...streams]) end()
  })

  api.get(
    '/stream',
    doc(
      'Transitions as they are committed, as server-sent events: `ready` once listening, then `transition` (data: id, segment, profileId, userId, anonymousId, kind entered|exited, at, reason, historical) and `skipped` after a burst too large to show',
      {
        querystring: NO_QUERY,
        response: {
          200: {
            description: 'An event stream (text/event-stream)',
            content: { 'text/event-stream': { schema: Type.String() } },
          },
          ...adminErrors(),
        },
      },
    ),
    async (req, reply) => {
      reply.hijack()
      const res = reply.raw
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        // Proxies that buffer (nginx) would hold events back.
        'x-accel-buffering': 'no',
      })
      // How long a browser waits before reconnecting after the stream drops.
      res.write('retry: 3000\n\n')
      const send = (e: LiveFeedEvent) => {
        if (e.type === 'transition') {
          res.write(
            `id: ${e.transition.id}\nevent: transition\ndata: ${JSON.stringify(e.transition)}\n\n`,
          )
        } else {
          res.write(`event: skipped\ndata: ${JSON.stringify({ after: e.after })}\n\n`)
        }
      }
      const off = await deps.liveFeed.subscribe(req.workspaceId, send)
      const keepalive = setInterval(() => res.write(': keepalive\n\n'), KEEPALIVE_MS)
      keepalive.unref()
      const end = () => {
        if (!streams.delete(end)) return
        clearInterval(keepalive)
        off()
        res.end()
      }
      streams.add(end)
      req.raw.on('close', end)
      res.on('close', end)
      // The client may have gone while the feed was placing "now".
      if (req.raw.destroyed || res.destroyed) return end()
      // Listening from here on: a client (and a test) can act knowing nothing is missed.
      res.write('event: ready\ndata: {}\n\n')
    },
  )
}
