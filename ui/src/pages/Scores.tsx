/**
 * Scores & lifecycle: the scoring models and their criteria, and the lifecycle stages with
 * how many people are in each (the size of each stage's `lifecycle-<stage>` segment).
 */
import { useState } from 'preact/hooks'
import { api, seg } from '../api.js'
import type { Page, Segment } from '../api.js'
import type { Lifecycle, ScoreModel, Stage } from '../api-ops.js'
import {
  Empty,
  ErrorBox,
  fmt,
  Link,
  Show,
  signed,
  useAsync,
  useCanEdit,
  useTitle,
} from '../components.js'
import type { PageProps } from '../router.js'
import { useAction } from './kit.js'

export function Scores(_: PageProps) {
  useTitle('Scores & lifecycle')
  return (
    <>
      <h1>Scores &amp; lifecycle</h1>
      <Models />
      <Stages />
    </>
  )
}

function Models() {
  const models = useAsync(() => api.get<{ items: ScoreModel[] }>('/api/scores'), [])
  const [open, setOpen] = useState<string | null>(null)
  return (
    <section class="card" aria-labelledby="models-title">
      <h2 id="models-title">Scoring models</h2>
      <Show value={models} what="Loading scoring models">
        {(data) => {
          if (data.items.length === 0)
            return (
              <Empty>
                No scoring models. Add one with <code>PUT /api/scores/engagement</code> (
                <code>{'{"preset": "engagement"}'}</code> installs the preset).
              </Empty>
            )
          const current = data.items.find((m) => m.key === open) ?? data.items[0]!
          return (
            <>
              <div class="table-wrap" tabIndex={0} role="region" aria-label="Scoring models">
                <table data-testid="models">
                  <thead>
                    <tr>
                      <th scope="col">Model</th>
                      <th scope="col">Half-life</th>
                      <th scope="col" class="num">
                        Criteria
                      </th>
                      <th scope="col">Used by</th>
                      <th scope="col">
                        <span class="sr-only">Details</span>
                      </th>
                    </tr>
                  </thead>
                  <tbody>
                    {data.items.map((m) => (
                      <tr key={m.key} data-key={m.key} class={m === current ? 'selected' : ''}>
                        <td>
                          {m.name}
                          <div class="muted small">{m.key}</div>
                        </td>
                        <td>{m.halfLife ?? 'no decay'}</td>
                        <td class="num">{m.criteria.length}</td>
                        <td class="wrap">
                          {m.usedBy.length === 0
                            ? '—'
                            : m.usedBy.map((s, i) => (
                                <span key={s}>
                                  {i > 0 && ', '}
                                  <Link href={`/segments/${seg(s)}`}>{s}</Link>
                                </span>
                              ))}
                        </td>
                        <td>
                          <button
                            type="button"
                            aria-pressed={m === current}
                            onClick={() => setOpen(m.key)}
                          >
                            Criteria
                          </button>
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
              <div class="model-detail" data-testid="model-detail">
                <h3>{current.name}: criteria</h3>
                {current.description && <p class="muted">{current.description}</p>}
                <table class="criteria">
                  <thead>
                    <tr>
                      <th scope="col">Criterion</th>
                      <th scope="col">Kind</th>
                      <th scope="col" class="num">
                        Points
                      </th>
                      <th scope="col" class="num">
                        Cap
                      </th>
                    </tr>
                  </thead>
                  <tbody>
                    {current.criteria.map((c) => (
                      <tr key={c.name}>
                        <td class="wrap">{c.name}</td>
                        <td>{c.kind === 'event' ? 'per event' : 'while a rule holds'}</td>
                        <td class="num">{signed(c.points)}</td>
                        <td class="num">{c.cap === null ? '—' : fmt(c.cap)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
                <details>
                  <summary>Definition (JSON)</summary>
                  <pre class="code">{JSON.stringify(current.definition, null, 2)}</pre>
                </details>
              </div>
            </>
          )
        }}
      </Show>
    </section>
  )
}

/** The stages, and the size of each stage's segment as GET /api/segments reports it. */
async function loadStages(): Promise<{ lifecycle: Lifecycle; sizes: Map<string, number> }> {
  const [lifecycle, segments] = await Promise.all([
    api.get<Lifecycle>('/api/lifecycle'),
    api.get<Page<Segment>>('/api/segments'),
  ])
  const sizes = new Map<string, number>()
  for (const s of segments.items)
    if (s.key.startsWith('lifecycle-')) sizes.set(s.key.slice('lifecycle-'.length), s.size)
  return { lifecycle, sizes }
}

function Stages() {
  const data = useAsync(loadStages, [])
  const canEdit = useCanEdit()
  const enable = useAction()
  const enableDefault = async () => {
    const ok = await enable.run(() => api.put('/api/lifecycle', { preset: 'default' }))
    if (ok !== undefined) data.reload()
  }
  return (
    <section class="card" aria-labelledby="stages-title">
      <div class="head">
        <h2 id="stages-title">Lifecycle stages</h2>
        <button type="button" onClick={data.reload} disabled={data.state === 'loading'}>
          Refresh
        </button>
      </div>
      <Show value={data} what="Loading lifecycle stages">
        {({ lifecycle, sizes }) =>
          lifecycle.enabled ? (
            <Distribution stages={lifecycle.stages} sizes={sizes} />
          ) : (
            <>
              <Empty>
                Lifecycle stages are off. The default stages put each person in the first that
                holds:
              </Empty>
              <ol class="stage-list">
                {(lifecycle.defaults ?? []).map((s) => (
                  <li key={s.key}>
                    <strong>{s.name}</strong> <span class="muted">{s.description}</span>
                  </li>
                ))}
              </ol>
              {enable.error && <ErrorBox error={enable.error} />}
              {canEdit && (
                <div class="actions">
                  <button
                    type="button"
                    class="primary"
                    disabled={enable.busy}
                    onClick={enableDefault}
                  >
                    {enable.busy ? 'Enabling…' : 'Enable the default stages'}
                  </button>
                </div>
              )}
            </>
          )
        }
      </Show>
    </section>
  )
}

/** One bar per stage, as wide as its share of everyone in a stage. */
function Distribution({ stages, sizes }: { stages: readonly Stage[]; sizes: Map<string, number> }) {
  const values = stages.map((s) => sizes.get(s.key) ?? 0)
  const total = values.reduce((a, b) => a + b, 0)
  const max = Math.max(1, ...values)
  return (
    <>
      <p class="muted small">
        {fmt(total)} {total === 1 ? 'person' : 'people'} in a stage. Each stage is the segment{' '}
        <code>lifecycle-&lt;stage&gt;</code>.
      </p>
      <ul class="bars" data-testid="distribution" aria-label="People per lifecycle stage">
        {stages.map((s, i) => {
          const n = values[i] ?? 0
          const pct = total === 0 ? 0 : Math.round((n / total) * 100)
          return (
            <li key={s.key} data-stage={s.key}>
              <span class="bar-label">
                <Link href={`/segments/${seg(`lifecycle-${s.key}`)}`}>{s.name}</Link>
                {s.description && <span class="muted small">{s.description}</span>}
              </span>
              <span class="bar-track" aria-hidden="true">
                <span
                  class="bar-fill"
                  style={{ width: n === 0 ? '0' : `max(2px, ${(n / max) * 100}%)` }}
                />
              </span>
              <span class="bar-value" data-testid="stage-size">
                {fmt(n)}
              </span>
              <span class="bar-pct muted small">{pct}%</span>
            </li>
          )
        })}
      </ul>
    </>
  )
}
