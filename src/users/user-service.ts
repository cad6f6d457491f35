import { createHash, randomBytes } from 'node:crypto'
import { RateLimiter } from '../keys/rate-limit.js'
import type { AuditLog } from '../privacy/audit.js'
import type { Clock } from '../shared/clock.js'
import { issuesError, SegflowError } from '../shared/errors.js'
import { newId } from '../shared/ids.js'
import { closestName } from '../shared/suggest.js'
import { formatDuration } from '../shared/time.js'
import type { Role, SessionView, Store, UserRecord } from '../store/store.js'
import { dummyHash, hashPassword, passwordProblem, verifyPassword } from './password.js'

export const ROLES: readonly Role[] = ['viewer', 'editor', 'admin']

const RANK: Record<Role, number> = { viewer: 0, editor: 1, admin: 2 }

/** Whether `role` may do what `needed` may. */
export function roleAllows(role: Role, needed: Role): boolean {
  return RANK[role] >= RANK[needed]
}

export interface UserServiceOptions {
  /** Where people reach segflow: set-password links start with it (SEGFLOW_PUBLIC_URL). */
  readonly publicUrl: string
  /** A session unused this long ends (SEGFLOW_SESSION_IDLE). Default 2 h. */
  readonly sessionIdleMs?: number
  /** A session ends this long after login, used or not (SEGFLOW_SESSION_MAX). Default 7 d. */
  readonly sessionMaxMs?: number
  /** How long a set-password link works. Default 24 h. */
  readonly linkTtlMs?: number
  /** Login attempts a minute per email address (default 5) and per client address (default 20). */
  readonly loginLimits?: { readonly perEmail: number; readonly perIp: number }
  /** Where logins and user changes are recorded; none: not recorded. */
  readonly audit?: Pick<AuditLog, 'record'>
}

/** A user as the API and the command line show them. */
export interface UserView {
  readonly email: string
  readonly role?: Role
  /** Whether they have set a password (until then only their link lets them in). */
  readonly passwordSet: boolean
  readonly disabled: boolean
  readonly createdAt: string
}

export interface Invited {
  readonly user: UserView
  /** Whether the user was made now (false: they existed and got a role here). */
  readonly created: boolean
  /** A one-time set-password link, when the user has no password yet. */
  readonly link: { readonly url: string; readonly expiresAt: string } | null
}

/** A logged-in session as the HTTP layer sees it. */
export interface ActiveSession {
  readonly userId: string
  readonly email: string
  readonly workspaceId: string
  readonly role: Role
  readonly csrfToken: string
  readonly createdAt: number
}

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex')
const token = (bytes: number) => randomBytes(bytes).toString('base64url')
const iso = (ms: number) => new Date(ms).toISOString()

/** Email as given (trimmed) and the lower-cased form that makes it unique; throws when not one. */
export function normalizeEmail(raw: unknown, field = 'email'): { email: string; key: string } {
  const email = typeof raw === 'string' ? raw.trim() : ''
  if (email.length > 254 || !/^[^\s@]+@[^\s@]+\.[^\s@.]+$/.test(email))
    throw issuesError('invalid_request', `${field} must be an email address like ann@example.com`, [
      { path: field, message: 'must be an email address like ann@example.com' },
    ])
  return { email, key: email.toLowerCase() }
}

/** `raw` as a role, or a 400 naming the field and the roles there are. */
export function parseRole(raw: unknown, field = 'role'): Role {
  if (typeof raw === 'string' && (ROLES as readonly string[]).includes(raw)) return raw as Role
  const hint = typeof raw === 'string' ? closestName(raw, ROLES) : null
  const message = `must be one of ${ROLES.join(', ')}${hint ? ` (did you mean ${hint}?)` : ''}`
  throw issuesError('invalid_request', `${field} ${message}`, [{ path: field, message }])
}

function view(u: UserRecord, role?: Role): UserView {
  return {
    email: u.email,
    ...(role ? { role } : {}),
    passwordSet: u.passwordHash !== null,
    disabled: u.disabledAt !== null,
    createdAt: iso(u.createdAt),
  }
}

/**
 * People who log in: users (global, unique by email), their role in each workspace, one-time
 * set-password links, password login and sessions with idle and absolute expiry. Only hashes
 * of session tokens and link tokens are stored; passwords are hashed with scrypt.
 */
