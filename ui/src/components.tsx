/** Small shared pieces: async data, states (loading, empty, error), numbers, dialogs, charts. */
import type { ComponentChildren, JSX } from 'preact'
import { createContext } from 'preact'
import { useCallback, useContext, useEffect, useRef, useState } from 'preact/hooks'
import { ApiError } from './api.js'
import type { Session, Transition } from './api.js'
import { navigate } from './navigation.js'

/** The logged-in session, provided by the app shell. */
export const SessionContext = createContext<Session | null>(null)
export const useSession = () => useContext(SessionContext)
/** Whether the user may change things (editors and admins; the API enforces it too). */
export const useCanEdit = () => {
  const s = useSession()
  return s !== null && s.role !== 'viewer'
}

export type Async<T> =
  | { readonly state: 'loading'; readonly data?: T }
  | { readonly state: 'error'; readonly error: ApiError; readonly data?: T }
  | { readonly state: 'ok'; readonly data: T }

const asApiError = (e: unknown) =>
  e instanceof ApiError ? e : new ApiError(0, 'client', e instanceof Error ? e.message : String(e))

/**
 * Runs `load` when `deps` change; keeps the last data while reloading (no flicker).
 * @example const segments = useAsync(() => api.get<Page<Segment>>('/api/segments'), [])
 */
export function useAsync<T>(
  load: () => Promise<T>,
  deps: readonly unknown[],
): Async<T> & { reload: () => void } {
  const [value, setValue] = useState<Async<T>>({ state: 'loading' })
  const [tick, setTick] = useState(0)
  useEffect(() => {
    let live = true
    setValue((v) => ({ state: 'loading', ...(v.data === undefined ? {} : { data: v.data }) }))
    load().then(
      (data) => live && setValue({ state: 'ok', data }),
      (e: unknown) =>
        live &&
        setValue((v) => ({
          state: 'error',
          error: asApiError(e),
          ...(v.data === undefined ? {} : { data: v.data }),
        })),
    )
    return () => {
      live = false
    }
  }, [...deps, tick])
  const reload = useCallback(() => setTick((n) => n + 1), [])
  return { ...value, reload }
}

export type StreamStatus = 'connecting' | 'live' | 'unavailable'

/**
 * Segment transitions as they happen (server-sent events from /api/stream, cookie auth); the
 * browser reconnects by itself after a drop.
 */
export function useTransitions(onTransition: (t: Transition) => void): StreamStatus {
  const saved = useRef(onTransition)
  saved.current = onTransition
  const [status, setStatus] = useState<StreamStatus>('connecting')
  useEffect(() => {
    const source = new EventSource('/api/stream')
    source.addEventListener('ready', () => setStatus('live'))
    source.onerror = () =>
      setStatus(source.readyState === EventSource.CLOSED ? 'unavailable' : 'connecting')
    source.addEventListener('transition', (e) => {
      try {
        saved.current(JSON.parse((e as MessageEvent<string>).data) as Transition)
      } catch {
        // A malformed event is skipped; the next one still shows.
      }
    })
    return () => source.close()
  }, [])
  return status
}

/** Re-runs `fn` every `ms` while the page is visible. */
export function useInterval(fn: () => void, ms: number): void {
  const saved = useRef(fn)
  saved.current = fn
  useEffect(() => {
    const id = setInterval(() => {
      if (document.visibilityState === 'visible') saved.current()
    }, ms)
    return () => clearInterval(id)
  }, [ms])
}

export function Loading({ what = 'Loading' }: { what?: string }) {
  return (
    <p class="state loading" role="status" aria-live="polite">
      {what}…
    </p>
  )
}

export function ErrorBox({ error, retry }: { error: ApiError; retry?: () => void }) {
  return (
    <div class="state error" role="alert">
      <strong>{error.status === 404 ? 'Not found' : 'Something went wrong'}</strong>
      <p>{error.message}</p>
      {error.issues.length > 0 && (
        <ul>
          {error.issues.map((i, n) => (
            <li key={n}>
              <code>{i.field ?? i.path}</code> {i.reason ?? i.message}
            </li>
          ))}
        </ul>
      )}
      {retry && (
        <button type="button" onClick={retry}>
          Try again
        </button>
      )}
    </div>
  )
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <div class="state empty">{children}</div>
}

/** Loading, error or the content of an `Async`. */
export function Show<T>({
  value,
  children,
  what,
}: {
  value: Async<T> & { reload?: () => void }
  children: (data: T) => ComponentChildren
  what?: string
}) {
  if (value.data !== undefined && value.state !== 'error') return <>{children(value.data)}</>
  if (value.state === 'error') return <ErrorBox error={value.error} retry={value.reload} />
  return <Loading what={what} />
}

