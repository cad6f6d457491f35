/**
 * Webhooks: the endpoints, and one endpoint with its deliveries and every attempt (filtered by
 * status, a page at a time), replay of failed ones, secret rotation and editing.
 */
import { useState } from 'preact/hooks'
import { api, qs, seg } from '../api.js'
import type { Page } from '../api.js'
import type { Delivery, DeliveryStatus, Webhook as WebhookData } from '../api-ops.js'
import {
  Empty,
  ErrorBox,
  fmt,
  Link,
  Show,
  useAsync,
  useCanEdit,
  useTitle,
  when,
} from '../components.js'
import { navigate } from '../navigation.js'
import type { PageProps } from '../router.js'
import { Ask, PageMore, ShownOnce, StatusBadge, useAction, usePaged } from './kit.js'

const TYPES = ['segment.entered', 'segment.exited'] as const
const STATUSES: readonly DeliveryStatus[] = [
  'pending',
  'succeeded',
  'failed',
  'exhausted',
  'cancelled',
]

/** Every attempt made, replays included (`attempts` counts those of the current schedule). */
const tried = (d: Delivery) => Math.max(d.attempts, d.history.length)

const filters = (w: WebhookData) =>
  `${w.segments === null ? 'all segments' : w.segments.join(', ')} · ${w.types === null ? 'all types' : w.types.join(', ')}`

