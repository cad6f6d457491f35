import type { FastifyInstance } from 'fastify'

/**
 * The policy of a rendered email shown in the dashboard. An email is inline-styled HTML with
 * remote images, which the dashboard's own policy rightly refuses; an iframe's `srcdoc`
 * inherits that policy, so the QA matrix shows each email in a document of its own instead:
 * sandboxed to an opaque origin (no scripts, forms, cookies or storage, no navigating the
 * page), styles and images allowed, nothing else.
 */
export const FRAME_CONTENT_SECURITY_POLICY = [
  'sandbox',
  "default-src 'none'",
  "style-src 'unsafe-inline'",
  'img-src https: http: data:',
  'font-src https: data:',
  "frame-ancestors 'self'",
  "form-action 'none'",
  "base-uri 'none'",
].join('; ')

/** The most HTML one frame takes (a template is at most 200,000 characters, rendered more). */
const FRAME_BODY_LIMIT = 2 * 1024 * 1024

/**
 * `POST /ui/frame` (a form field `html`): answers that HTML as an inert, sandboxed document,
 * for the dashboard's template previews (a form in the page targets the preview's iframe).
 * Only the dashboard's own pages may use it: browsers send `Sec-Fetch-Site`, which no other
 * site can set to `same-origin`, so a page elsewhere cannot make segflow show its HTML.
 */
export async function previewFrameRoute(app: FastifyInstance): Promise<void> {
  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string', bodyLimit: FRAME_BODY_LIMIT },
    (_req, body, done) => done(null, new URLSearchParams(String(body))),
  )
  app.post('/ui/frame', async (req, reply) => {
    const site = req.headers['sec-fetch-site']
    const dest = req.headers['sec-fetch-dest']
    if (site !== 'same-origin' || (dest !== undefined && dest !== 'iframe'))
      return reply
        .status(403)
        .header('cache-control', 'no-store')
        .send({
          error: {
            code: 'forbidden',
            message: "only the dashboard's own pages show previews here",
          },
        })
    const html = req.body instanceof URLSearchParams ? (req.body.get('html') ?? '') : ''
    return reply
      .header('content-security-policy', FRAME_CONTENT_SECURITY_POLICY)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .header('x-frame-options', 'SAMEORIGIN')
      .header('cache-control', 'no-store')
      .type('text/html; charset=utf-8')
      .send(html)
  })
}
