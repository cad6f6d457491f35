import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { InjectOptions, LightMyRequestResponse } from 'fastify'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { loadConfig } from '../src/cli/config.js'
import { buildApp } from '../src/http/app.js'
import { ManualClock } from '../src/shared/clock.js'
import { UserService } from '../src/users/user-service.js'
import { verifyPassword, hashPassword } from '../src/users/password.js'
import { cli } from './helpers/cli.js'
import { newTestApp } from './helpers/runtime.js'
import type { TestApp } from './helpers/runtime.js'
import { newCreatedLocation, newStoreLocation, testStoreKinds } from './helpers/stores.js'
import type { StoreLocation } from './helpers/stores.js'

const NOW = Date.parse('2026-06-01T12:00:00Z')
const PASSWORD = 'correct horse battery'
const MINUTE = 60_000
const HOUR = 3_600_000

interface Login {
  readonly cookie: string
  readonly csrf: string
  readonly res: LightMyRequestResponse
}

describe.each(testStoreKinds())('users and sessions on %s', (kind) => {
  let t: TestApp
  let clock: ManualClock

  beforeEach(async () => {
    clock = new ManualClock(NOW)
    t = await newTestApp(kind, { clock })
  })
  afterEach(async () => {
    await t.close()
  })

  const post = (url: string, payload: unknown, headers: Record<string, string> = {}) =>
    t.app.inject({
      method: 'POST',
      url,
      headers: { 'content-type': 'application/json', ...headers },
      payload: JSON.stringify(payload),
    })

  /** Invites through the admin API (as an admin key) and returns the link's token. */
  const invite = async (email: string, role: string) => {
    const res = await t.admin('PUT', `/api/users/${email}`, { role })
    expect(res.statusCode, res.body).toBe(201)
    const url = new URL(res.json().setPasswordUrl)
    expect(url.pathname).toBe('/set-password')
    return url.searchParams.get('token')!
  }

  const user = async (email: string, role: string) => {
    const token = await invite(email, role)
    const res = await post('/auth/set-password', { token, password: PASSWORD })
    expect(res.statusCode, res.body).toBe(200)
  }

  const login = async (email: string, password = PASSWORD, extra = {}): Promise<Login> => {
    const res = await post('/auth/login', { email, password, ...extra })
    expect(res.statusCode, res.body).toBe(200)
    const setCookie = String(res.headers['set-cookie'])
    return { cookie: setCookie.split(';')[0]!, csrf: res.json().csrfToken, res }
  }

  const as = (
    s: Pick<Login, 'cookie'> & { csrf?: string },
    method: InjectOptions['method'],
    url: string,
    payload?: unknown,
  ) =>
    t.app.inject({
      method,
      url,
      headers: {
        cookie: s.cookie,
        ...(s.csrf === undefined ? {} : { 'x-csrf-token': s.csrf }),
        ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(payload === undefined ? {} : { payload: JSON.stringify(payload) }),
    })

  it('sets a password from the one-time link, which then works no more; short passwords and stale links get clear 400s', async () => {
    const token = await invite('Ann@Example.com', 'editor')
    const listed = (await t.admin('GET', '/api/users')).json().items
    expect(listed).toEqual([
      expect.objectContaining({ email: 'Ann@Example.com', role: 'editor', passwordSet: false }),
    ])
    // Only a hash of the link's token is stored.
    expect(
      JSON.stringify(await t.rt.store.query('SELECT * FROM password_tokens', [])),
    ).not.toContain(token)

    const short = await post('/auth/set-password', { token, password: 'short' })
    expect(short.statusCode).toBe(400)
    expect(short.json().error.issues).toEqual([
      { field: 'password', reason: 'must be at least 12 characters long (it has 5)' },
    ])
    const missing = await post('/auth/set-password', { password: PASSWORD })
    expect(missing.statusCode).toBe(400)
    expect(missing.json().error.issues[0].field).toBe('token')
    const unknown = await post('/auth/set-password', { token: 'nope', password: PASSWORD })
    expect(unknown.statusCode).toBe(400)
    expect(unknown.json().error.code).toBe('invalid_token')

    const ok = await post('/auth/set-password', { token, password: PASSWORD })
    expect(ok.statusCode, ok.body).toBe(200)
    expect(ok.json()).toEqual({ user: { email: 'Ann@Example.com' } })
    const again = await post('/auth/set-password', { token, password: 'another long password' })
    expect(again.statusCode).toBe(400)
    expect(again.json().error.message).toMatch(/already used/)

    // The stored hash is scrypt with its parameters, and the password verifies against it.
    const [row] = await t.rt.store.query('SELECT password_hash FROM users', [])
    const stored = String(row!.password_hash)
    expect(stored).toMatch(/^scrypt\$N=32768,r=8,p=1\$[\w-]{22}\$[\w-]{43}$/)
    expect(await verifyPassword(PASSWORD, stored)).toBe(true)
    expect(await verifyPassword('correct horse batterY', stored)).toBe(false)
    // A random salt each time.
    expect(await hashPassword(PASSWORD)).not.toBe(await hashPassword(PASSWORD))

    // A link works for 24 hours.
    const late = await invite('bob@example.com', 'viewer')
    clock.advance(24 * HOUR)
    const expired = await post('/auth/set-password', { token: late, password: PASSWORD })
    expect(expired.statusCode).toBe(400)
    expect(expired.json().error.message).toMatch(/expired at 2026-06-02T12:00:00.000Z/)
  })

  it('logs in with a HttpOnly SameSite=Strict cookie (not Secure over plain HTTP), tells who is logged in, and logs out', async () => {
    await user('ann@example.com', 'editor')
    // Emails are matched case-insensitively.
    const s = await login('ANN@example.com')
    expect(s.res.json()).toMatchObject({
      user: { email: 'ann@example.com' },
      workspace: 'default',
      role: 'editor',
      csrfToken: s.csrf,
      expiresAt: '2026-06-08T12:00:00.000Z',
    })
    expect(s.csrf).toMatch(/^[\w-]{32}$/)
    const attrs = String(s.res.headers['set-cookie']).split('; ')
    expect(attrs[0]).toMatch(/^segflow_session=[\w-]{43}$/)
    expect(attrs.slice(1).sort()).toEqual(
      ['HttpOnly', 'Max-Age=604800', 'Path=/', 'SameSite=Strict'].sort(),
    )
    // Only a hash of the session token is stored.
    const token = attrs[0]!.split('=')[1]!
    const sessions = await t.rt.store.query('SELECT * FROM sessions', [])
    expect(sessions).toHaveLength(1)
    expect(JSON.stringify(sessions)).not.toContain(token)

    const me = await as(s, 'GET', '/auth/session')
    expect(me.statusCode).toBe(200)
    expect(me.json()).toMatchObject({ user: { email: 'ann@example.com' }, csrfToken: s.csrf })
    expect((await as(s, 'GET', '/api/segments')).statusCode).toBe(200)

    // Logging out is a change too: it needs the csrf token.
    const forged = await as({ cookie: s.cookie }, 'POST', '/auth/logout')
    expect(forged.statusCode).toBe(403)
    expect(forged.json().error.code).toBe('csrf_failed')
    const out = await as(s, 'POST', '/auth/logout')
    expect(out.statusCode).toBe(204)
    expect(String(out.headers['set-cookie'])).toMatch(/^segflow_session=; .*Max-Age=0/)
    const after = await as(s, 'GET', '/api/segments')
    expect(after.statusCode).toBe(401)
    expect(after.json().error.code).toBe('invalid_session')
    expect((await as(s, 'GET', '/auth/session')).statusCode).toBe(401)
    expect(await t.rt.store.query('SELECT * FROM sessions', [])).toHaveLength(0)
    // No cookie at all: the admin API says how to authenticate.
    const none = await t.app.inject({ method: 'GET', url: '/api/segments' })
    expect(none.statusCode).toBe(401)
    expect(none.json().error.message).toMatch(/Bearer.*POST \/auth\/login/)
  })

  it('answers an unknown email and a wrong password alike', async () => {
    await user('ann@example.com', 'editor')
    const wrong = await post('/auth/login', {
      email: 'ann@example.com',
      password: 'not the password',
    })
    const unknown = await post('/auth/login', {
      email: 'zed@example.com',
      password: 'not the password',
    })
    expect(wrong.statusCode).toBe(401)
    expect(unknown.statusCode).toBe(401)
    expect(wrong.body).toBe(unknown.body)
    expect(wrong.json().error.code).toBe('invalid_credentials')
    expect(wrong.headers['set-cookie']).toBeUndefined()
    // A user who never set a password cannot log in with any.
    await invite('new@example.com', 'viewer')
    const noPassword = await post('/auth/login', { email: 'new@example.com', password: 'x' })
    expect(noPassword.body).toBe(unknown.body)
    const bad = await post('/auth/login', { email: 3 })
    expect(bad.statusCode).toBe(400)
    expect(bad.json().error.issues.map((i: { field: string }) => i.field)).toEqual([
      'email',
      'password',
    ])
  })

  it('limits logins to 5 a minute per email and 20 per client address (429 with Retry-After)', async () => {
    await user('ann@example.com', 'editor')
    for (let i = 0; i < 5; i++) {
      const res = await post('/auth/login', { email: 'ann@example.com', password: `wrong ${i}` })
      expect(res.statusCode).toBe(401)
    }
    // Even the right password is refused while over the limit (another spelling is the same email).
    const limited = await post('/auth/login', { email: 'Ann@Example.com', password: PASSWORD })
    expect(limited.statusCode).toBe(429)
    expect(limited.json().error.code).toBe('rate_limited')
    expect(limited.headers['retry-after']).toBe('12')
    clock.advance(12_000)
    await login('ann@example.com')

    // Per client address: many emails from one address; another address is not held back.
    const from = (remoteAddress: string, email: string) =>
      t.app.inject({
        method: 'POST',
        url: '/auth/login',
        remoteAddress,
        payload: { email, password: 'whatever' },
      })
    for (let i = 0; i < 20; i++)
      expect((await from('10.0.0.9', `u${i}@example.com`)).statusCode, `attempt ${i}`).toBe(401)
    const fromIp = await from('10.0.0.9', 'other@example.com')
    expect(fromIp.statusCode).toBe(429)
    expect(fromIp.headers['retry-after']).toBe('3')
    expect((await from('10.0.0.10', 'other@example.com')).statusCode).toBe(401)
  })

  it('refuses state-changing requests of a session without its csrf token, or with a wrong one', async () => {
    await user('ann@example.com', 'editor')
    const s = await login('ann@example.com')
    const rule = { rule: { trait: 'plan', eq: 'pro' } }
    for (const csrf of [undefined, 'wrong', `${s.csrf}x`]) {
      const res = await as(
        { cookie: s.cookie, ...(csrf ? { csrf } : {}) },
        'PUT',
        '/api/segments/pro',
        rule,
      )
      expect(res.statusCode, String(csrf)).toBe(403)
      expect(res.json().error.code).toBe('csrf_failed')
      expect(res.json().error.message).toMatch(/x-csrf-token/)
    }
    expect((await t.admin('GET', '/api/segments/pro')).statusCode).toBe(404)
    // Another session's token will not do either.
    await user('bob@example.com', 'editor')
    const bob = await login('bob@example.com')
    expect(
      (await as({ cookie: s.cookie, csrf: bob.csrf }, 'PUT', '/api/segments/pro', rule)).statusCode,
    ).toBe(403)
    const ok = await as(s, 'PUT', '/api/segments/pro', rule)
    expect(ok.statusCode, ok.body).toBe(201)
    // Reads need none; the admin key needs none.
    expect((await as({ cookie: s.cookie }, 'GET', '/api/segments/pro')).statusCode).toBe(200)
    expect((await t.admin('DELETE', '/api/segments/pro')).statusCode).toBe(200)
  })

  it('lets a viewer read but refuses every change in the API, naming the role', async () => {
    await user('vic@example.com', 'viewer')
    const v = await login('vic@example.com')
    expect((await as(v, 'GET', '/api/segments')).statusCode).toBe(200)
    expect((await as(v, 'GET', '/api/audit')).statusCode).toBe(200)
    for (const [method, url, body] of [
      ['PUT', '/api/segments/pro', { rule: { trait: 'plan', eq: 'pro' } }],
      ['POST', '/api/segments/preview', { rule: { trait: 'plan', eq: 'pro' } }],
      ['PUT', '/api/templates/welcome', { subject: 'Hi', html: '<p>Hi</p>' }],
      ['DELETE', '/api/lifecycle', undefined],
      ['POST', '/api/profiles/ann', { traits: { plan: 'x' } }],
    ] as const) {
      const res = await as(v, method, url, body)
      expect(res.statusCode, `${method} ${url}`).toBe(403)
      expect(res.json().error.code).toBe('forbidden')
      expect(res.json().error.message).toMatch(/a viewer cannot change anything/)
    }
    expect((await t.admin('GET', '/api/segments/pro')).statusCode).toBe(404)
    expect((await t.admin('GET', '/api/templates/welcome')).statusCode).toBe(404)
    // A role change applies to the session at once.
    expect(
      (await t.admin('PUT', '/api/users/vic@example.com', { role: 'editor' })).statusCode,
    ).toBe(200)
    expect(
      (await as(v, 'PUT', '/api/segments/pro', { rule: { trait: 'plan', eq: 'pro' } })).statusCode,
    ).toBe(201)
  })

  it('keeps users, privacy requests and the data schema to admins; an admin user manages users', async () => {
    await user('ed@example.com', 'editor')
    const e = await login('ed@example.com')
    for (const [method, url, body] of [
      ['GET', '/api/users', undefined],
      ['GET', '/api/users/ed@example.com', undefined],
      ['PUT', '/api/users/eve@example.com', { role: 'admin' }],
      ['DELETE', '/api/users/ed@example.com', undefined],
      ['POST', '/api/privacy/requests', { type: 'erasure', profile: 'ann' }],
      ['PUT', '/api/schema', { traits: {} }],
    ] as const) {
      const res = await as(e, method, url, body)
      expect(res.statusCode, `${method} ${url}: ${res.body}`).toBe(403)
      expect(res.json().error.message).toMatch(/needs the admin role; you are an editor/)
    }
    expect((await t.admin('GET', '/api/users/eve@example.com')).statusCode).toBe(404)

    await user('ada@example.com', 'admin')
    const a = await login('ada@example.com')
    const listed = await as(a, 'GET', '/api/users')
    expect(listed.statusCode).toBe(200)
    expect(
      listed.json().items.map((u: { email: string; role: string }) => `${u.email} ${u.role}`),
    ).toEqual(['ada@example.com admin', 'ed@example.com editor'])
    const invited = await as(a, 'PUT', '/api/users/eve@example.com', { role: 'viewer' })
    expect(invited.statusCode, invited.body).toBe(201)
    expect(invited.json().setPasswordUrl).toMatch(
      /^http:\/\/127\.0\.0\.1:8787\/set-password\?token=[\w-]{43}$/,
    )
    const badRole = await as(a, 'PUT', '/api/users/eve@example.com', { role: 'editr' })
    expect(badRole.statusCode).toBe(400)
    expect(badRole.json().error.message).toBe(
      'role must be one of viewer, editor, admin (did you mean editor?)',
    )
    const badEmail = await as(a, 'PUT', '/api/users/not-an-email', { role: 'viewer' })
    expect(badEmail.statusCode).toBe(400)
    expect(badEmail.json().error.issues[0].field).toBe('email')
    // Removing a user ends their sessions here.
    expect((await as(a, 'DELETE', '/api/users/ed@example.com')).statusCode).toBe(204)
    expect((await as(e, 'GET', '/api/segments')).statusCode).toBe(401)
    expect((await as(a, 'DELETE', '/api/users/ed@example.com')).statusCode).toBe(404)
  })

  it('ends a session after the idle time and after the absolute time, on the clock', async () => {
    await user('ann@example.com', 'editor')
    const s = await login('ann@example.com')
    // Used every 1 h 59 min: kept alive.
    for (let i = 0; i < 3; i++) {
      clock.advance(2 * HOUR - MINUTE)
      expect((await as(s, 'GET', '/api/segments')).statusCode, `use ${i}`).toBe(200)
    }
    // Unused for 2 h: gone.
    clock.advance(2 * HOUR)
    const idle = await as(s, 'GET', '/api/segments')
    expect(idle.statusCode).toBe(401)
    expect(idle.json().error.message).toMatch(
      /session has expired \(sessions last 2h idle, 7d in all\)/,
    )
    // Expired sessions are deleted.
    expect(await t.rt.store.query('SELECT * FROM sessions', [])).toHaveLength(0)

    // However busy, a session ends 7 days after login.
    const busy = await login('ann@example.com')
    let used = 0
    while (used + HOUR < 7 * 24 * HOUR) {
      clock.advance(HOUR)
      used += HOUR
      expect((await as(busy, 'GET', '/auth/session')).statusCode).toBe(200)
    }
    clock.advance(7 * 24 * HOUR - used)
    expect((await as(busy, 'GET', '/auth/session')).statusCode).toBe(401)
  }, 30_000)

  it('names the user in the audit log, and the key as before', async () => {
    await user('ann@example.com', 'editor')
    const s = await login('ann@example.com')
    expect(
      (await as(s, 'PUT', '/api/segments/pro', { rule: { trait: 'plan', eq: 'pro' } })).statusCode,
    ).toBe(201)
    expect((await as(s, 'PUT', '/api/segments/bad', { rule: { nope: 1 } })).statusCode).toBe(400)
    expect((await t.admin('DELETE', '/api/segments/pro')).statusCode).toBe(200)
    const keyId = (await t.rt.keys.list('default')).find((k) => k.kind === 'admin')!.id
    const items = (await t.admin('GET', '/api/audit')).json().items as {
      actor: string
      action: string
      status: number
    }[]
    expect(items.slice(0, 4).map((e) => [e.actor, e.action, e.status])).toEqual([
      [keyId, 'DELETE /api/segments/:key', 200],
      ['user:ann@example.com', 'PUT /api/segments/:key', 400],
      ['user:ann@example.com', 'PUT /api/segments/:key', 201],
      ['user:ann@example.com', 'user.login', 0],
    ])
  })

  it('ends the sessions of a disabled user and refuses their login', async () => {
    await user('ann@example.com', 'editor')
    const s = await login('ann@example.com')
    await t.rt.users.setDisabled('ann@example.com', true)
    expect((await as(s, 'GET', '/api/segments')).statusCode).toBe(401)
    const res = await post('/auth/login', { email: 'ann@example.com', password: PASSWORD })
    expect(res.statusCode).toBe(403)
    await t.rt.users.setDisabled('ann@example.com', false)
    await login('ann@example.com')
  })

  it('asks for a workspace when the user has roles in several, and refuses one they have none in', async () => {
    await t.rt.store.ensureWorkspace({ id: 'shop-eu', name: 'Shop EU', createdAt: NOW })
    await user('ann@example.com', 'viewer')
    await t.rt.users.setRole({
      email: 'ann@example.com',
      workspaceId: 'shop-eu',
      role: 'admin',
      actor: 'cli',
    })
    const which = await post('/auth/login', { email: 'ann@example.com', password: PASSWORD })
    expect(which.statusCode).toBe(400)
    expect(which.json().error.message).toMatch(/several workspaces.*default, shop-eu/)
    const eu = await login('ann@example.com', PASSWORD, { workspace: 'shop-eu' })
    expect(eu.res.json()).toMatchObject({ workspace: 'shop-eu', role: 'admin' })
    // The session acts on its workspace only.
    expect(
      (await as(eu, 'PUT', '/api/segments/eu', { rule: { trait: 'x', eq: 1 } })).statusCode,
    ).toBe(201)
    expect((await t.admin('GET', '/api/segments/eu')).statusCode).toBe(404)
    const none = await post('/auth/login', {
      email: 'ann@example.com',
      password: PASSWORD,
      workspace: 'nope',
    })
    expect(none.statusCode).toBe(403)
    // An admin of one workspace gets no link for a user of another (it would open both).
    await t.rt.store.ensureWorkspace({ id: 'b', name: 'B', createdAt: NOW })
    await t.rt.keys.create({ workspaceId: 'b', kind: 'admin', key: 'b-admin-key-0001' })
    await t.admin('PUT', '/api/users/pending@example.com', { role: 'viewer' })
    const fromB = await t.app.inject({
      method: 'PUT',
      url: '/api/users/pending@example.com',
      headers: { authorization: 'Bearer b-admin-key-0001', 'content-type': 'application/json' },
      payload: JSON.stringify({ role: 'admin' }),
    })
    expect(fromB.statusCode).toBe(200)
    expect(fromB.json().setPasswordUrl).toBeUndefined()
  })
})

describe('session cookies under HTTPS', () => {
  let dir: string
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'segflow-tls-'))
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '2',
        '-subj',
        '/CN=localhost',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    )
  })
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it('marks the cookie Secure when segflow serves HTTPS, or a trusted proxy says https', async () => {
    const t = await newTestApp('sqlite')
    try {
      const invited = await t.admin('PUT', '/api/users/ann@example.com', { role: 'viewer' })
      const token = new URL(invited.json().setPasswordUrl).searchParams.get('token')
      await t.app.inject({
        method: 'POST',
        url: '/auth/set-password',
        payload: { token, password: PASSWORD },
      })
      const loginOn = async (app: typeof t.app, headers: Record<string, string> = {}) => {
        const res = await app.inject({
          method: 'POST',
          url: '/auth/login',
          headers,
          payload: { email: 'ann@example.com', password: PASSWORD },
        })
        expect(res.statusCode, res.body).toBe(200)
        return String(res.headers['set-cookie']).split('; ')
      }
      expect(await loginOn(t.app)).not.toContain('Secure')
      const https = await buildApp({
        ...t.rt,
        https: {
          cert: readFileSync(join(dir, 'cert.pem')),
          key: readFileSync(join(dir, 'key.pem')),
        },
      })
      try {
        expect(await loginOn(https)).toEqual(
          expect.arrayContaining(['Secure', 'HttpOnly', 'SameSite=Strict']),
        )
      } finally {
        await https.close()
      }
      const proxied = await buildApp({ ...t.rt, trustProxy: true })
      try {
        expect(await loginOn(proxied, { 'x-forwarded-proto': 'https' })).toContain('Secure')
        expect(await loginOn(proxied)).not.toContain('Secure')
      } finally {
        await proxied.close()
      }
    } finally {
      await t.close()
    }
  })

  it('refuses bad session durations, naming the variable', () => {
    expect(() => loadConfig({ SEGFLOW_SESSION_IDLE: '2 hours' })).toThrow(
      'SEGFLOW_SESSION_IDLE="2 hours" must be a duration from 1m to 30d, like 30m, 2h or 7d',
    )
    expect(() => loadConfig({ SEGFLOW_SESSION_MAX: '1h', SEGFLOW_SESSION_IDLE: '2h' })).toThrow(
      /SEGFLOW_SESSION_MAX \(1h\) must not be shorter than SEGFLOW_SESSION_IDLE \(2h\)/,
    )
    expect(loadConfig({ SEGFLOW_SESSION_IDLE: '30m' }).sessionIdleMs).toBe(30 * MINUTE)
  })
})

