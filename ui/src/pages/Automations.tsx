/**
 * Automations: the list (trigger segment, actions, status) and one automation with its runs,
 * edited as JSON (the server says what is wrong, with its path) and deleted after a
 * confirmation.
 */
import { useState } from 'preact/hooks'
import { api, qs, seg } from '../api.js'
import type { Page } from '../api.js'
import type { Automation as AutomationData, AutomationRun } from '../api-ops.js'
import { Empty, ErrorBox, Link, Show, useAsync, useCanEdit, useTitle, when } from '../components.js'
import { navigate } from '../navigation.js'
import type { PageProps } from '../router.js'
import { Ask, JsonEditor, PageMore, pretty, StatusBadge, useAction, usePaged } from './kit.js'

const EXAMPLE = {
  name: 'Nudge trials on day 3',
  trigger: { segment: 'trial', on: 'entered', delay: '3d' },
  actions: [{ type: 'add_tag', tag: 'nudged' }],
}

/** What a definition may hold when it is PUT (the answer adds key and dates). */
function definition(a: AutomationData) {
  const { key: _key, createdAt: _c, updatedAt: _u, ...rest } = a
  return rest
}

function actionSummary(a: AutomationData): string {
  return a.actions
    .map((x) =>
      x.type === 'send_email'
        ? `email ${String(x.template)}`
        : x.type === 'webhook'
          ? `webhook ${String(x.webhook)}`
          : x.type.endsWith('_trait')
            ? `${x.type.replace('_', ' ')} ${String(x.trait)}`
            : x.type.endsWith('_tag')
              ? `${x.type.replace('_', ' ')} ${String(x.tag)}`
              : x.type,
    )
    .join(', ')
}

function Trigger({ a }: { a: AutomationData }) {
  return (
    <>
      <Link href={`/segments/${seg(a.trigger.segment)}`}>{a.trigger.segment}</Link>{' '}
      <span class="muted">
        on {a.trigger.on}
        {a.trigger.delay ? `, after ${a.trigger.delay}` : ''}
      </span>
    </>
  )
}

