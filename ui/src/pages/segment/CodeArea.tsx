/**
 * A plain textarea with a line-number gutter and the lines that have problems marked (in the
 * gutter and behind the text), for rules and templates. No editor library: lines do not wrap,
 * so line N of the text is row N of the gutter and of the marks, which follow the scroll.
 */
import { useMemo, useState } from 'preact/hooks'

export interface Mark {
  readonly line: number
  readonly column?: number | null
  readonly message: string
}

export function CodeArea({
  id,
  label,
  value,
  onInput,
  marks = [],
  readOnly = false,
  rows = 14,
  describedBy,
}: {
  id: string
  label: string
  value: string
  onInput: (text: string) => void
  marks?: readonly Mark[]
  readOnly?: boolean
  rows?: number
  describedBy?: string
}) {
  const [scroll, setScroll] = useState(0)
  const count = useMemo(() => value.split('\n').length, [value])
  const bad = useMemo(() => new Map(marks.map((m) => [m.line, m.message])), [marks])
  const lines = Array.from({ length: Math.max(count, rows) }, (_, i) => i + 1)
  const shift = { transform: `translateY(${-scroll}px)` }
  return (
    <div class={`code${readOnly ? ' readonly' : ''}`} data-testid={`${id}-code`}>
      <div class="code-gutter" aria-hidden="true">
        <div style={shift}>
          {lines.map((n) => (
            <div key={n} class={bad.has(n) ? 'bad' : ''} data-line={n} title={bad.get(n)}>
              {n > count ? ' ' : n}
            </div>
          ))}
        </div>
      </div>
      <div class="code-body">
        <div class="code-marks" aria-hidden="true">
          <div style={shift}>
            {lines.map((n) => (
              <div key={n} class={bad.has(n) ? 'bad' : ''}>
                {' '}
              </div>
            ))}
          </div>
        </div>
        <textarea
          id={id}
          aria-label={label}
          aria-invalid={marks.length > 0}
          aria-describedby={describedBy}
          value={value}
          rows={rows}
          wrap="off"
          spellcheck={false}
          autocapitalize="off"
          autocomplete="off"
          readOnly={readOnly}
          onInput={(e) => onInput((e.target as HTMLTextAreaElement).value)}
          onScroll={(e) => setScroll((e.target as HTMLTextAreaElement).scrollTop)}
        />
      </div>
    </div>
  )
}
