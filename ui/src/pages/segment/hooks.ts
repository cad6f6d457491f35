import { useEffect, useRef, useState } from 'preact/hooks'
import { ApiError } from '../../api.js'

export type Latest<T> =
  | { readonly state: 'idle'; readonly data?: T }
  | { readonly state: 'pending'; readonly data?: T }
  | { readonly state: 'ok'; readonly data: T; readonly for?: string }
  | { readonly state: 'error'; readonly error: ApiError; readonly data?: T }

/**
 * Runs `load(input)` `ms` after `input` last changed and keeps only the newest answer: an
 * answer to an older input that arrives late is dropped, so what is shown always belongs to
 * what is typed. `input` null means nothing to ask (state idle).
 * @example const count = useDebounced(rule, (r) => previewRule(r), 400)
 */
export function useDebounced<I, T>(
  input: I | null,
  load: (input: I) => Promise<T>,
  ms: number,
  key: (input: I) => string = (i) => JSON.stringify(i),
): Latest<T> {
  const [value, setValue] = useState<Latest<T>>({ state: 'idle' })
  const seq = useRef(0)
  const id = input === null ? null : key(input)
  useEffect(() => {
    const n = ++seq.current
    if (input === null) {
      // Nothing to ask: the last answer stays, marked as no longer current.
      setValue((v) => ({
        state: 'idle',
        ...('data' in v && v.data !== undefined ? { data: v.data } : {}),
      }))
      return
    }
    setValue((v) => ({
      state: 'pending',
      ...('data' in v && v.data !== undefined ? { data: v.data } : {}),
    }))
    const timer = setTimeout(() => {
      load(input).then(
        (data) => {
          if (n === seq.current) setValue({ state: 'ok', data, for: id! })
        },
        (e: unknown) => {
          if (n !== seq.current) return
          const error =
            e instanceof ApiError
              ? e
              : new ApiError(0, 'client', e instanceof Error ? e.message : String(e))
          setValue({ state: 'error', error })
        },
      )
    }, ms)
    return () => clearTimeout(timer)
  }, [id])
  // Between a change and its effect, the answer still held is for the input before.
  if (value.state === 'ok' && value.for !== id) return { state: 'pending', data: value.data }
  return value
}
