/**
 * Users (admins only): who may use this workspace and with which role; inviting (the answer's
 * one-time set-password link is shown to pass on), changing a role, removing someone.
 */
import { useState } from 'preact/hooks'
import { api, seg } from '../api.js'
import type { Role } from '../api.js'
import type { User } from '../api-ops.js'
import { Empty, ErrorBox, Show, useAsync, useSession, useTitle, when } from '../components.js'
import type { PageProps } from '../router.js'
import { Ask, ShownOnce, useAction, useIsAdmin } from './kit.js'

const ROLES: readonly { id: Role; title: string }[] = [
  { id: 'viewer', title: 'viewer: sees everything, changes nothing' },
  { id: 'editor', title: 'editor: changes segments, templates, automations, …' },
  { id: 'admin', title: 'admin: also users, privacy requests, the data schema' },
]

export function Users(_: PageProps) {
  useTitle('Users')
  const isAdmin = useIsAdmin()
  if (!isAdmin)
    return (
      <>
        <h1>Users</h1>
        <div class="state error" role="alert">
          <strong>Admins only</strong>
          <p>Only an admin of this workspace can see and change its users.</p>
        </div>
      </>
    )
  return <UserAdmin />
}

function UserAdmin() {
  const me = useSession()
  const users = useAsync(() => api.get<{ items: User[] }>('/api/users'), [])
  const [email, setEmail] = useState('')
  const [role, setRole] = useState<Role>('editor')
  const [invited, setInvited] = useState<User | null>(null)
  const [removing, setRemoving] = useState<string | null>(null)
  const invite = useAction()
  const change = useAction()

  const submit = async (e: Event) => {
    e.preventDefault()
    const out = await invite.run(() => api.put<User>(`/api/users/${seg(email.trim())}`, { role }))
    if (out) {
      setInvited(out)
      setEmail('')
      users.reload()
    }
  }
  const setUserRole = async (u: User, r: Role) => {
    const ok = await change.run(() => api.put(`/api/users/${seg(u.email)}`, { role: r }))
    if (ok !== undefined) users.reload()
  }
  const remove = async () => {
    if (removing === null) return
    const target = removing
    await change.run(() => api.delete(`/api/users/${seg(target)}`))
    setRemoving(null)
    users.reload()
  }

  return (
    <>
      <h1>Users</h1>
      <section class="card" aria-labelledby="invite-title">
        <h2 id="invite-title">Invite someone</h2>
        <form class="toolbar" onSubmit={submit}>
          <label>
            Email
            <input
              type="email"
              required
              value={email}
              placeholder="ann@example.com"
              onInput={(e) => setEmail(e.currentTarget.value)}
            />
          </label>
          <label>
            Role
            <select
              aria-label="Role"
              value={role}
              onChange={(e) => setRole(e.currentTarget.value as Role)}
            >
              {ROLES.map((r) => (
                <option key={r.id} value={r.id}>
                  {r.title}
                </option>
              ))}
            </select>
          </label>
          <button type="submit" class="primary" disabled={invite.busy}>
            {invite.busy ? 'Inviting…' : 'Invite'}
          </button>
        </form>
        {invite.error && <ErrorBox error={invite.error} />}
        {invited &&
          (invited.setPasswordUrl ? (
            <ShownOnce
              label={`Set-password link for ${invited.email}`}
              value={invited.setPasswordUrl}
              testId="invite-link"
            >
              Send it to them: it works once, until {when(invited.linkExpiresAt)}.
            </ShownOnce>
          ) : (
            <p class="notice" role="status">
              {invited.email} already had an account; they are now {invited.role} here.
            </p>
          ))}
      </section>
      {change.error && <ErrorBox error={change.error} />}
      <Show value={users} what="Loading users">
        {(data) =>
          data.items.length === 0 ? (
            <Empty>No users yet: only admin keys can reach this workspace.</Empty>
          ) : (
            <div class="table-wrap" tabIndex={0} role="region" aria-label="Users">
              <table data-testid="users">
                <thead>
                  <tr>
                    <th scope="col">User</th>
                    <th scope="col">Role</th>
                    <th scope="col">Status</th>
                    <th scope="col">Since</th>
                    <th scope="col">
                      <span class="sr-only">Actions</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {data.items.map((u) => {
                    const self = u.email.toLowerCase() === me?.user.email.toLowerCase()
                    return (
                      <tr key={u.email} data-email={u.email}>
                        <td>
                          {u.email}
                          {self && <span class="muted small"> (you)</span>}
                        </td>
                        <td>
                          <select
                            aria-label={`Role of ${u.email}`}
                            value={u.role}
                            disabled={change.busy || self}
                            onChange={(e) => void setUserRole(u, e.currentTarget.value as Role)}
                          >
                            {ROLES.map((r) => (
                              <option key={r.id} value={r.id}>
                                {r.id}
                              </option>
                            ))}
                          </select>
                        </td>
                        <td>
                          {u.disabled
                            ? 'disabled'
                            : u.passwordSet
                              ? 'active'
                              : 'invited (no password yet)'}
                        </td>
                        <td>{when(u.createdAt)}</td>
                        <td>
                          {!self && (
                            <button type="button" onClick={() => setRemoving(u.email)}>
                              Remove
                            </button>
                          )}
                        </td>
                      </tr>
                    )
                  })}
                </tbody>
              </table>
            </div>
          )
        }
      </Show>
      {removing !== null && (
        <Ask
          title={`Remove ${removing}?`}
          confirmLabel="Remove user"
          busy={change.busy}
          onConfirm={() => void remove()}
          onCancel={() => setRemoving(null)}
        >
          <p>Their role in this workspace is taken away and their sessions here end at once.</p>
        </Ask>
      )}
    </>
  )
}
