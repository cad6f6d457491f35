import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { Type } from '@sinclair/typebox'
import { SegflowError } from '../shared/errors.js'
import { ref } from './api-schemas.js'
import { answer, documented, errorAnswer, NO_QUERY } from './route-schemas.js'
import type { ActiveSession, UserService } from '../users/user-service.js'
import {
  CSRF_HEADER,
  csrfMatches,
  readCookie,
  requireSession,
  SESSION_COOKIE,
} from './admin-auth.js'

export interface AuthRouteOptions {
  readonly users: UserService
  /** Mark the cookie `Secure`: the server speaks HTTPS (a proxy's https is seen per request). */
  readonly secure: boolean
}

/** Bodies of the auth routes are small; a password of a megabyte is not one. */
const BODY_LIMIT = 16 * 1024

const tagged = documented('users')
const doc = (summary: string, schema: Parameters<typeof tagged>[1]) => ({
  bodyLimit: BODY_LIMIT,
  ...tagged(summary, { querystring: NO_QUERY, ...schema }),
})
const unavailable = { 503: errorAnswer('The database is unavailable (Retry-After)') }

/**
 * `/auth/*`: set a password from a one-time link, log in and out, and who am I. The session
 * lives in an HttpOnly, SameSite=Strict cookie (Secure under HTTPS); the csrf token answered
 * here goes in `x-csrf-token` on every state-changing request.
 */
export async function authRoutes(app: FastifyInstance, opts: AuthRouteOptions): Promise<void> {
  const api = app.withTypeProvider<TypeBoxTypeProvider>()
  const { users } = opts
  const secure = (req: FastifyRequest) => opts.secure || req.protocol === 'https'
  const cookie = (req: FastifyRequest, value: string, maxAgeS: number) =>
    [
      `${SESSION_COOKIE}=${value}`,
      'Path=/',
      'HttpOnly',
      'SameSite=Strict',
      `Max-Age=${maxAgeS}`,
      ...(secure(req) ? ['Secure'] : []),
    ].join('; ')
  const sessionAnswer = (s: ActiveSession) => ({
    user: { email: s.email },
    workspace: s.workspaceId,
    role: s.role,
    csrfToken: s.csrfToken,
    expiresAt: new Date(s.createdAt + users.maxMs).toISOString(),
  })
  const noStore = (reply: FastifyReply) => reply.header('cache-control', 'no-store')

  api.post(
    '/auth/set-password',
    doc('Set a password with the token of a one-time set-password link', {
      security: [],
      // Checked by the user service: its messages say what a password needs.
      documentedBody: Type.Object({
        token: Type.String(),
        password: Type.String({ minLength: 12, maxLength: 1024 }),
      }),
      response: {
        200: answer(Type.Object({ user: Type.Object({ email: Type.String() }) })),
        400: errorAnswer('A short password, or a link unknown, used or expired (`invalid_token`)'),
        ...unavailable,
      },
    }),
    async (req, reply) => {
      const out = await users.setPassword(req.body)
      return noStore(reply).send({ user: { email: out.email } })
    },
  )

  api.post(
    '/auth/login',
    doc('Log in: sets the segflow_session cookie (HttpOnly, SameSite=Strict, Secure under HTTPS)', {
      security: [],
      documentedBody: Type.Object({
        email: Type.String(),
        password: Type.String(),
        workspace: Type.Optional(
          Type.String({ description: 'needed when the user is in several' }),
        ),
      }),
      response: {
        200: {
          ...answer(ref('Session')),
          headers: {
            'set-cookie': Type.String({ description: `${SESSION_COOKIE}=…` }),
          },
        },
        400: errorAnswer('A missing field, or a workspace to choose'),
        401: errorAnswer(
          'The email or the password is wrong (`invalid_credentials`, the same for both)',
        ),
        403: errorAnswer('A disabled user, or no role in that workspace'),
        429: errorAnswer('Too many attempts for the email or address; see Retry-After'),
        ...unavailable,
      },
    }),
    async (req, reply) => {
      const { token, session, workspaces } = await users.login(req.body, req.ip)
      return noStore(reply)
        .header('set-cookie', cookie(req, token, Math.floor(users.maxMs / 1000)))
        .send({ ...sessionAnswer(session), workspaces })
    },
  )

  api.post(
    '/auth/logout',
    doc('Log out (with the session, x-csrf-token is needed); clears the cookie', {
      security: [{ session: [], csrf: [] }, {}],
      response: {
        204: { description: 'Logged out', type: 'null' },
        403: errorAnswer('No or a wrong x-csrf-token (`csrf_failed`)'),
        ...unavailable,
      },
    }),
    async (req, reply) => {
      const token = readCookie(req, SESSION_COOKIE)
      const session = token === null ? null : await users.authenticate(token)
      if (token !== null && session !== null && session !== 'expired') {
        // A forged cross-site logout would be a nuisance; the token shows it is the app asking.
        if (!csrfMatches(req, session))
          throw new SegflowError(
            'csrf_failed',
            `send the session's csrf token in the ${CSRF_HEADER} header to log out`,
          )
        await users.logout(token, session)
      }
      return noStore(reply)
        .header('set-cookie', cookie(req, '', 0))
        .status(204)
        .send()
    },
  )

  api.get(
    '/auth/session',
    doc('Who is logged in, with the csrf token for changes', {
      security: [{ session: [] }],
      response: {
        200: answer(ref('Session')),
        401: errorAnswer('No session, or it expired (`invalid_session`)'),
        ...unavailable,
      },
    }),
    async (req, reply) => {
      const { session } = await requireSession(req, users)
      return noStore(reply).send(sessionAnswer(session))
    },
  )
}
