import { useState } from 'preact/hooks'
import { ApiError, login } from '../api.js'
import { ErrorBox } from '../components.js'
import { navigate } from '../navigation.js'
import type { PageProps } from '../router.js'

/** Email and password; back to the page the person was sent here from. */
export function Login({ query }: PageProps) {
  const [email, setEmail] = useState('')
  const [password, setPassword] = useState('')
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<ApiError | null>(null)
  const next = query.get('next')
  const target = next && next.startsWith('/') && !next.startsWith('//') ? next : '/'

  const submit = async (e: Event) => {
    e.preventDefault()
    setBusy(true)
    setError(null)
    try {
      await login(email, password)
      navigate(target, { replace: true })
    } catch (err) {
      setError(err instanceof ApiError ? err : new ApiError(0, 'client', String(err)))
      setBusy(false)
    }
  }

  return (
    <form class="card auth" onSubmit={submit} aria-labelledby="login-title">
      <h1 id="login-title">Log in to segflow</h1>
      {query.get('reason') === 'expired' && (
        <p class="notice" role="status">
          Your session has ended. Log in again to continue.
        </p>
      )}
      {query.get('reason') === 'password-set' && (
        <p class="notice" role="status">
          Your password is set. Log in with it.
        </p>
      )}
      <label>
        Email
        <input
          type="email"
          name="email"
          autocomplete="username"
          required
          value={email}
          onInput={(e) => setEmail(e.currentTarget.value)}
        />
      </label>
      <label>
        Password
        <input
          type="password"
          name="password"
          autocomplete="current-password"
          required
          value={password}
          onInput={(e) => setPassword(e.currentTarget.value)}
        />
      </label>
      {error && <ErrorBox error={error} />}
      <button type="submit" class="primary" disabled={busy}>
        {busy ? 'Logging in…' : 'Log in'}
      </button>
      <p class="muted small">
        No password yet? Ask an admin for a link (<code>segflow users create</code> or{' '}
        <code>segflow users link</code>).
      </p>
    </form>
  )
}