const numberFormat = new Intl.NumberFormat('en-US')
export const fmt = (n: number) => numberFormat.format(n)
export const signed = (n: number) => (n > 0 ? `+${fmt(n)}` : n < 0 ? `−${fmt(-n)}` : '0')

export function when(isoText: string | null | undefined): string {
  if (!isoText) return '—'
  const d = new Date(isoText)
  return d.toLocaleString('en-GB', {
    year: 'numeric',
    month: 'short',
    day: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
    timeZone: 'UTC',
    timeZoneName: 'short',
  })
}

/** A link inside the app: navigates without reloading, keeps ctrl/cmd-click. */
export function Link({
  href,
  children,
  ...rest
}: { href: string; children: ComponentChildren } & Omit<
  JSX.HTMLAttributes<HTMLAnchorElement>,
  'href'
>) {
  return (
    <a
      href={href}
      {...rest}
      onClick={(e) => {
        if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return
        e.preventDefault()
        navigate(href)
      }}
    >
      {children}
    </a>
  )
}

export function Stat({ label, value, id }: { label: string; value: string; id: string }) {
  return (
    <div class="stat" data-stat={id}>
      <div class="stat-label">{label}</div>
      <div class="stat-value">{value}</div>
    </div>
  )
}

export function Progress({ done, total, label }: { done: number; total: number; label: string }) {
  const pct = total === 0 ? 0 : Math.min(100, Math.round((done / total) * 100))
  return (
    <span class="progress-wrap">
      <progress max={100} value={pct} aria-label={label} />
      <span class="muted">{pct}%</span>
    </span>
  )
}

/** A tiny inline SVG line: cheap enough for a thousand rows. */
export function Sparkline({ values, label }: { values: readonly number[]; label: string }) {
  if (values.length < 2) return <span class="muted">—</span>
  const w = 80
  const h = 22
  const min = Math.min(...values)
  const max = Math.max(...values)
  // A flat line is drawn across the middle, not along the floor.
  const span = max - min || 2
  const base = max === min ? min - 1 : min
  const pts = values
    .map(
      (v, i) =>
        `${((i / (values.length - 1)) * (w - 2) + 1).toFixed(1)},${(h - 1 - ((v - base) / span) * (h - 2)).toFixed(1)}`,
    )
    .join(' ')
  return (
    <svg class="spark" width={w} height={h} viewBox={`0 0 ${w} ${h}`} role="img" aria-label={label}>
      <polyline points={pts} fill="none" stroke="currentColor" stroke-width="1.5" />
    </svg>
  )
}

/** A modal confirmation (the native <dialog>: focus trapped, Escape cancels). */
export function Confirm({
  open,
  title,
  children,
  confirmLabel,
  onConfirm,
  onCancel,
  busy,
}: {
  open: boolean
  title: string
  children: ComponentChildren
  confirmLabel: string
  onConfirm: () => void
  onCancel: () => void
  busy?: boolean
}) {
  const ref = useRef<HTMLDialogElement>(null)
  useEffect(() => {
    const d = ref.current
    if (!d) return
    if (open && !d.open) d.showModal()
    if (!open && d.open) d.close()
  }, [open])
  return (
    <dialog ref={ref} onCancel={onCancel} aria-labelledby="confirm-title">
      <h2 id="confirm-title">{title}</h2>
      <div>{children}</div>
      <div class="actions">
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
        <button type="button" class="danger" onClick={onConfirm} disabled={busy}>
          {confirmLabel}
        </button>
      </div>
    </dialog>
  )
}

/** Tabs as buttons with aria roles; the panel is the caller's. */
export function Tabs<T extends string>({
  tabs,
  current,
  onChange,
  label,
}: {
  tabs: readonly { id: T; title: string }[]
  current: T
  onChange: (id: T) => void
  label: string
}) {
  return (
    <div class="tabs" role="tablist" aria-label={label}>
      {tabs.map((t) => (
        <button
          type="button"
          role="tab"
          key={t.id}
          id={`tab-${t.id}`}
          aria-selected={t.id === current}
          aria-controls={`panel-${t.id}`}
          class={t.id === current ? 'active' : ''}
          onClick={() => onChange(t.id)}
        >
          {t.title}
        </button>
      ))}
    </div>
  )
}

/** Sets the document title for a page. */
export function useTitle(title: string): void {
  useEffect(() => {
    document.title = `${title} · segflow`
  }, [title])
}
