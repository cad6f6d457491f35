import type { FastifyInstance } from 'fastify'
import type { LiveFeed, LiveFeedEvent } from '../delivery/live-feed.js'
import type { OverviewService } from '../engine/overview.js'
import { MAX_TREND_DAYS } from '../engine/overview.js'
import { querySchema } from './query-schema.js'

/** `GET /api/segment-trends`: the parameters it takes. */
export const TRENDS_QUERY = querySchema({
  days: {
    type: 'integer',
    minimum: 1,
    maximum: MAX_TREND_DAYS,
    default: 7,
    description: `days of trend, 1–${MAX_TREND_DAYS} (default 7)`,
  },
})

/** Routes that take no query parameters refuse any. */
const NO_QUERY = querySchema({})

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
  app.get('/overview', { schema: { querystring: NO_QUERY } }, async (req) =>
    deps.overview.overview(req.workspaceId),
  )

  app.get<{ Querystring: { days: number } }>(
    '/segment-trends',
    { schema: { querystring: TRENDS_QUERY } },
    async (req) => deps.overview.trends(req.workspaceId, req.query.days),
  )

  // Open streams, ended before the server closes (an open stream would hold it open).
  const streams = new Set<() => void>()
  app.addHook('preClose', async () => {
    for (const end of [...streams]) end()
  })

  app.get('/stream', { schema: { querystring: NO_QUERY } }, async (req, reply) => {
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
  })
}
