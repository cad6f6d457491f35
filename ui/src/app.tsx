/** The shell: who is logged in, the nav, and the page the location names. */
import { useEffect, useState } from 'preact/hooks'
import { currentSession, setUnauthorizedHandler } from './api.js'
import type { Session } from './api.js'
import { ErrorBox, Link, Loading, SessionContext } from './components.js'
import { ApiError } from './api.js'
import { match, navigate, PAGES, useLocation } from './router.js'

export function App() {
  const loc = useLocation()
  const [session, setSession] = useState<Session | null | undefined>(undefined)
  const [error, setError] = useState<ApiError | null>(null)
  const { def, params } = match(loc.pathname)

  useEffect(() => {
    setUnauthorizedHandler(() => {
      setSession(null)
      if (location.pathname !== '/login') navigate(loginPath('expired'), { replace: true })
    })
    currentSession().then(setSession, (e: unknown) =>
      setError(e instanceof ApiError ? e : new ApiError(0, 'client', String(e))),
    )
    const onLogin = (e: Event) => setSession((e as CustomEvent<Session | null>).detail)
    window.addEventListener('segflow:session', onLogin)
    return () => window.removeEventListener('segflow:session', onLogin)
  }, [])

  useEffect(() => {
    document.title = `${def.title} · segflow`
    if (session === null && !def.public) navigate(loginPath(), { replace: true })
  }, [def, session])

  if (error) return <ErrorBox error={error} retry={() => location.reload()} />
  const Page = def.page
  const query = new URLSearchParams(loc.search)
  if (def.public)
    return (
      <SessionContext.Provider value={session ?? null}>
        <main class="public" id="main">
          <Page params={params} query={query} />
        </main>
      </SessionContext.Provider>
    )
  if (session === undefined) return <Loading />
  if (session === null) return <Loading what="Redirecting to log in" />
  return (
    <SessionContext.Provider value={session}>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <Link href="/" class="brand">
          segflow
        </Link>
        <nav aria-label="Main">
          {PAGES.filter((p) => p.nav && (!p.admin || session.role === 'admin')).map((p) => (
            <Link
              key={p.path}
              href={p.path}
              aria-current={section(loc.pathname) === p.path ? 'page' : undefined}
            >
              {p.title}
            </Link>
          ))}
        </nav>
        <div class="who">
          <span data-testid="user-email">{session.user.email}</span>
          <span class={`role role-${session.role}`} data-testid="user-role">
            {session.role}
          </span>
          <Link href="/logout">Log out</Link>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        <Page key={loc.pathname} params={params} query={query} />
      </main>
    </SessionContext.Provider>
  )
}

/** `/segments/pro` is in the Segments section. */
function section(pathname: string): string {
  const first = pathname.split('/')[1] ?? ''
  return first === '' ? '/' : `/${first}`
}

function loginPath(reason?: string): string {
  const next = location.pathname + location.search
  const q = new URLSearchParams()
  if (next !== '/' && !next.startsWith('/login') && !next.startsWith('/logout')) q.set('next', next)
  if (reason) q.set('reason', reason)
  const s = q.toString()
  return s ? `/login?${s}` : '/login'
}
