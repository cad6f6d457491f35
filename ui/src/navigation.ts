/** Client-side navigation over the History API (the router's pages live in router.tsx). */
import { useEffect, useState } from 'preact/hooks'

const listeners = new Set<() => void>()
window.addEventListener('popstate', () => listeners.forEach((l) => l()))

/** Goes to a path of the app without reloading. */
export function navigate(to: string, options: { replace?: boolean } = {}): void {
  if (to === location.pathname + location.search) return
  if (options.replace) history.replaceState(null, '', to)
  else history.pushState(null, '', to)
  window.scrollTo(0, 0)
  listeners.forEach((l) => l())
}

/** The current location; re-renders on navigation. */
export function useLocation(): { pathname: string; search: string } {
  const [, setTick] = useState(0)
  useEffect(() => {
    const l = () => setTick((n) => n + 1)
    listeners.add(l)
    return () => void listeners.delete(l)
  }, [])
  return { pathname: location.pathname, search: location.search }
}