export function Automations(_: PageProps) {
  useTitle('Automations')
  const list = useAsync(() => api.get<{ items: AutomationData[] }>('/api/automations'), [])
  const canEdit = useCanEdit()
  const [creating, setCreating] = useState(false)
  const [key, setKey] = useState('')
  return (
    <>
      <div class="head">
        <h1>Automations</h1>
        {canEdit && !creating && (
          <button type="button" class="primary" onClick={() => setCreating(true)}>
            New automation
          </button>
        )}
      </div>
      {creating && (
        <section class="card" aria-labelledby="new-automation">
          <h2 id="new-automation">New automation</h2>
          <label>
            Key
            <input
              type="text"
              value={key}
              pattern="[a-z0-9][a-z0-9_-]*"
              placeholder="trial-nudge"
              onInput={(e) => setKey(e.currentTarget.value)}
            />
          </label>
          <JsonEditor
            id="automation-json"
            label="Definition (JSON)"
            initial={EXAMPLE}
            saveLabel="Create"
            hint="trigger, conditions and actions as in the README (Automations)."
            save={(v) => api.put(`/api/automations/${seg(key.trim())}`, v)}
            onSaved={() => navigate(`/automations/${seg(key.trim())}`)}
            onCancel={() => setCreating(false)}
          />
        </section>
      )}
      <Show value={list} what="Loading automations">
        {(data) =>
          data.items.length === 0 ? (
            <Empty>
              No automations yet. An automation acts when someone enters or leaves a segment.
            </Empty>
          ) : (
            <div class="table-wrap" tabIndex={0} role="region" aria-label="Automations">
              <table data-testid="automations">
                <thead>
                  <tr>
                    <th scope="col">Automation</th>
                    <th scope="col">Trigger</th>
                    <th scope="col">Actions</th>
                    <th scope="col">Status</th>
                  </tr>
                </thead>
                <tbody>
                  {data.items.map((a) => (
                    <tr key={a.key} data-key={a.key}>
                      <td>
                        <Link href={`/automations/${seg(a.key)}`}>{a.name || a.key}</Link>
                        <div class="muted small">{a.key}</div>
                      </td>
                      <td>
                        <Trigger a={a} />
                      </td>
                      <td class="wrap">{actionSummary(a)}</td>
                      <td>
                        <StatusBadge status={a.enabled ? 'enabled' : 'disabled'} />
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

export function Automation({ params }: PageProps) {
  const key = params.key ?? ''
  useTitle(`Automation ${key}`)
  const a = useAsync(() => api.get<AutomationData>(`/api/automations/${seg(key)}`), [key])
  const canEdit = useCanEdit()
  const [editing, setEditing] = useState(false)
  const [confirming, setConfirming] = useState(false)
  const del = useAction()
  const remove = async () => {
    const ok = await del.run(() => api.delete(`/api/automations/${seg(key)}`))
    setConfirming(false)
    if (ok !== undefined) navigate('/automations')
  }
  return (
    <>
      <p class="crumbs">
        <Link href="/automations">Automations</Link> /
      </p>
      <Show value={a} what="Loading the automation">
        {(data) => (
          <>
            <div class="head">
              <h1>
                {data.name || data.key}{' '}
                <StatusBadge status={data.enabled ? 'enabled' : 'disabled'} />
              </h1>
              {canEdit && !editing && (
                <div class="buttons">
                  <button type="button" onClick={() => setEditing(true)}>
                    Edit
                  </button>
                  <button type="button" class="danger" onClick={() => setConfirming(true)}>
                    Delete
                  </button>
                </div>
              )}
            </div>
            {del.error && <ErrorBox error={del.error} />}
            <section class="card" aria-labelledby="automation-def">
              <h2 id="automation-def">Definition</h2>
              {editing ? (
                <JsonEditor
                  id="automation-json"
                  label="Definition (JSON)"
                  initial={definition(data)}
                  save={(v) => api.put(`/api/automations/${seg(key)}`, v)}
                  onSaved={() => {
                    setEditing(false)
                    a.reload()
                  }}
                  onCancel={() => setEditing(false)}
                />
              ) : (
                <>
                  <dl class="kv">
                    <dt>Key</dt>
                    <dd>{data.key}</dd>
                    <dt>Trigger</dt>
                    <dd data-testid="trigger">
                      <Trigger a={data} />
                    </dd>
                    <dt>Actions</dt>
                    <dd>{actionSummary(data)}</dd>
                    <dt>History</dt>
                    <dd>{data.trigger.history === 'run' ? 'acts on it' : 'skipped'}</dd>
                    <dt>Updated</dt>
                    <dd>{when(data.updatedAt)}</dd>
                  </dl>
                  <details>
                    <summary>JSON</summary>
                    <pre class="code">{pretty(definition(data))}</pre>
                  </details>
                </>
              )}
            </section>
            <Runs automation={key} />
            {confirming && (
              <Ask
                title={`Delete ${data.name || data.key}?`}
                confirmLabel="Delete automation"
                busy={del.busy}
                onConfirm={remove}
                onCancel={() => setConfirming(false)}
              >
                <p>
                  Scheduled runs are skipped and nothing new starts. Its runs stay in the history of
                  the people they acted on.
                </p>
              </Ask>
            )}
          </>
        )}
      </Show>
    </>
  )
}

function Runs({ automation }: { automation: string }) {
  const runs = usePaged<AutomationRun>(
    (cursor) =>
      api.get<Page<AutomationRun>>(
        `/api/automations/${seg(automation)}/runs${qs({ limit: 50, cursor })}`,
      ),
    [automation],
  )
  return (
    <section class="card" aria-labelledby="runs-title">
      <div class="head">
        <h2 id="runs-title">Runs</h2>
        <button type="button" onClick={runs.reload} disabled={runs.state === 'loading'}>
          Refresh
        </button>
      </div>
      <p class="muted small">Oldest first: one run for each time someone triggered it.</p>
      {runs.state === 'error' && runs.items.length === 0 && runs.error ? (
        <ErrorBox error={runs.error} retry={runs.reload} />
      ) : runs.items.length === 0 ? (
        runs.state === 'loading' ? (
          <p class="state loading" role="status">
            Loading runs…
          </p>
        ) : (
          <Empty>
            No runs yet. A run starts when someone enters or leaves the trigger segment.
          </Empty>
        )
      ) : (
        <div class="table-wrap" tabIndex={0} role="region" aria-label="Runs">
          <table data-testid="runs">
            <thead>
              <tr>
                <th scope="col">Person</th>
                <th scope="col">Transition</th>
                <th scope="col">Status</th>
                <th scope="col">Due</th>
                <th scope="col" class="num">
                  Step
                </th>
                <th scope="col" class="num">
                  Attempts
                </th>
                <th scope="col">Detail</th>
              </tr>
            </thead>
            <tbody>
              {runs.items.map((r) => (
                <tr key={r.transitionId} data-status={r.status}>
                  <td>
                    <Link href={`/people/${seg(r.profileId)}`}>{r.profileId}</Link>
                  </td>
                  <td>
                    {r.type.replace('segment.', '')} {r.segment}
                  </td>
                  <td>
                    <StatusBadge status={r.status} />
                  </td>
                  <td>{when(r.dueAt)}</td>
                  <td class="num">{r.step}</td>
                  <td class="num">{r.attempts}</td>
                  <td class="wrap">{r.detail ?? '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <PageMore paged={runs} what="runs" />
    </section>
  )
}
