/**
 * The one client of segflow's HTTP API the dashboard uses: typed fetches, the session's CSRF
 * token on every state-changing request, and errors as `ApiError` (status, code, message and
 * the `{field, reason}` issues the server answers). The session cookie is HttpOnly: the page
 * never sees it; `fetch` sends it (same origin).
 */

export type Role = 'viewer' | 'editor' | 'admin'

export interface Session {
  readonly user: { readonly email: string }
  readonly workspace: string
  readonly role: Role
  readonly csrfToken: string
  readonly expiresAt: string
}

export interface Issue {
  readonly field?: string
  readonly path?: string
  readonly reason?: string
  readonly message?: string
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly issues: readonly Issue[] = [],
  ) {
    super(message)
  }
}

/** The CSRF token of the current session; set by login and by GET /auth/session. */
let csrfToken: string | null = null
/** Told when a request finds the session gone (expired, logged out elsewhere). */
let onUnauthorized: () => void = () => undefined

export function setUnauthorizedHandler(handler: () => void): void {
  onUnauthorized = handler
}

async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' }
  if (body !== undefined) headers['content-type'] = 'application/json'
  if (method !== 'GET' && method !== 'HEAD' && csrfToken !== null)
    headers['x-csrf-token'] = csrfToken
  let res: Response
  try {
    res = await fetch(path, {
      method,
      headers,
      credentials: 'same-origin',
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })
  } catch {
    throw new ApiError(0, 'network', 'segflow could not be reached; check your connection')
  }
  if (res.status === 204) return undefined as T
  const text = await res.text()
  let json: unknown = null
  try {
    json = text === '' ? null : JSON.parse(text)
  } catch {
    // Not JSON (a proxy's error page): the status says enough.
  }
  if (!res.ok) {
    const e = (json as { error?: { code?: string; message?: string; issues?: Issue[] } } | null)
      ?.error
    const err = new ApiError(
      res.status,
      e?.code ?? 'http_error',
      e?.message ?? `${method} ${path} answered ${res.status}`,
      e?.issues ?? [],
    )
    if (res.status === 401 && !path.startsWith('/auth/')) onUnauthorized()
    throw err
  }
  return json as T
}

export const api = {
  get: <T>(path: string) => request<T>('GET', path),
  post: <T>(path: string, body?: unknown) => request<T>('POST', path, body ?? {}),
  put: <T>(path: string, body?: unknown) => request<T>('PUT', path, body ?? {}),
  delete: <T>(path: string) => request<T>('DELETE', path),
}

/** `encodeURIComponent` for one path segment. */
export const seg = (s: string) => encodeURIComponent(s)

/** A query string from the defined values, `?a=1&b=2` (or ''). */
export function qs(params: Record<string, string | number | boolean | null | undefined>): string {
  const p = new URLSearchParams()
  for (const [k, v] of Object.entries(params))
    if (v !== undefined && v !== null) p.set(k, String(v))
  const s = p.toString()
  return s === '' ? '' : `?${s}`
}

/** Tells the shell (app.tsx) that the session changed: logged in or out. */
const announce = (s: Session | null) =>
  window.dispatchEvent(new CustomEvent('segflow:session', { detail: s }))

// ---- auth -------------------------------------------------------------------------------

export async function currentSession(): Promise<Session | null> {
  try {
    const s = await api.get<Session>('/auth/session')
    csrfToken = s.csrfToken
    return s
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return null
    throw e
  }
}

export async function login(email: string, password: string): Promise<Session> {
  const s = await api.post<Session>('/auth/login', { email, password })
  csrfToken = s.csrfToken
  announce(s)
  return s
}

export async function logout(): Promise<void> {
  await api.post('/auth/logout')
  csrfToken = null
  announce(null)
}

export const setPassword = (token: string, password: string) =>
  api.post<{ user: { email: string } }>('/auth/set-password', { token, password })

// ---- shapes of the admin API ------------------------------------------------------------

export interface Segment {
  readonly key: string
  readonly name: string
  readonly description: string
  readonly priority: number
  readonly version: number
  readonly liveVersion: number | null
  readonly status: 'computing' | 'live'
  readonly progress: { readonly done: number; readonly total: number } | null
  readonly size: number
  readonly reachable: number
  readonly rule: unknown
  readonly createdAt: string
  readonly updatedAt: string
}

export interface Overview {
  readonly profiles: number
  readonly reachable: number
  readonly segments: number
  readonly eventsLastHour: number
  readonly at: string
}

export interface SegmentTrends {
  readonly from: string
  readonly to: string
  readonly items: readonly { key: string; sizes: readonly number[]; change: number }[]
}

export interface Transition {
  readonly segment: string
  readonly profileId: string
  readonly userId: string | null
  readonly anonymousId: string | null
  readonly kind: 'entered' | 'exited'
  readonly at: string
  readonly reason: string
}

export interface SizePoint {
  readonly start: string
  readonly end: string
  readonly size: number
  readonly entered: number
  readonly exited: number
  readonly partial?: true
}

export interface SegmentSizes {
  readonly segment: string
  readonly step: 'hour' | 'day'
  readonly from: string
  readonly to: string
  readonly createdAt: string
  readonly points: readonly SizePoint[]
  readonly current: { readonly at: string; readonly size: number; readonly reachable: number }
}

export interface Member {
  readonly id: string
  readonly userId: string | null
  readonly email: string | null
  readonly enteredAt: string
}

export interface Page<T> {
  readonly items: readonly T[]
  readonly nextCursor: string | null
}

export interface ConsentView {
  readonly state: string
  readonly at: string
  readonly source: string
}

export interface Profile {
  readonly id: string
  readonly userId: string | null
  readonly anonymousIds: readonly string[]
  readonly emails: readonly string[]
  readonly identities: readonly { type: string; value: string; firstSeen: string }[]
  readonly traits: Record<string, unknown>
  readonly firstSeen: string | null
  readonly lastSeen: string | null
  readonly createdAt: string
  readonly segments: readonly { key: string; version: number; since: string }[]
  readonly emailStatus: string
  readonly consent: Record<string, ConsentView | null>
  readonly scores: Record<string, number>
  readonly computed: Record<string, unknown> | null
  readonly lifecycle: {
    readonly stage: string
    readonly name: string
    readonly since: string
  } | null
}

export interface ProfileEvent {
  readonly messageId: string
  readonly type: string
  readonly name: string | null
  readonly timestamp: string
  readonly properties: Record<string, unknown> | null
  readonly traits: Record<string, unknown> | null
}

export interface ProfileMatch {
  readonly id: string
  readonly userId: string | null
  readonly email: string | null
  readonly anonymousIds: readonly string[]
  readonly lastSeen: string | null
  readonly matched: { readonly type: string; readonly value: string }
}

export interface ExplanationNode {
  readonly rule: string
  readonly path: string
  readonly result: boolean
  readonly values: Record<string, unknown>
  readonly nextChangeAt: string | null
  readonly children: readonly ExplanationNode[]
}

export interface Explain {
  readonly profile: string
  readonly segment: string
  readonly version: number
  readonly member: boolean
  readonly since: string | null
  readonly lastTransition: { type: string; at: string; reason: string } | null
  readonly explanation: ExplanationNode
}
