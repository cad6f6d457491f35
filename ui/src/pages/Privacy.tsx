/**
 * Privacy: export and erasure requests (an erasure only after typing the person's id), the
 * requests made so far, and the audit log of every change, newest first.
 */
import { useEffect, useState } from 'preact/hooks'
import { api, qs } from '../api.js'
import type { ApiKey, AuditEntry, PrivacyRequest } from '../api-ops.js'
import { Empty, ErrorBox, fmt, Show, useAsync, useTitle, when } from '../components.js'
import type { PageProps } from '../router.js'
import { PageMore, TypedConfirm, useAction, useIsAdmin, usePaged } from './kit.js'

interface RequestAnswer {
  readonly request: PrivacyRequest
  readonly data?: unknown
}

export function Privacy(_: PageProps) {
  useTitle('Privacy')
  const requests = useAsync(() => api.get<{ items: PrivacyRequest[] }>('/api/privacy/requests'), [])
  const isAdmin = useIsAdmin()
  return (
    <>
      <h1>Privacy</h1>
      {isAdmin ? (
        <NewRequest onDone={requests.reload} />
      ) : (
        <p class="muted">Only admins can make export and erasure requests.</p>
      )}
      <section class="card" aria-labelledby="requests-title">
        <h2 id="requests-title">Requests</h2>
        <Show value={requests} what="Loading requests">
          {(data) =>
            data.items.length === 0 ? (
              <Empty>No export or erasure requests yet.</Empty>
            ) : (
              <div class="table-wrap" tabIndex={0} role="region" aria-label="Requests">
                <table data-testid="requests">
                  <thead>
                    <tr>
                      <th scope="col">Request</th>
                      <th scope="col">Type</th>
                      <th scope="col">Regulation</th>
                      <th scope="col">Status</th>
                      <th scope="col">Received</th>
                      <th scope="col">Due</th>
                      <th scope="col">Result</th>
                    </tr>
                  </thead>
                  <tbody>
                    {data.items.map((r) => (
                      <tr key={r.id} data-type={r.type}>
                        <td>
                          <code>{r.id}</code>
                        </td>
                        <td>{r.type}</td>
                        <td>{r.regulation.toUpperCase()}</td>
                        <td>{r.status}</td>
                        <td>{when(r.receivedAt)}</td>
                        <td>{when(r.dueAt)}</td>
                        <td class="wrap">{result(r)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            )
          }
        </Show>
      </section>
      <Audit />
    </>
  )
}

function result(r: PrivacyRequest): string {
  if (!r.result) return '—'
  if (r.result.error) return r.result.error
  if (!r.result.found) return 'nothing held about them'
  const count = (t: Record<string, number> | undefined) =>
    Object.values(t ?? {}).reduce((a, b) => a + (typeof b === 'number' ? b : 0), 0)
  const plural = (n: number, one: string, many: string) => `${fmt(n)} ${n === 1 ? one : many}`
  if (r.type === 'export') return `${plural(count(r.result.rows), 'row', 'rows')} exported`
  const ids = r.result.suppressedIdentifiers
  return (
    `${plural(count(r.result.erased), 'row', 'rows')} erased` +
    (ids === undefined ? '' : `, ${plural(ids, 'identifier', 'identifiers')} suppressed`)
  )
}

function NewRequest({ onDone }: { onDone: () => void }) {
  const [type, setType] = useState<'export' | 'erasure'>('export')
  const [profile, setProfile] = useState('')
  const [regulation, setRegulation] = useState<'gdpr' | 'ccpa'>('gdpr')
  const [confirming, setConfirming] = useState(false)
  const [answer, setAnswer] = useState<RequestAnswer | null>(null)
  const [download, setDownload] = useState<string | null>(null)
  const act = useAction()
  // A download link made from the export in the answer; let go when replaced or left.
  useEffect(() => () => void (download && URL.revokeObjectURL(download)), [download])

  const send = async () => {
    const out = await act.run(() =>
      api.post<RequestAnswer>('/api/privacy/requests', {
        type,
        profile: profile.trim(),
        regulation,
      }),
    )
    setConfirming(false)
    if (!out) return
    setAnswer(out)
    setDownload(
      out.data === undefined
        ? null
        : URL.createObjectURL(
            new Blob([JSON.stringify(out.data, null, 2)], { type: 'application/json' }),
          ),
    )
    if (type === 'erasure') setProfile('')
    onDone()
  }
  const submit = (e: Event) => {
    e.preventDefault()
    if (type === 'erasure') setConfirming(true)
    else void send()
  }
  return (
    <section class="card" aria-labelledby="new-request">
      <h2 id="new-request">New request</h2>
      <form class="form" onSubmit={submit}>
        <fieldset>
          <legend>Type</legend>
          <label class="check">
            <input
              type="radio"
              name="type"
              value="export"
              checked={type === 'export'}
              onChange={() => setType('export')}
            />
            Export: everything held about the person, as JSON
          </label>
          <label class="check">
            <input
              type="radio"
              name="type"
              value="erasure"
              checked={type === 'erasure'}
              onChange={() => setType('erasure')}
            />
            Erasure: delete the person everywhere (cannot be undone)
          </label>
        </fieldset>
        <div class="row">
          <label>
            Person
            <input
              type="text"
              required
              value={profile}
              placeholder="userId, email, anonymousId or profile id"
              onInput={(e) => setProfile(e.currentTarget.value)}
            />
          </label>
          <label>
            Regulation
            <select
              value={regulation}
              onChange={(e) => setRegulation(e.currentTarget.value as 'gdpr' | 'ccpa')}
            >
              <option value="gdpr">GDPR (due in a month)</option>
              <option value="ccpa">CCPA (due in 45 days)</option>
            </select>
          </label>
        </div>
        {act.error && <ErrorBox error={act.error} />}
        <div class="actions">
          <button
            type="submit"
            class={type === 'erasure' ? 'danger' : 'primary'}
            disabled={act.busy || profile.trim() === ''}
          >
            {type === 'erasure' ? 'Erase…' : 'Export'}
          </button>
        </div>
      </form>
      {answer && (
        <p class="notice" role="status" data-testid="request-done">
          {answer.request.type === 'erasure' ? 'Erasure' : 'Export'}{' '}
          <code>{answer.request.id}</code> {answer.request.status}: {result(answer.request)}.{' '}
          {download && (
            <a href={download} download={`${answer.request.id}.json`}>
              Download the export
            </a>
          )}
        </p>
      )}
      {confirming && (
        <TypedConfirm
          title="Erase this person?"
          expected={profile.trim()}
          confirmLabel="Erase for good"
          busy={act.busy}
          onConfirm={() => void send()}
          onCancel={() => setConfirming(false)}
        >
          <p>
            Everything segflow holds about <strong>{profile.trim()}</strong> (and every profile
            merged into them) is deleted; webhooks are told they left their segments. This cannot be
            undone.
          </p>
        </TypedConfirm>
      )}
    </section>
  )
}

/** `user:ann@example.com` → ann@example.com; key ids and `cli` as they are. */
const actor = (a: string) => (a.startsWith('user:') ? a.slice(5) : a)

function Audit() {
  const audit = usePaged<AuditEntry>(
    (before) => api.get(`/api/audit${qs({ limit: 50, before })}`),
    [],
  )
  // Admins may list keys: a key's id is shown with its name ("SEGFLOW_ADMIN_KEY").
  const isAdmin = useIsAdmin()
  const keys = useAsync(
    () => (isAdmin ? api.get<{ items: ApiKey[] }>('/api/keys') : Promise.resolve({ items: [] })),
    [isAdmin],
  )
  const keyName = new Map((keys.data?.items ?? []).map((k) => [k.id, k.name]))
  return (
    <section class="card" aria-labelledby="audit-title">
      <div class="head">
        <h2 id="audit-title">Audit log</h2>
        <button type="button" onClick={audit.reload} disabled={audit.state === 'loading'}>
          Refresh
        </button>
      </div>
      <p class="muted small">
        Every change, export and erasure, newest first. Nothing removes an entry.
      </p>
      {audit.state === 'error' && audit.items.length === 0 && audit.error ? (
        <ErrorBox error={audit.error} retry={audit.reload} />
      ) : audit.items.length === 0 ? (
        audit.state === 'loading' ? (
          <p class="state loading" role="status">
            Loading the audit log…
          </p>
        ) : (
          <Empty>Nothing recorded yet.</Empty>
        )
      ) : (
        <div class="table-wrap" tabIndex={0} role="region" aria-label="Audit log">
          <table data-testid="audit">
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Who</th>
                <th scope="col">What</th>
                <th scope="col">Target</th>
                <th scope="col" class="num">
                  Status
                </th>
              </tr>
            </thead>
            <tbody>
              {audit.items.map((e) => (
                <tr key={e.id}>
                  <td>{when(e.at)}</td>
                  <td data-testid="actor">
                    {actor(e.actor)}
                    {keyName.has(e.actor) && <div class="muted small">{keyName.get(e.actor)}</div>}
                  </td>
                  <td>
                    <code>{e.action}</code>
                  </td>
                  <td class="wrap">{e.target ?? '—'}</td>
                  <td class="num">{e.status === 0 ? '—' : e.status}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <PageMore paged={audit} what="entries" />
    </section>
  )
}