export class UserService {
  readonly idleMs: number
  readonly maxMs: number
  private readonly linkTtl: number
  private readonly perEmail: RateLimiter
  private readonly perIp: RateLimiter

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly options: UserServiceOptions,
  ) {
    this.idleMs = options.sessionIdleMs ?? 2 * 3_600_000
    this.maxMs = options.sessionMaxMs ?? 7 * 86_400_000
    this.linkTtl = options.linkTtlMs ?? 86_400_000
    const limits = options.loginLimits ?? { perEmail: 5, perIp: 20 }
    this.perEmail = new RateLimiter(limits.perEmail / 60, clock, { burst: limits.perEmail })
    this.perIp = new RateLimiter(limits.perIp / 60, clock, { burst: limits.perIp })
  }

  private async requireWorkspace(workspaceId: string): Promise<void> {
    if (!(await this.store.getWorkspace(workspaceId)))
      throw new SegflowError(
        'workspace_not_found',
        `workspace ${JSON.stringify(workspaceId)} does not exist`,
      )
  }

  private async requireUser(rawEmail: string): Promise<UserRecord> {
    const { email, key } = normalizeEmail(rawEmail)
    const user = await this.store.users.getUserByEmail(key)
    if (!user) throw new SegflowError('user_not_found', `no user ${JSON.stringify(email)}`)
    return user
  }

  /** A new set-password link for the user (the earlier ones stop working). */
  private async issueLink(
    userId: string,
    tx: Parameters<Parameters<Store['write']>[0]>[0],
  ): Promise<{ url: string; expiresAt: string }> {
    const now = this.clock.now()
    const secret = token(32)
    await tx.users.usePasswordTokens(userId, now)
    await tx.users.insertPasswordToken({
      tokenHash: sha256(secret),
      userId,
      createdAt: now,
      expiresAt: now + this.linkTtl,
      usedAt: null,
    })
    return {
      url: `${this.options.publicUrl}/set-password?token=${secret}`,
      expiresAt: iso(now + this.linkTtl),
    }
  }

  /**
   * Gives `email` the role in the workspace, making the user when there is none (with a
   * set-password link, as also for a user who never set a password).
   */
  async invite(input: {
    email: string
    workspaceId: string
    role: Role
    actor: string
    /** Refuse a user who already exists (the command line's `users create`). */
    mustBeNew?: boolean
  }): Promise<Invited> {
    const { email, key } = normalizeEmail(input.email)
    await this.requireWorkspace(input.workspaceId)
    const now = this.clock.now()
    const out = await this.store.write(async (tx) => {
      let user = await tx.users.getUserByEmail(key)
      const created = user === null
      if (user && input.mustBeNew)
        throw new SegflowError(
          'user_exists',
          `user ${user.email} already exists; change their role with \`segflow users role\`, or send a new link with \`segflow users link\``,
        )
      if (!user) {
        user = {
          id: newId('usr', now),
          email,
          emailKey: key,
          passwordHash: null,
          disabledAt: null,
          createdAt: now,
          updatedAt: now,
        }
        await tx.users.insertUser(user)
      }
      await tx.users.upsertRole({
        userId: user.id,
        workspaceId: input.workspaceId,
        role: input.role,
        createdAt: now,
        updatedAt: now,
      })
      // A link sets the password for every workspace of the user: one workspace's admin gets
      // one only for a user no other workspace has (the command line may always make one).
      const elsewhere = (await this.store.users.listRoles(user.id)).some(
        (r) => r.workspaceId !== input.workspaceId,
      )
      const link =
        user.passwordHash === null && (!elsewhere || input.actor === 'cli')
          ? await this.issueLink(user.id, tx)
          : null
      return { user: view(user, input.role), created, link }
    })
    await this.record(input.workspaceId, input.actor, `user.invite ${input.role}`, email)
    return out
  }

  /** A fresh set-password link (a forgotten password); earlier links stop working. */
  async link(rawEmail: string): Promise<{ url: string; expiresAt: string }> {
    const user = await this.requireUser(rawEmail)
    return this.store.write((tx) => this.issueLink(user.id, tx))
  }

  /** Sets the user's role in a workspace (granting one when they had none there). */
  async setRole(input: {
    email: string
    workspaceId: string
    role: Role
    actor: string
    /** Only change a role the user already has there (the API). */
    existingOnly?: boolean
  }): Promise<UserView> {
    const user = await this.requireUser(input.email)
    await this.requireWorkspace(input.workspaceId)
    if (input.existingOnly) await this.requireMember(user, input.workspaceId)
    const now = this.clock.now()
    await this.store.write((tx) =>
      tx.users.upsertRole({
        userId: user.id,
        workspaceId: input.workspaceId,
        role: input.role,
        createdAt: now,
        updatedAt: now,
      }),
    )
    await this.record(input.workspaceId, input.actor, `user.role ${input.role}`, user.email)
    return view(user, input.role)
  }

  private async requireMember(user: UserRecord, workspaceId: string): Promise<Role> {
    const role = (await this.store.users.listRoles(user.id)).find(
      (r) => r.workspaceId === workspaceId,
    )?.role
    if (!role)
      throw new SegflowError('user_not_found', `no user ${JSON.stringify(user.email)} here`)
    return role
  }

  /** Takes the user's role in the workspace away and ends their sessions there. */
  async remove(rawEmail: string, workspaceId: string, actor: string): Promise<void> {
    const user = await this.requireUser(rawEmail)
    const removed = await this.store.write(async (tx) => {
      const had = await tx.users.deleteRole(user.id, workspaceId)
      await tx.users.deleteSessions(user.id, workspaceId)
      return had
    })
    if (!removed)
      throw new SegflowError('user_not_found', `no user ${JSON.stringify(user.email)} here`)
    await this.record(workspaceId, actor, 'user.remove', user.email)
  }

  /** Disables (or enables again) a user everywhere; disabling ends every session at once. */
  async setDisabled(rawEmail: string, disabled: boolean): Promise<UserView> {
    const user = await this.requireUser(rawEmail)
    const now = this.clock.now()
    const next: UserRecord = {
      ...user,
      disabledAt: disabled ? (user.disabledAt ?? now) : null,
      updatedAt: now,
    }
    await this.store.write(async (tx) => {
      await tx.users.updateUser(next)
      if (disabled) await tx.users.deleteSessions(user.id)
    })
    for (const r of await this.store.users.listRoles(user.id))
      await this.record(r.workspaceId, 'cli', disabled ? 'user.disable' : 'user.enable', user.email)
    return view(next)
  }

  /** One user as seen from a workspace (404 when they have no role there). */
  async get(rawEmail: string, workspaceId: string): Promise<UserView> {
    const user = await this.requireUser(rawEmail)
    return view(user, await this.requireMember(user, workspaceId))
  }

  /** The users of a workspace with their roles. */
  async listWorkspace(workspaceId: string): Promise<UserView[]> {
    return (await this.store.users.listWorkspaceUsers(workspaceId)).map((u) => view(u, u.role))
  }

  /** Every user with their roles by workspace (the command line). */
  async listAll(): Promise<(UserView & { roles: Record<string, Role> })[]> {
    const roles = await this.store.users.listRoles()
    return (await this.store.users.listUsers()).map((u) => ({
      ...view(u),
      roles: Object.fromEntries(
        roles.filter((r) => r.userId === u.id).map((r) => [r.workspaceId, r.role]),
      ),
    }))
  }

  /**
   * Sets the password of the link's user; the link (and any other of theirs) is then used up
   * and their sessions end. 400 naming `password` or `token` when either will not do.
   */
  async setPassword(body: unknown): Promise<{ email: string }> {
    const b = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>
    const issues = []
    if (typeof b.token !== 'string' || b.token === '')
      issues.push({ path: 'token', message: 'is required: the token of the set-password link' })
    const problem = passwordProblem(b.password)
    if (problem) issues.push({ path: 'password', message: problem })
    if (issues.length > 0)
      throw issuesError(
        'invalid_request',
        issues.map((i) => `${i.path} ${i.message}`).join('; '),
        issues,
      )
    const secret = b.token as string
    const hash = await hashPassword(b.password as string)
    const now = this.clock.now()
    const user = await this.store.write(async (tx) => {
      const t = await tx.users.getPasswordToken(sha256(secret))
      const why =
        t === null
          ? 'it is not a link segflow made'
          : t.usedAt !== null
            ? 'it was already used (or a newer link was made)'
            : t.expiresAt <= now
              ? `it expired at ${iso(t.expiresAt)}`
              : null
      if (why !== null || t === null)
        throw issuesError(
          'invalid_token',
          `this set-password link does not work: ${why}; ask an admin for a new one`,
          [{ path: 'token', message: why ?? 'unknown' }],
        )
      const u = await tx.users.getUser(t.userId)
      if (!u) throw new SegflowError('invalid_token', 'the user of this link no longer exists')
      await tx.users.updateUser({ ...u, passwordHash: hash, updatedAt: now })
      await tx.users.usePasswordTokens(u.id, now)
      await tx.users.deleteSessions(u.id)
      return u
    })
    for (const r of await this.store.users.listRoles(user.id))
      await this.record(r.workspaceId, `user:${user.email}`, 'user.set_password', user.email)
    return { email: user.email }
  }

  /**
   * Checks an email and password and opens a session in a workspace where the user has a
   * role. An unknown email and a wrong password get the same answer, in the same time.
   */
  async login(
    body: unknown,
    ip: string,
  ): Promise<{ token: string; session: ActiveSession; workspaces: string[] }> {
    const b = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>
    const issues = []
    if (typeof b.email !== 'string' || b.email.trim() === '')
      issues.push({ path: 'email', message: 'is required' })
    if (typeof b.password !== 'string' || b.password === '')
      issues.push({ path: 'password', message: 'is required' })
    if (b.workspace !== undefined && typeof b.workspace !== 'string')
      issues.push({ path: 'workspace', message: 'must be a workspace id (a string)' })
    if (issues.length > 0)
      throw issuesError(
        'invalid_request',
        issues.map((i) => `${i.path} ${i.message}`).join('; '),
        issues,
      )
    const key = (b.email as string).trim().toLowerCase()
    const wait = (w: number) => `too many login attempts; retry after ${w} s`
    this.perIp.take(`ip:${ip}`, 'login', wait)
    this.perEmail.take(`email:${key}`, 'login', wait)
    const user = await this.store.users.getUserByEmail(key)
    const matches = await verifyPassword(
      b.password as string,
      user?.passwordHash ?? (await dummyHash()),
    )
    if (!user || user.passwordHash === null || !matches)
      throw new SegflowError('invalid_credentials', 'the email or the password is wrong')
    if (user.disabledAt !== null)
      throw new SegflowError('forbidden', 'this user is disabled; ask an admin')
    const roles = await this.store.users.listRoles(user.id)
    const workspaces = roles.map((r) => r.workspaceId)
    let role = roles[0]
    if (typeof b.workspace === 'string') {
      role = roles.find((r) => r.workspaceId === b.workspace)
      if (!role)
        throw new SegflowError(
          'forbidden',
          `you have no role in workspace ${JSON.stringify(b.workspace)}; yours: ${workspaces.join(', ') || 'none'}`,
        )
    } else if (roles.length > 1) {
      throw issuesError(
        'invalid_request',
        `you are in several workspaces; choose one with "workspace": ${workspaces.join(', ')}`,
        [{ path: 'workspace', message: `one of ${workspaces.join(', ')}` }],
      )
    }
    if (!role) throw new SegflowError('forbidden', 'you have no role in any workspace yet')
    const now = this.clock.now()
    const secret = token(32)
    const csrfToken = token(24)
    await this.store.write(async (tx) => {
      await tx.users.deleteExpiredSessions(now - this.idleMs, now - this.maxMs)
      await tx.users.insertSession({
        tokenHash: sha256(secret),
        userId: user.id,
        workspaceId: role.workspaceId,
        csrfToken,
        createdAt: now,
        lastSeenAt: now,
      })
    })
    await this.record(role.workspaceId, `user:${user.email}`, 'user.login', user.email)
    return {
      token: secret,
      session: {
        userId: user.id,
        email: user.email,
        workspaceId: role.workspaceId,
        role: role.role,
        csrfToken,
        createdAt: now,
      },
      workspaces,
    }
  }

  /**
   * The live session of a cookie's token: null when there is none, `expired` when it ran out
   * (idle or absolute; it is then deleted). A disabled user or one whose role in the
   * workspace was taken away has no session.
   */
  async authenticate(secret: string): Promise<ActiveSession | 'expired' | null> {
    const hash = sha256(secret)
    const s: SessionView | null = await this.store.users.getSession(hash)
    if (!s) return null
    const now = this.clock.now()
    if (now - s.lastSeenAt >= this.idleMs || now - s.createdAt >= this.maxMs) {
      await this.store.write((tx) => tx.users.deleteSession(hash))
      return 'expired'
    }
    if (s.disabledAt !== null || s.role === null) return null
    // Written at most once a minute (or a tenth of the idle time): not one write per request.
    if (now - s.lastSeenAt >= Math.min(60_000, this.idleMs / 10))
      await this.store.write((tx) => tx.users.touchSession(hash, now))
    return {
      userId: s.userId,
      email: s.email,
      workspaceId: s.workspaceId,
      role: s.role,
      csrfToken: s.csrfToken,
      createdAt: s.createdAt,
    }
  }

  /** Ends the session of this token (nothing when there is none). */
  async logout(secret: string, actor?: ActiveSession): Promise<void> {
    await this.store.write((tx) => tx.users.deleteSession(sha256(secret)))
    if (actor) await this.record(actor.workspaceId, `user:${actor.email}`, 'user.logout', null)
  }

  /** How the session limits read, for messages: `2h idle, 7d in all`. */
  describeLimits(): string {
    return `${formatDuration(this.idleMs)} idle, ${formatDuration(this.maxMs)} in all`
  }

  private async record(
    workspaceId: string,
    actor: string,
    action: string,
    target: string | null,
  ): Promise<void> {
    await this.options.audit?.record({ workspaceId, actor, action, target, status: 0 })
  }
}
