import { num, numOrNull, strOrNull } from './rows.js'
import type { Row, SqlConnection } from './sql-connection.js'
import type {
  PasswordTokenRecord,
  Role,
  SessionRecord,
  SessionView,
  UserRecord,
  UserRoleRecord,
  UsersReads,
  UsersTx,
} from './store.js'

function toUser(r: Row): UserRecord {
  return {
    id: String(r.id),
    email: String(r.email),
    emailKey: String(r.email_key),
    passwordHash: strOrNull(r.password_hash),
    disabledAt: numOrNull(r.disabled_at),
    createdAt: num(r.created_at),
    updatedAt: num(r.updated_at),
  }
}

function toRole(r: Row): UserRoleRecord {
  return {
    userId: String(r.user_id),
    workspaceId: String(r.workspace_id),
    role: String(r.role) as Role,
    createdAt: num(r.created_at),
    updatedAt: num(r.updated_at),
  }
}

function toToken(r: Row): PasswordTokenRecord {
  return {
    tokenHash: String(r.token_hash),
    userId: String(r.user_id),
    createdAt: num(r.created_at),
    expiresAt: num(r.expires_at),
    usedAt: numOrNull(r.used_at),
  }
}

async function userByEmail(c: SqlConnection, emailKey: string): Promise<UserRecord | null> {
  const rows = await c.all(`SELECT * FROM users WHERE email_key = ?`, [emailKey])
  return rows[0] ? toUser(rows[0]) : null
}

export class SqlUsersTx implements UsersTx {
  constructor(private readonly c: SqlConnection) {}

  getUserByEmail(emailKey: string): Promise<UserRecord | null> {
    return userByEmail(this.c, emailKey)
  }

  async getUser(id: string): Promise<UserRecord | null> {
    const rows = await this.c.all(`SELECT * FROM users WHERE id = ?`, [id])
    return rows[0] ? toUser(rows[0]) : null
  }

