import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { SegflowError } from '../shared/errors.js'
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

/**
 * `/auth/*`: set a password from a one-time link, log in and out, and who am I. The session
 * lives in an HttpOnly, SameSite=Strict cookie (Secure under HTTPS); the csrf token answered
 * here goes in `x-csrf-token` on every state-changing request.
 */
export async function authRoutes(app: FastifyInstance, opts: AuthRouteOptions): Promise<void> {
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
  const answer = (s: ActiveSession) => ({
    user: { email: s.email },
    workspace: s.workspaceId,
    role: s.role,
    csrfToken: s.csrfToken,
    expiresAt: new Date(s.createdAt + users.maxMs).toISOString(),
  })
  const noStore = (reply: FastifyReply) => reply.header('cache-control', 'no-store')

  app.post('/auth/set-password', { bodyLimit: BODY_LIMIT }, async (req, reply) => {
    const out = await users.setPassword(req.body)
    return noStore(reply).send({ user: { email: out.email } })
  })

  app.post('/auth/login', { bodyLimit: BODY_LIMIT }, async (req, reply) => {
    const { token, session, workspaces } = await users.login(req.body, req.ip)
    return noStore(reply)
      .header('set-cookie', cookie(req, token, Math.floor(users.maxMs / 1000)))
      .send({ ...answer(session), workspaces })
  })

  app.post('/auth/logout', { bodyLimit: BODY_LIMIT }, async (req, reply) => {
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
  })

  app.get('/auth/session', async (req, reply) => {
    const { session } = await requireSession(req, users)
    return noStore(reply).send(answer(session))
  })
}