describe.each(testStoreKinds())('segflow users on %s', (kind) => {
  let location: StoreLocation
  beforeEach(async () => {
    location = await newCreatedLocation(kind)
  })
  afterEach(async () => {
    await location.destroy()
  })
  const env = () => ({ ...location.env, SEGFLOW_PUBLIC_URL: 'https://segflow.example.com/' })
  const run = (...args: string[]) => cli(args, env())

  it('creates a user with a one-time set-password link, lists, changes the role, disables', async () => {
    const created = await run(
      'users',
      'create',
      'ann@example.com',
      '--workspace',
      'default',
      '--role',
      'editor',
    )
    expect(created.out).toMatch(/^Created user ann@example.com, editor of workspace default\./)
    const link = /https:\/\/segflow\.example\.com\/set-password\?token=([\w-]{43})/.exec(
      created.out,
    )
    expect(link, created.out).not.toBeNull()
    expect(created.out).toContain('until 20') // the expiry, 24 h on

    // The link sets the password on a server using this database.
    const store = location.open()
    try {
      const users = new UserService(store, new ManualClock(Date.now()), { publicUrl: 'x' })
      await users.setPassword({ token: link![1], password: PASSWORD })
      const { session } = await users.login(
        { email: 'ann@example.com', password: PASSWORD },
        '127.0.0.1',
      )
      expect(session.role).toBe('editor')
    } finally {
      await store.close()
    }

    expect((await run('users', 'list')).out).toMatch(
      /ann@example\.com\s+default:editor\s+set\s+active/,
    )
    expect(
      (await run('users', 'role', 'ann@example.com', '--workspace', 'default', '--role', 'admin'))
        .out,
    ).toBe('ann@example.com is now an admin of workspace default.')
    expect((await run('users', 'disable', 'ann@example.com')).out).toMatch(
      /^Disabled ann@example\.com/,
    )
    const json = JSON.parse((await run('users', 'list', '--json')).out)
    expect(json).toEqual([
      expect.objectContaining({
        email: 'ann@example.com',
        disabled: true,
        roles: { default: 'admin' },
      }),
    ])
  })

  it('explains mistakes in one line', async () => {
    await expect(run('users', 'create', 'ann@example.com', '--role', 'editr')).rejects.toThrow(
      '--role must be one of viewer, editor, admin (did you mean editor?)',
    )
    await expect(run('users', 'create', 'nope', '--role', 'viewer')).rejects.toThrow(
      /email address/,
    )
    await expect(
      run('users', 'create', 'ann@example.com', '--workspace', 'nowhere', '--role', 'viewer'),
    ).rejects.toThrow('workspace "nowhere" does not exist')
    await run('users', 'create', 'ann@example.com', '--role', 'viewer')
    await expect(run('users', 'create', 'ANN@example.com', '--role', 'viewer')).rejects.toThrow(
      /user ann@example.com already exists/,
    )
    await expect(run('users', 'disable', 'bob@example.com')).rejects.toThrow(
      'no user "bob@example.com"',
    )
  })

  it('refuses to create a database', async () => {
    const empty = await newStoreLocation(kind)
    try {
      await expect(cli(['users', 'list'], empty.env)).rejects.toThrow(/no segflow database/)
    } finally {
      await empty.destroy()
    }
  })
})