  async insertUser(u: UserRecord): Promise<void> {
    await this.c.run(
      `INSERT INTO users (id, email, email_key, password_hash, disabled_at, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
      [u.id, u.email, u.emailKey, u.passwordHash, u.disabledAt, u.createdAt, u.updatedAt],
    )
  }

  async updateUser(u: UserRecord): Promise<void> {
    await this.c.run(
      `UPDATE users SET password_hash = ?, disabled_at = ?, updated_at = ? WHERE id = ?`,
      [u.passwordHash, u.disabledAt, u.updatedAt, u.id],
    )
  }

  async upsertRole(r: UserRoleRecord): Promise<void> {
    await this.c.run(
      `INSERT INTO user_roles (user_id, workspace_id, role, created_at, updated_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (user_id, workspace_id) DO UPDATE SET role = excluded.role, updated_at = excluded.updated_at`,
      [r.userId, r.workspaceId, r.role, r.createdAt, r.updatedAt],
    )
  }

  async deleteRole(userId: string, workspaceId: string): Promise<boolean> {
    const n = await this.c.run(`DELETE FROM user_roles WHERE user_id = ? AND workspace_id = ?`, [
      userId,
      workspaceId,
    ])
    return n > 0
  }

  async insertSession(s: SessionRecord): Promise<void> {
    await this.c.run(
      `INSERT INTO sessions (token_hash, user_id, workspace_id, csrf_token, created_at, last_seen_at)
       VALUES (?, ?, ?, ?, ?, ?)`,
      [s.tokenHash, s.userId, s.workspaceId, s.csrfToken, s.createdAt, s.lastSeenAt],
    )
  }

  async touchSession(tokenHash: string, at: number): Promise<void> {
    await this.c.run(
      `UPDATE sessions SET last_seen_at = ? WHERE token_hash = ? AND last_seen_at < ?`,
      [at, tokenHash, at],
    )
  }

  async deleteSession(tokenHash: string): Promise<void> {
    await this.c.run(`DELETE FROM sessions WHERE token_hash = ?`, [tokenHash])
  }

  deleteSessions(userId: string, workspaceId?: string): Promise<number> {
    return workspaceId === undefined
      ? this.c.run(`DELETE FROM sessions WHERE user_id = ?`, [userId])
      : this.c.run(`DELETE FROM sessions WHERE user_id = ? AND workspace_id = ?`, [
          userId,
          workspaceId,
        ])
  }

  deleteExpiredSessions(idleBefore: number, createdBefore: number): Promise<number> {
    return this.c.run(`DELETE FROM sessions WHERE last_seen_at < ? OR created_at < ?`, [
      idleBefore,
      createdBefore,
    ])
  }

  async insertPasswordToken(t: PasswordTokenRecord): Promise<void> {
    await this.c.run(
      `INSERT INTO password_tokens (token_hash, user_id, created_at, expires_at, used_at)
       VALUES (?, ?, ?, ?, ?)`,
      [t.tokenHash, t.userId, t.createdAt, t.expiresAt, t.usedAt],
    )
  }

  async getPasswordToken(tokenHash: string): Promise<PasswordTokenRecord | null> {
    const rows = await this.c.all(`SELECT * FROM password_tokens WHERE token_hash = ?`, [tokenHash])
    return rows[0] ? toToken(rows[0]) : null
  }

  async usePasswordTokens(userId: string, at: number): Promise<void> {
    await this.c.run(
      `UPDATE password_tokens SET used_at = ? WHERE user_id = ? AND used_at IS NULL`,
      [at, userId],
    )
  }
}

export class SqlUsersReads implements UsersReads {
  constructor(private readonly reader: () => SqlConnection) {}

  getUserByEmail(emailKey: string): Promise<UserRecord | null> {
    return userByEmail(this.reader(), emailKey)
  }

  async getUser(id: string): Promise<UserRecord | null> {
    const rows = await this.reader().all(`SELECT * FROM users WHERE id = ?`, [id])
    return rows[0] ? toUser(rows[0]) : null
  }

  async listUsers(): Promise<UserRecord[]> {
    return (await this.reader().all(`SELECT * FROM users ORDER BY email_key`)).map(toUser)
  }

  async listRoles(userId?: string): Promise<UserRoleRecord[]> {
    const rows =
      userId === undefined
        ? await this.reader().all(`SELECT * FROM user_roles ORDER BY workspace_id, user_id`)
        : await this.reader().all(
            `SELECT * FROM user_roles WHERE user_id = ? ORDER BY workspace_id`,
            [userId],
          )
    return rows.map(toRole)
  }

  async listWorkspaceUsers(workspaceId: string): Promise<(UserRecord & { role: Role })[]> {
    const rows = await this.reader().all(
      `SELECT u.*, r.role FROM users u JOIN user_roles r ON r.user_id = u.id
       WHERE r.workspace_id = ? ORDER BY u.email_key`,
      [workspaceId],
    )
    return rows.map((r) => ({ ...toUser(r), role: String(r.role) as Role }))
  }

  async getSession(tokenHash: string): Promise<SessionView | null> {
    const rows = await this.reader().all(
      `SELECT s.*, u.email, u.disabled_at, r.role FROM sessions s
       JOIN users u ON u.id = s.user_id
       LEFT JOIN user_roles r ON r.user_id = s.user_id AND r.workspace_id = s.workspace_id
       WHERE s.token_hash = ?`,
      [tokenHash],
    )
    const r = rows[0]
    if (!r) return null
    return {
      tokenHash: String(r.token_hash),
      userId: String(r.user_id),
      workspaceId: String(r.workspace_id),
      csrfToken: String(r.csrf_token),
      createdAt: num(r.created_at),
      lastSeenAt: num(r.last_seen_at),
      email: String(r.email),
      disabledAt: numOrNull(r.disabled_at),
      role: r.role === null || r.role === undefined ? null : (String(r.role) as Role),
    }
  }
}
