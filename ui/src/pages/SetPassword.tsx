import { useState } from 'preact/hooks'
import { ApiError, setPassword } from '../api.js'
import { ErrorBox } from '../components.js'
import { navigate } from '../navigation.js'
import type { PageProps } from '../router.js'

/** The page of the one-time link `segflow users create` prints: /set-password?token=… */
export function SetPassword({ query }: PageProps) {
  const token = query.get('token') ?? ''
  const [password, setPw] = useState('')
  const [again, setAgain] = useState('')
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<ApiError | null>(null)
  const mismatch = again !== '' && again !== password

  const submit = async (e: Event) => {
    e.preventDefault()
    if (mismatch) return
    setBusy(true)
    setError(null)
    try {
      await setPassword(token, password)
      navigate('/login?reason=password-set', { replace: true })
    } catch (err) {
      setError(err instanceof ApiError ? err : new ApiError(0, 'client', String(err)))
      setBusy(false)
    }
  }

  if (token === '')
    return (
      <div class="card auth">
        <h1>Set your password</h1>
        <p role="alert">
          This page needs the link an admin sent you (it ends in <code>?token=…</code>).
        </p>
      </div>
    )
  return (
    <form class="card auth" onSubmit={submit} aria-labelledby="setpw-title">
      <h1 id="setpw-title">Set your password</h1>
      <label>
        New password (at least 12 characters)
        <input
          type="password"
          name="password"
          autocomplete="new-password"
          minLength={12}
          required
          value={password}
          onInput={(e) => setPw(e.currentTarget.value)}
        />
      </label>
      <label>
        The same again
        <input
          type="password"
          name="again"
          autocomplete="new-password"
          required
          value={again}
          aria-invalid={mismatch}
          onInput={(e) => setAgain(e.currentTarget.value)}
        />
      </label>
      {mismatch && <p class="field-error">The two passwords differ.</p>}
      {error && <ErrorBox error={error} />}
      <button type="submit" class="primary" disabled={busy || mismatch}>
        Set password
      </button>
    </form>
  )
}
