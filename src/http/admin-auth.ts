import { timingSafeEqual } from 'node:crypto'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { KeyService } from '../keys/key-service.js'
import { SegflowError } from '../shared/errors.js'
import type { Role } from '../store/store.js'
import { roleAllows } from '../users/user-service.js'
import type { ActiveSession, UserService } from '../users/user-service.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** The workspace of the admin key or session that authenticated this request. */
    workspaceId: string
    /** The id of that key; '' for a logged-in user. */
    apiKeyId: string
    /** Who acts, for the audit log: the admin key's id, or `user:<email>`. */
    actor: string
    /** The logged-in user's session; null for an admin key. */
    session: ActiveSession | null
  }
  interface FastifyContextConfig {
    /**
     * The least role a logged-in user needs for this route. Default: viewer for GET, editor
     * for anything else. Admin keys may do everything.
     */
    role?: Role
  }
}

/** The cookie a login sets. */
export const SESSION_COOKIE = 'segflow_session'
/** The header state-changing requests of a logged-in user must carry their csrf token in. */
export const CSRF_HEADER = 'x-csrf-token'

/** The value of one cookie of the request, or null. */
export function readCookie(req: FastifyRequest, name: string): string | null {
  const header = req.headers.cookie
  if (!header) return null
  for (const part of header.split(';')) {
    const eq = part.indexOf('=')
    if (eq < 0) continue
    if (part.slice(0, eq).trim() !== name) continue
    const value = part.slice(eq + 1).trim()
    try {
      return value === '' ? null : decodeURIComponent(value)
    } catch {
      return null
    }
  }
  return null
}

/** An admin key, or a logged-in user's session (with the csrf header on changes). */
export function adminSecurity(method: string): Record<string, string[]>[] {
  return [{ adminKey: [] }, isSafeMethod(method) ? { session: [] } : { session: [], csrf: [] }]
}

export const isSafeMethod = (method: string) =>
  method === 'GET' || method === 'HEAD' || method === 'OPTIONS'

/** Whether the request carries the session's csrf token (compared in constant time). */
export function csrfMatches(req: FastifyRequest, session: ActiveSession): boolean {
  const sent = req.headers[CSRF_HEADER]
  if (typeof sent !== 'string') return false
  const a = Buffer.from(sent, 'utf8')
  const b = Buffer.from(session.csrfToken, 'utf8')
  return a.length === b.length && timingSafeEqual(a, b)
}

/** The live session of the request's cookie, or a 401 saying why there is none. */
export async function requireSession(
  req: FastifyRequest,
  users: UserService,
): Promise<{ session: ActiveSession; token: string }> {
  const token = readCookie(req, SESSION_COOKIE)
  if (token === null)
    throw new SegflowError(
      'missing_key',
      `send an admin key as "Authorization: Bearer <key>", or log in (POST /auth/login) and send the ${SESSION_COOKIE} cookie`,
    )
  const session = await users.authenticate(token)
  if (session === 'expired')
    throw new SegflowError(
      'invalid_session',
      `your session has expired (sessions last ${users.describeLimits()}); log in again`,
    )
  if (session === null)
    throw new SegflowError(
      'invalid_session',
      'your session is not valid (logged out, or the user was disabled or removed); log in again',
    )
  return { session, token }
}

/**
 * Every route registered in `app` (an encapsulated context) needs an admin key as a Bearer
 * token, or a logged-in user's session cookie, and acts only on that key's or session's
 * workspace. With a cookie, a state-changing request must also carry the session's csrf
 * token in `x-csrf-token`, and the user's role must allow the route (see README, "Users and
 * sessions").
 */
export function requireAdmin(app: FastifyInstance, keys: KeyService, users: UserService): void {
  // What the hook below enforces, declared on every route of the context for /openapi.json.
  app.addHook('onRoute', (r) => {
    const method = [r.method].flat()[0] ?? 'GET'
    r.schema = { ...r.schema, security: r.schema?.security ?? adminSecurity(method) }
  })
  app.decorateRequest('workspaceId', '')
  app.decorateRequest('apiKeyId', '')
  app.decorateRequest('actor', '')
  app.decorateRequest('session', null)
  app.addHook('onRequest', async (req: FastifyRequest) => {
    const auth = req.headers.authorization
    if (auth !== undefined) {
      const match = /^bearer\s+(\S+)\s*$/i.exec(auth)
      if (!match)
        throw new SegflowError('missing_key', 'send an admin key as "Authorization: Bearer <key>"')
      const key = await keys.require(match[1]!, 'admin')
      req.workspaceId = key.workspaceId
      req.apiKeyId = key.id
      req.actor = key.id
      return
    }
    const { session } = await requireSession(req, users)
    // Before the role: a forged cross-site request learns nothing, not even the role.
    if (!isSafeMethod(req.method) && !csrfMatches(req, session))
      throw new SegflowError(
        'csrf_failed',
        `send the session's csrf token (from POST /auth/login or GET /auth/session) in the ${CSRF_HEADER} header`,
      )
    const needed = req.routeOptions.config?.role ?? (isSafeMethod(req.method) ? 'viewer' : 'editor')
    if (!roleAllows(session.role, needed))
      throw new SegflowError(
        'forbidden',
        session.role === 'viewer' && needed === 'editor'
          ? `a viewer cannot change anything; ${req.method} ${req.routeOptions.url ?? req.url} needs the editor or admin role`
          : `${req.method} ${req.routeOptions.url ?? req.url} needs the ${needed} role; you are ${/^[aeiou]/.test(session.role) ? 'an' : 'a'} ${session.role} in workspace ${session.workspaceId}`,
      )
    req.workspaceId = session.workspaceId
    req.actor = `user:${session.email}`
    req.session = session
  })
}
