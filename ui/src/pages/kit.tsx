/**
 * Pieces the operations pages share (automations, webhooks, scores, privacy, settings,
 * users): a change that reports its own error, pages of a cursor-paged list, a JSON editor
 * whose server errors show under it, a secret shown once, a typed confirmation.
 */
import type { ComponentChildren, ComponentProps } from 'preact'
import { useCallback, useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks'
import { ApiError } from '../api.js'
import { Confirm, ErrorBox, useSession } from '../components.js'

const asApiError = (e: unknown) =>
  e instanceof ApiError ? e : new ApiError(0, 'client', e instanceof Error ? e.message : String(e))

/** Whether the logged-in user is an admin (the API enforces it too). */
export const useIsAdmin = () => useSession()?.role === 'admin'

/**
 * A change made from a button: busy while it runs, its error kept to show next to the button.
 * `run` resolves to the answer, or undefined when it failed.
 */
export function useAction() {
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<ApiError | null>(null)
  const run = useCallback(async <T,>(fn: () => Promise<T>): Promise<T | undefined> => {
    setBusy(true)
    setError(null)
    try {
      return await fn()
    } catch (e) {
      setError(asApiError(e))
      return undefined
    } finally {
      setBusy(false)
    }
  }, [])
  return { busy, error, run, clear: () => setError(null) }
}

export interface Paged<T> {
  readonly items: readonly T[]
  readonly state: 'loading' | 'ok' | 'error'
  readonly error: ApiError | null
  readonly more: boolean
  loadMore(): void
  reload(): void
}

/**
 * The pages of a cursor-paged list (`{items, nextCursor}`, or the audit log's `{items, next}`):
 * the first page when `deps` change, then one more per `loadMore`.
 */
export function usePaged<T>(
  load: (cursor: string | null) => Promise<{
    items: readonly T[]
    nextCursor?: string | null
    next?: string | null
  }>,
  deps: readonly unknown[],
): Paged<T> {
  const [items, setItems] = useState<readonly T[]>([])
  const [cursor, setCursor] = useState<string | null>(null)
  const [state, setState] = useState<'loading' | 'ok' | 'error'>('loading')
  const [error, setError] = useState<ApiError | null>(null)
  const [tick, setTick] = useState(0)
  const gen = useRef(0)
  const fetchPage = (after: string | null, append: boolean) => {
    const mine = ++gen.current
    setState('loading')
    load(after).then(
      (page) => {
        if (mine !== gen.current) return
        setItems((old) => (append ? [...old, ...page.items] : page.items))
        setCursor(page.nextCursor ?? page.next ?? null)
        setError(null)
        setState('ok')
      },
      (e: unknown) => {
        if (mine !== gen.current) return
        setError(asApiError(e))
        setState('error')
      },
    )
  }
  useEffect(() => fetchPage(null, false), [...deps, tick])
  return {
    items,
    state,
    error,
    more: cursor !== null,
    loadMore: () => cursor !== null && fetchPage(cursor, true),
    reload: () => setTick((n) => n + 1),
  }
}

/** "Load more" under a paged list, and the error of the last page asked for. */
export function PageMore<T>({ paged, what }: { paged: Paged<T>; what: string }) {
  return (
    <>
      {paged.state === 'error' && paged.error && paged.items.length > 0 && (
        <ErrorBox error={paged.error} retry={paged.loadMore} />
      )}
      {paged.more && (
        <p class="more">
          <button type="button" onClick={paged.loadMore} disabled={paged.state === 'loading'}>
            {paged.state === 'loading' ? 'Loading…' : `Load more ${what}`}
          </button>
        </p>
      )}
    </>
  )
}

/** JSON text: parsed, or the parse error at its place. */
export function parseJson(
  text: string,
): { ok: true; value: unknown } | { ok: false; message: string } {
  try {
    return { ok: true, value: JSON.parse(text) }
  } catch (e) {
    return { ok: false, message: e instanceof Error ? e.message : String(e) }
  }
}

export const pretty = (v: unknown) => JSON.stringify(v, null, 2)

/**
 * A definition edited as JSON and saved with `save`; a syntax error shows as you type, the
 * server's validation error (with its path) shows under the editor.
 */
export function JsonEditor({
  id,
  label,
  initial,
  save,
  onSaved,
  onCancel,
  saveLabel = 'Save',
  rows = 14,
  hint,
}: {
  id: string
  label: string
  initial: unknown
  save: (value: unknown) => Promise<unknown>
  onSaved: (answer: unknown) => void
  onCancel?: () => void
  saveLabel?: string
  rows?: number
  hint?: ComponentChildren
}) {
  const [text, setText] = useState(() => pretty(initial))
  const action = useAction()
  const parsed = parseJson(text)
  const submit = async (e: Event) => {
    e.preventDefault()
    if (!parsed.ok) return
    const out = await action.run(() => save(parsed.value))
    if (out !== undefined) onSaved(out)
  }
  return (
    <form class="json-editor" onSubmit={submit}>
      <label for={id}>{label}</label>
      {hint && <p class="muted small">{hint}</p>}
      <textarea
        id={id}
        class="code"
        rows={rows}
        spellcheck={false}
        value={text}
        aria-invalid={!parsed.ok || action.error !== null}
        aria-describedby={`${id}-status`}
        onInput={(e) => setText(e.currentTarget.value)}
      />
      <div id={`${id}-status`} aria-live="polite">
        {!parsed.ok && <p class="field-error">Not valid JSON: {parsed.message}</p>}
        {action.error && <ErrorBox error={action.error} />}
      </div>
      <div class="actions">
        {onCancel && (
          <button type="button" onClick={onCancel}>
            Cancel
          </button>
        )}
        <button type="submit" class="primary" disabled={!parsed.ok || action.busy}>
          {action.busy ? 'Saving…' : saveLabel}
        </button>
      </div>
    </form>
  )
}

/** A secret the API shows once: selectable, with a note that it will not be shown again. */
export function ShownOnce({
  label,
  value,
  testId,
  children,
}: {
  label: string
  value: string
  testId: string
  children?: ComponentChildren
}) {
  return (
    <div class="card shown-once" role="status">
      <label>
        {label}
        <input
          type="text"
          readOnly
          value={value}
          data-testid={testId}
          class="code"
          onFocus={(e) => e.currentTarget.select()}
        />
      </label>
      <p class="muted small">{children ?? 'It is shown this once; copy it now.'}</p>
    </div>
  )
}

/**
 * A confirmation, shown while it is rendered; focus goes back to where it was (the button that
 * asked) when it goes away. A layout effect, so it looks before the dialog takes the focus.
 */
export function Ask(props: Omit<ComponentProps<typeof Confirm>, 'open'>) {
  useLayoutEffect(() => {
    const before = document.activeElement
    // After the dialog has left: while a modal dialog is open the page behind it is inert, and
    // Escape unmounts this (a microtask) before the browser closes the dialog.
    return () =>
      void setTimeout(() => {
        if (before instanceof HTMLElement && before.isConnected) before.focus()
      })
  }, [])
  return <Confirm open {...props} />
}

/**
 * A confirmation the person must type `expected` into before the button works (an erasure:
 * the person's id).
 */
export function TypedConfirm({
  title,
  expected,
  confirmLabel,
  onConfirm,
  onCancel,
  busy,
  children,
}: {
  title: string
  expected: string
  confirmLabel: string
  onConfirm: () => void
  onCancel: () => void
  busy?: boolean
  children: ComponentChildren
}) {
  const [typed, setTyped] = useState('')
  return (
    <Ask
      title={title}
      confirmLabel={confirmLabel}
      onConfirm={() => typed === expected && onConfirm()}
      onCancel={onCancel}
      busy={busy === true || typed !== expected}
    >
      {children}
      <label class="typed">
        Type <code>{expected}</code> to confirm
        <input
          type="text"
          autocomplete="off"
          spellcheck={false}
          value={typed}
          onInput={(e) => setTyped(e.currentTarget.value)}
        />
      </label>
    </Ask>
  )
}

/** A status as a coloured pill: green for good, red for bad, yellow for waiting. */
export function StatusBadge({ status }: { status: string }) {
  const tone =
    status === 'succeeded' || status === 'done' || status === 'active' || status === 'completed'
      ? 'good'
      : status === 'failed' || status === 'exhausted' || status === 'disabled'
        ? 'bad'
        : status === 'pending' || status === 'scheduled'
          ? 'wait'
          : 'plain'
  return <span class={`badge tone-${tone}`}>{status}</span>
}

/** "a, b and c" */
export function list(items: readonly string[]): string {
  if (items.length <= 1) return items.join('')
  return `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`
}
