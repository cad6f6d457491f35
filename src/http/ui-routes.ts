import { readFile } from 'node:fs/promises'
import { dirname, extname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { previewFrameRoute } from './preview-frame.js'

/**
 * Where `npm run build` puts the dashboard: dist/ui at the repository root. The same from
 * src/http (tests, tsx) and dist/http (the built server).
 */
export const DEFAULT_UI_DIR = resolve(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  'dist',
  'ui',
)

/**
 * The dashboard's client-side sections: `/<section>` and everything under it answer
 * index.html, so a page's address can be reloaded and shared. A page added under a new
 * top-level path (ui/src/router.tsx) adds its first segment here.
 */
export const UI_SECTIONS = [
  'segments',
  'people',
  'templates',
  'login',
  'set-password',
  'logout',
  'automations',
  'webhooks',
  'scores',
  'privacy',
  'settings',
  'users',
] as const

/** Whether a route (as registered) is one of the dashboard's pages or files, not the API. */
export function isUiRoute(url: string): boolean {
  if (url === '/' || url.startsWith('/ui/')) return true
  return UI_SECTIONS.some((s) => url === `/${s}` || url.startsWith(`/${s}/`))
}

/**
 * Everything the page loads comes from segflow itself: no inline script or style, no other
 * origin, no framing. uPlot and Preact set styles through the CSSOM, which this allows.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  // Template previews: documents of their own (preview-frame.ts), not srcdoc.
  "frame-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ')

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
  '.map': 'application/json; charset=utf-8',
}
/** Worth compressing: text. */
const COMPRESSIBLE = new Set(['.js', '.css', '.svg', '.map'])
/** Vite names assets `name-<hash>.ext`; nothing else (no `..`, no `/`) is looked up. */
const ASSET_NAME = /^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\.[a-z0-9]+$/

const NOT_BUILT = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>segflow: dashboard not built</title></head>
<body><h1>The dashboard has not been built</h1>
<p>Run <code>npm run build</code> (or <code>npm start</code>, which builds what is stale) and reload this page.</p>
<p>The API works without it: <a href="/openapi.json">/openapi.json</a>.</p></body></html>
`

export interface UiRouteOptions {
  /** The built dashboard (index.html and assets/). Default: dist/ui of this checkout. */
  readonly dir?: string
}

/**
 * The dashboard: `/` and its client routes answer index.html (no-cache, strict CSP), the
 * content-hashed files under `/ui/assets/` are cached for a year. Before the first build,
 * those pages answer 503 saying how to build.
 */
export async function uiRoutes(app: FastifyInstance, opts: UiRouteOptions = {}): Promise<void> {
  const dir = opts.dir ?? DEFAULT_UI_DIR
  // Assets never change under their name, so each is read (and gzipped) once.
  const cache = new Map<string, { raw: Buffer; gzip: Buffer | null }>()

  const security = (reply: FastifyReply) =>
    reply
      .header('content-security-policy', CONTENT_SECURITY_POLICY)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'same-origin')
      .header('x-frame-options', 'DENY')

  const page = async (_req: FastifyRequest, reply: FastifyReply) => {
    let html: Buffer
    try {
      // Read every time: a rebuild while the server runs is picked up at the next load.
      html = await readFile(join(dir, 'index.html'))
    } catch {
      return security(reply)
        .status(503)
        .header('cache-control', 'no-store')
        .type('text/html; charset=utf-8')
        .send(NOT_BUILT)
    }
    return security(reply)
      .header('cache-control', 'no-cache')
      .type('text/html; charset=utf-8')
      .send(html)
  }

  await previewFrameRoute(app)
  app.get('/', page)
  for (const section of UI_SECTIONS) {
    app.get(`/${section}`, page)
    app.get(`/${section}/*`, page)
  }

  app.get<{ Params: { file: string } }>('/ui/assets/:file', async (req, reply) => {
    const name = req.params.file
    const ext = extname(name)
    const type = TYPES[ext]
    if (!ASSET_NAME.test(name) || type === undefined) return notFound(req, reply)
    let entry = cache.get(name)
    if (!entry) {
      let raw: Buffer
      try {
        raw = await readFile(join(dir, 'assets', name))
      } catch {
        return notFound(req, reply)
      }
      entry = { raw, gzip: COMPRESSIBLE.has(ext) ? gzipSync(raw, { level: 9 }) : null }
      cache.set(name, entry)
    }
    void security(reply)
      .header('cache-control', 'public, max-age=31536000, immutable')
      .header('vary', 'accept-encoding')
      .type(type)
    const gzip = entry.gzip !== null && /\bgzip\b/.test(String(req.headers['accept-encoding']))
    if (gzip) void reply.header('content-encoding', 'gzip')
    return reply.send(gzip ? entry.gzip : entry.raw)
  })
}

function notFound(req: FastifyRequest, reply: FastifyReply) {
  return reply
    .status(404)
    .header('cache-control', 'no-store')
    .send({ error: { code: 'not_found', message: `no dashboard file ${req.url}` } })
}
