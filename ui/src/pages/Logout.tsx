import { useEffect, useState } from 'preact/hooks'
import { ApiError, logout } from '../api.js'
import { ErrorBox, Loading } from '../components.js'
import { navigate } from '../navigation.js'

export function Logout() {
  const [error, setError] = useState<ApiError | null>(null)
  useEffect(() => {
    logout().then(
      () => navigate('/login', { replace: true }),
      (e: unknown) => setError(e instanceof ApiError ? e : new ApiError(0, 'client', String(e))),
    )
  }, [])
  return error ? <ErrorBox error={error} /> : <Loading what="Logging out" />
}
