/**
 * The dashboard's pages and a small history router. Every page is listed here once: its path
 * (`:name` matches one segment), its title, and whether the nav shows it. The server answers
 * index.html for any of these paths (src/http/ui-routes.ts), so links can be shared.
 */
import type { ComponentType } from 'preact'
import { Login } from './pages/Login.js'
import { Logout } from './pages/Logout.js'
import { NotFound } from './pages/NotFound.js'
import { Overview } from './pages/Overview.js'
import { People } from './pages/People.js'
import { Person } from './pages/Person.js'
import { Segment } from './pages/Segment.js'
import { Segments } from './pages/Segments.js'
import { NewSegment } from './pages/NewSegment.js'
import { Template } from './pages/templates/Template.js'
import { Templates } from './pages/templates/Templates.js'
import { SetPassword } from './pages/SetPassword.js'
import { Automation, Automations } from './pages/Automations.js'
import { Privacy } from './pages/Privacy.js'
import { Scores } from './pages/Scores.js'
import { Settings } from './pages/Settings.js'
import { Users } from './pages/Users.js'
import { Webhook, Webhooks } from './pages/Webhooks.js'

export interface PageProps {
  readonly params: Readonly<Record<string, string>>
  readonly query: URLSearchParams
}

export interface PageDef {
  readonly path: string
  readonly title: string
  readonly page: ComponentType<PageProps>
  /** Shown in the nav (top-level pages). */
  readonly nav?: boolean
  /** Reachable without logging in. */
  readonly public?: boolean
  /** In the nav only for admins (the API refuses others anyway). */
  readonly admin?: boolean
}

export const PAGES: readonly PageDef[] = [
  { path: '/', title: 'Overview', page: Overview, nav: true },
  { path: '/segments', title: 'Segments', page: Segments, nav: true },
  { path: '/segments/new', title: 'New segment', page: NewSegment },
  { path: '/segments/:key', title: 'Segment', page: Segment },
  { path: '/people', title: 'People', page: People, nav: true },
  { path: '/people/:id', title: 'Person', page: Person },
  { path: '/templates', title: 'Templates', page: Templates, nav: true },
  { path: '/templates/:key', title: 'Template', page: Template },
  { path: '/automations', title: 'Automations', page: Automations, nav: true },
  { path: '/automations/:key', title: 'Automation', page: Automation },
  { path: '/webhooks', title: 'Webhooks', page: Webhooks, nav: true },
  { path: '/webhooks/:id', title: 'Webhook', page: Webhook },
  { path: '/scores', title: 'Scores & lifecycle', page: Scores, nav: true },
  { path: '/privacy', title: 'Privacy', page: Privacy, nav: true },
  { path: '/settings', title: 'Settings', page: Settings, nav: true },
  { path: '/users', title: 'Users', page: Users, nav: true, admin: true },
  { path: '/login', title: 'Log in', page: Login, public: true },
  { path: '/set-password', title: 'Set your password', page: SetPassword, public: true },
  { path: '/logout', title: 'Log out', page: Logout, public: true },
]

export const NOT_FOUND: PageDef = { path: '*', title: 'Not found', page: NotFound }

/** The page for a path and its parameters. */
export function match(pathname: string): { def: PageDef; params: Record<string, string> } {
  const parts = pathname.replace(/\/+$/, '').split('/').slice(1)
  for (const def of PAGES) {
    const want = def.path === '/' ? [] : def.path.split('/').slice(1)
    if (want.length !== parts.length) continue
    const params: Record<string, string> = {}
    let ok = true
    for (let i = 0; i < want.length; i++) {
      const w = want[i]!
      const p = parts[i]!
      if (w.startsWith(':')) {
        try {
          params[w.slice(1)] = decodeURIComponent(p)
        } catch {
          ok = false
        }
      } else if (w !== p) ok = false
    }
    if (ok) return { def, params }
  }
  return { def: NOT_FOUND, params: {} }
}

export { navigate, useLocation } from './navigation.js'