export function Webhooks(_: PageProps) {
  useTitle('Webhooks')
  const list = useAsync(() => api.get<{ items: WebhookData[] }>('/api/webhooks'), [])
  const canEdit = useCanEdit()
  const [creating, setCreating] = useState(false)
  const [created, setCreated] = useState<WebhookData | null>(null)
  return (
    <>
      <div class="head">
        <h1>Webhooks</h1>
        {canEdit && !creating && (
          <button
            type="button"
            class="primary"
            onClick={() => {
              setCreating(true)
              setCreated(null)
            }}
          >
            New endpoint
          </button>
        )}
      </div>
      {created?.secret && (
        <ShownOnce label={`Signing secret of ${created.id}`} value={created.secret} testId="secret">
          It is shown this once; receivers verify requests with it (Standard Webhooks).
        </ShownOnce>
      )}
      {creating && (
        <section class="card" aria-labelledby="new-webhook">
          <h2 id="new-webhook">New endpoint</h2>
          <WebhookForm
            onSaved={(w) => {
              setCreating(false)
              setCreated(w)
              list.reload()
            }}
            onCancel={() => setCreating(false)}
          />
        </section>
      )}
      <Show value={list} what="Loading webhooks">
        {(data) =>
          data.items.length === 0 ? (
            <Empty>No webhook endpoints yet. An endpoint receives segment entries and exits.</Empty>
          ) : (
            <div class="table-wrap" tabIndex={0} role="region" aria-label="Endpoints">
              <table data-testid="webhooks">
                <thead>
                  <tr>
                    <th scope="col">Endpoint</th>
                    <th scope="col">URL</th>
                    <th scope="col">Sends</th>
                    <th scope="col">Status</th>
                  </tr>
                </thead>
                <tbody>
                  {data.items.map((w) => (
                    <tr key={w.id} data-id={w.id}>
                      <td>
                        <Link href={`/webhooks/${seg(w.id)}`}>{w.id}</Link>
                      </td>
                      <td class="wrap">
                        <code>{w.url}</code>
                      </td>
                      <td class="wrap">{filters(w)}</td>
                      <td>
                        <StatusBadge status={w.status} />
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )
        }
      </Show>
    </>
  )
}

/** Create (no `existing`) or edit an endpoint: url, segments, types. */
function WebhookForm({
  existing,
  onSaved,
  onCancel,
}: {
  existing?: WebhookData
  onSaved: (w: WebhookData) => void
  onCancel: () => void
}) {
  const [id, setId] = useState(existing?.id ?? '')
  const [url, setUrl] = useState(existing?.url ?? '')
  const [segments, setSegments] = useState(existing?.segments?.join(', ') ?? '')
  const [types, setTypes] = useState<readonly string[]>(existing?.types ?? TYPES)
  const save = useAction()
  const submit = async (e: Event) => {
    e.preventDefault()
    const keys = segments
      .split(/[\s,]+/)
      .map((s) => s.trim())
      .filter((s) => s !== '')
    const body = {
      url: url.trim(),
      segments: keys.length === 0 ? null : keys,
      types: types.length === TYPES.length ? null : types,
    }
    const w = await save.run(() => api.put<WebhookData>(`/api/webhooks/${seg(id.trim())}`, body))
    if (w) onSaved(w)
  }
  const prefix = existing ? 'edit' : 'new'
  return (
    <form class="form" onSubmit={submit}>
      {!existing && (
        <label>
          Id
          <input
            type="text"
            required
            value={id}
            placeholder="crm"
            onInput={(e) => setId(e.currentTarget.value)}
          />
        </label>
      )}
      <label>
        URL
        <input
          type="url"
          required
          value={url}
          placeholder="https://crm.example/hooks/segflow"
          onInput={(e) => setUrl(e.currentTarget.value)}
        />
      </label>
      <label>
        Segments
        <input
          type="text"
          value={segments}
          placeholder="all segments"
          aria-describedby={`${prefix}-segments-hint`}
          onInput={(e) => setSegments(e.currentTarget.value)}
        />
        <span id={`${prefix}-segments-hint`} class="muted small">
          Segment keys, separated by commas; empty for all.
        </span>
      </label>
      <fieldset>
        <legend>Types</legend>
        {TYPES.map((t) => (
          <label key={t} class="check">
            <input
              type="checkbox"
              checked={types.includes(t)}
              onChange={(e) =>
                setTypes((old) =>
                  e.currentTarget.checked ? [...old, t] : old.filter((x) => x !== t),
                )
              }
            />
            {t}
          </label>
        ))}
      </fieldset>
      {save.error && <ErrorBox error={save.error} />}
      <div class="actions">
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
        <button type="submit" class="primary" disabled={save.busy || types.length === 0}>
          {save.busy ? 'Saving…' : existing ? 'Save' : 'Create endpoint'}
        </button>
      </div>
    </form>
  )
}

type Dialog = null | 'delete' | 'rotate' | { replay: 'failed' | readonly string[] }

export function Webhook({ params }: PageProps) {
  const id = params.id ?? ''
  useTitle(`Webhook ${id}`)
  const hook = useAsync(() => api.get<WebhookData>(`/api/webhooks/${seg(id)}`), [id])
  const canEdit = useCanEdit()
  const [editing, setEditing] = useState(false)
  const [dialog, setDialog] = useState<Dialog>(null)
  const [secret, setSecret] = useState<string | null>(null)
  const [status, setStatus] = useState<DeliveryStatus | ''>('')
  const [selected, setSelected] = useState<readonly string[]>([])
  const [notice, setNotice] = useState<string | null>(null)
  const act = useAction()
  const deliveries = usePaged<Delivery>(
    (cursor) =>
      api.get<Page<Delivery>>(
        `/api/webhooks/${seg(id)}/deliveries${qs({ status: status || undefined, limit: 50, cursor })}`,
      ),
    [id, status],
  )

  const rotate = async () => {
    const w = await act.run(() => api.post<WebhookData>(`/api/webhooks/${seg(id)}/rotate`, {}))
    setDialog(null)
    if (w?.secret) {
      setSecret(w.secret)
      hook.reload()
    }
  }
  const remove = async () => {
    const ok = await act.run(() => api.delete(`/api/webhooks/${seg(id)}`))
    setDialog(null)
    if (ok !== undefined) navigate('/webhooks')
  }
  const replay = async (which: 'failed' | readonly string[]) => {
    const out = await act.run(() =>
      api.post<{ replayed: number }>(
        `/api/webhooks/${seg(id)}/replay`,
        which === 'failed' ? {} : { ids: which },
      ),
    )
    setDialog(null)
    if (out) {
      setNotice(
        `${fmt(out.replayed)} ${out.replayed === 1 ? 'delivery' : 'deliveries'} sent again.`,
      )
      setSelected([])
      deliveries.reload()
    }
  }
  const replayable = (d: Delivery) =>
    d.status === 'failed' || d.status === 'exhausted' || d.status === 'pending'

  return (
    <>
      <p class="crumbs">
        <Link href="/webhooks">Webhooks</Link> /
      </p>
      <Show value={hook} what="Loading the endpoint">
        {(w) => (
          <>
            <div class="head">
              <h1>
                {w.id} <StatusBadge status={w.status} />
              </h1>
              {canEdit && !editing && (
                <div class="buttons">
                  <button type="button" onClick={() => setEditing(true)}>
                    Edit
                  </button>
                  <button type="button" onClick={() => setDialog('rotate')}>
                    Rotate secret
                  </button>
                  <button type="button" class="danger" onClick={() => setDialog('delete')}>
                    Delete
                  </button>
                </div>
              )}
            </div>
            {act.error && <ErrorBox error={act.error} />}
            {secret && (
              <ShownOnce label="New signing secret" value={secret} testId="secret">
                It is shown this once. Requests carry both signatures until{' '}
                {when(w.previousSecretsUntil[w.previousSecretsUntil.length - 1])}, so receivers can
                switch at their own pace.
              </ShownOnce>
            )}
            <section class="card" aria-labelledby="webhook-settings">
              <h2 id="webhook-settings">Endpoint</h2>
              {editing ? (
                <WebhookForm
                  existing={w}
                  onSaved={() => {
                    setEditing(false)
                    hook.reload()
                  }}
                  onCancel={() => setEditing(false)}
                />
              ) : (
                <dl class="kv">
                  <dt>URL</dt>
                  <dd>
                    <code data-testid="webhook-url">{w.url}</code>
                  </dd>
                  <dt>Segments</dt>
                  <dd>{w.segments === null ? 'all' : w.segments.join(', ')}</dd>
                  <dt>Types</dt>
                  <dd>{w.types === null ? 'all' : w.types.join(', ')}</dd>
                  <dt>Historical</dt>
                  <dd>{w.history === 'send' ? 'sent' : 'skipped'}</dd>
                  <dt>Concurrency</dt>
                  <dd>{w.maxInFlight} requests at most</dd>
                  {w.disabledReason && (
                    <>
                      <dt>Disabled</dt>
                      <dd>{w.disabledReason}</dd>
                    </>
                  )}
                  <dt>Updated</dt>
                  <dd>{when(w.updatedAt)}</dd>
                </dl>
              )}
            </section>
          </>
        )}
      </Show>

      {hook.data !== undefined && (
        <section class="card" aria-labelledby="deliveries-title">
          <div class="head">
            <h2 id="deliveries-title">Deliveries</h2>
            <div class="toolbar">
              <label>
                Status
                <select
                  value={status}
                  onChange={(e) => {
                    setStatus(e.currentTarget.value as DeliveryStatus | '')
                    setSelected([])
                  }}
                >
                  <option value="">all</option>
                  {STATUSES.map((s) => (
                    <option key={s} value={s}>
                      {s}
                    </option>
                  ))}
                </select>
              </label>
              <button type="button" onClick={deliveries.reload}>
                Refresh
              </button>
              {canEdit && (
                <>
                  <button
                    type="button"
                    disabled={selected.length === 0}
                    onClick={() => setDialog({ replay: selected })}
                  >
                    Replay selected ({selected.length})
                  </button>
                  <button type="button" onClick={() => setDialog({ replay: 'failed' })}>
                    Replay all failed
                  </button>
                </>
              )}
            </div>
          </div>
          {notice && (
            <p class="notice" role="status" data-testid="replay-notice">
              {notice}
            </p>
          )}
          {deliveries.state === 'error' && deliveries.items.length === 0 && deliveries.error ? (
            <ErrorBox error={deliveries.error} retry={deliveries.reload} />
          ) : deliveries.items.length === 0 ? (
            deliveries.state === 'loading' ? (
              <p class="state loading" role="status">
                Loading deliveries…
              </p>
            ) : (
              <Empty>
                {status === '' ? 'Nothing sent to this endpoint yet.' : `No ${status} deliveries.`}
              </Empty>
            )
          ) : (
            <ul class="deliveries" data-testid="deliveries">
              {deliveries.items.map((d) => {
                const profile = (d.payload.data?.profile ?? {}) as {
                  userId?: string | null
                  id?: string
                }
                const segment = (d.payload.data?.segment ?? {}) as { key?: string }
                return (
                  <li key={d.id} data-status={d.status} data-id={d.id}>
                    <div class="delivery-head">
                      {canEdit && replayable(d) && (
                        <input
                          type="checkbox"
                          aria-label={`Select ${d.id}`}
                          checked={selected.includes(d.id)}
                          onChange={(e) =>
                            setSelected((old) =>
                              e.currentTarget.checked
                                ? [...old, d.id]
                                : old.filter((x) => x !== d.id),
                            )
                          }
                        />
                      )}
                      <StatusBadge status={d.status} />
                      <strong>{d.payload.type}</strong>
                      <span>
                        {profile.userId ?? profile.id ?? ''}
                        {segment.key ? ` · ${segment.key}` : ''}
                      </span>
                      <span class="muted small">
                        <code>{d.id}</code> · {tried(d)} {tried(d) === 1 ? 'attempt' : 'attempts'}
                        {d.nextAttemptAt ? ` · next ${when(d.nextAttemptAt)}` : ''}
                      </span>
                    </div>
                    {d.history.length > 0 && (
                      <details>
                        <summary>Attempts{d.lastError ? ` — last: ${d.lastError}` : ''}</summary>
                        <div
                          class="table-wrap attempts-wrap"
                          tabIndex={0}
                          role="region"
                          aria-label={`Attempts of ${d.id}`}
                        >
                          <table class="attempts">
                            <thead>
                              <tr>
                                <th scope="col" class="num">
                                  #
                                </th>
                                <th scope="col">At</th>
                                <th scope="col">Answer</th>
                                <th scope="col" class="num">
                                  Took
                                </th>
                              </tr>
                            </thead>
                            <tbody>
                              {d.history.map((h) => (
                                <tr key={h.attempt} data-attempt={h.attempt}>
                                  <td class="num">{h.attempt}</td>
                                  <td>{when(h.at)}</td>
                                  <td class="wrap">
                                    {h.status !== null ? `HTTP ${h.status}` : ''}
                                    {h.error ? `${h.status !== null ? ' · ' : ''}${h.error}` : ''}
                                  </td>
                                  <td class="num">{fmt(h.durationMs)} ms</td>
                                </tr>
                              ))}
                            </tbody>
                          </table>
                        </div>
                      </details>
                    )}
                  </li>
                )
              })}
            </ul>
          )}
          <PageMore paged={deliveries} what="deliveries" />
        </section>
      )}

      {dialog === 'delete' && (
        <Ask
          title={`Delete the endpoint ${id}?`}
          confirmLabel="Delete endpoint"
          busy={act.busy}
          onConfirm={remove}
          onCancel={() => setDialog(null)}
        >
          <p>Nothing more is sent to it, and deliveries waiting for a retry are cancelled.</p>
        </Ask>
      )}
      {dialog === 'rotate' && (
        <Ask
          title="Rotate the signing secret?"
          confirmLabel="Rotate secret"
          busy={act.busy}
          onConfirm={rotate}
          onCancel={() => setDialog(null)}
        >
          <p>
            A new secret is made and shown once. For 24 hours requests carry both signatures; then
            only the new one.
          </p>
        </Ask>
      )}
      {dialog !== null && typeof dialog === 'object' && (
        <Ask
          title={
            dialog.replay === 'failed'
              ? 'Replay every failed delivery?'
              : `Replay ${dialog.replay.length} selected ${dialog.replay.length === 1 ? 'delivery' : 'deliveries'}?`
          }
          confirmLabel="Replay"
          busy={act.busy}
          onConfirm={() => replay(dialog.replay)}
          onCancel={() => setDialog(null)}
        >
          <p>
            They are sent again with their original ids (receivers deduplicate on them), their retry
            schedule started over; pending ones are tried now.
          </p>
        </Ask>
      )}
    </>
  )
}
