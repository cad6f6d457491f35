import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyInstance, FastifyReply } from 'fastify'
import { Type } from '@sinclair/typebox'
import type { Mailer } from '../delivery/email.js'
import { documented } from './route-schemas.js'

/** A transparent 1×1 GIF. */
const PIXEL = Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7', 'base64')

const page = (title: string, body: string): string =>
  `<!doctype html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>${title}</title></head>` +
  `<body style="font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem">${body}</body></html>`

function notFound(reply: FastifyReply): FastifyReply {
  return reply
    .status(404)
    .type('text/html')
    .send(page('Link not found', '<p>This link is not valid.</p>'))
}

const tagged = documented('email links')
const TOKEN = Type.Object({ token: Type.String({ description: 'signed by segflow' }) })
const HTML = (description: string) => ({
  description,
  content: { 'text/html': { schema: Type.String() } },
})
const doc = (summary: string, response: Record<number, unknown>) =>
  tagged(summary, { security: [], params: TOKEN, response })
const NOT_FOUND = { 404: HTML('The link is not valid') }

/**
 * The links in emails, reached by recipients (no key; every link carries a signed token):
 * the open pixel, click redirects, and one-click unsubscribe (RFC 8058).
 */
export async function emailRoutes(app: FastifyInstance, mailer: Mailer): Promise<void> {
  const api = app.withTypeProvider<TypeBoxTypeProvider>()
  // One-click unsubscribe posts a form (RFC 8058); its content does not matter.
  app.addContentTypeParser(
    ['application/x-www-form-urlencoded', 'multipart/form-data'],
    { parseAs: 'string', bodyLimit: 16 * 1024 },
    (_req, body, done) => done(null, body),
  )
  api.get(
    '/e/o/:token',
    doc('Open pixel: records Email Opened', {
      200: { description: 'A 1×1 GIF', content: { 'image/gif': { schema: Type.String() } } },
    }),
    async (req, reply) => {
      const v = await mailer.verify('o', req.params.token.replace(/\.gif$/, ''))
      if (v) await mailer.recordEngagement('o', v.workspaceId, v.sendId).catch(() => false)
      // The pixel is served whatever happened: a mail client shows no errors.
      return reply.type('image/gif').header('cache-control', 'no-store').send(PIXEL)
    },
  )

  api.get(
    '/e/c/:token',
    tagged('Click redirect: records Email Clicked, then redirects to the signed URL', {
      security: [],
      params: TOKEN,
      querystring: Type.Object({
        u: Type.Optional(
          Type.String({ description: 'the destination (must match the signature)' }),
        ),
      }),
      response: { 302: { description: 'To the link', type: 'null' }, ...NOT_FOUND },
    }),
    async (req, reply) => {
      const url = req.query.u ?? ''
      const v = await mailer.verify('c', req.params.token, url)
      // The token signs the URL: a tampered link is not an open redirect.
      if (!v) return notFound(reply)
      await mailer.recordEngagement('c', v.workspaceId, v.sendId, url).catch(() => false)
      return reply.redirect(url, 302)
    },
  )

  // GET asks (mail scanners follow links); POST unsubscribes: the form below, or a mail
  // client's one-click request (List-Unsubscribe-Post).
  api.get(
    '/e/u/:token',
    doc('Unsubscribe page (asks; link scanners do not unsubscribe anyone)', {
      200: HTML('A page asking to confirm'),
      ...NOT_FOUND,
    }),
    async (req, reply) => {
      const v = await mailer.verify('u', req.params.token)
      if (!v) return notFound(reply)
      return reply
        .type('text/html')
        .send(
          page(
            'Unsubscribe',
            `<p>Stop receiving these emails?</p><form method="post"><button type="submit">Unsubscribe</button></form>`,
          ),
        )
    },
  )

  api.post(
    '/e/u/:token',
    doc('Unsubscribe: the page form or one-click (RFC 8058, List-Unsubscribe-Post)', {
      200: HTML('Unsubscribed'),
      ...NOT_FOUND,
    }),
    async (req, reply) => {
      const v = await mailer.verify('u', req.params.token)
      if (!v || !(await mailer.unsubscribe(v.workspaceId, v.sendId))) {
        return notFound(reply)
      }
      return reply
        .type('text/html')
        .send(
          page(
            'Unsubscribed',
            '<p>You are unsubscribed. You will not get these emails any more.</p>',
          ),
        )
    },
  )
}
