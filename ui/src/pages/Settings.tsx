/**
 * Settings: email (From, consent mode, frequency caps), the data schema (what is collected,
 * edited as JSON), and the workspace's write keys.
 */
import { useState } from 'preact/hooks'
import { api } from '../api.js'
import type { ApiKey, DataSchema, EmailSettings } from '../api-ops.js'
import {
  Empty,
  ErrorBox,
  fmt,
  Show,
  Tabs,
  useAsync,
  useCanEdit,
  useTitle,
  when,
} from '../components.js'
import { navigate } from '../navigation.js'
import type { PageProps } from '../router.js'
import { JsonEditor, pretty, ShownOnce, useAction, useIsAdmin } from './kit.js'

type Tab = 'email' | 'schema' | 'keys'
const TABS: readonly { id: Tab; title: string }[] = [
  { id: 'email', title: 'Email' },
  { id: 'schema', title: 'Data schema' },
  { id: 'keys', title: 'API keys' },
]

export function Settings({ query }: PageProps) {
  useTitle('Settings')
  const asked = query.get('tab')
  const tab: Tab = TABS.some((t) => t.id === asked) ? (asked as Tab) : 'email'
  return (
    <>
      <h1>Settings</h1>
      <Tabs
        tabs={TABS}
        current={tab}
        label="Settings"
        onChange={(t) => navigate(t === 'email' ? '/settings' : `/settings?tab=${t}`)}
      />
      <div role="tabpanel" id={`panel-${tab}`} aria-labelledby={`tab-${tab}`}>
        {tab === 'email' && <Email />}
        {tab === 'schema' && <Schema />}
        {tab === 'keys' && <Keys />}
      </div>
    </>
  )
}

interface Cap {
  category: string
  max: string
  within: string
}

function Email() {
  const settings = useAsync(() => api.get<EmailSettings>('/api/email/settings'), [])
  // Here, not in the form: the form starts again from what the server answers after a save.
  const [saved, setSaved] = useState(false)
  return (
    <Show value={settings} what="Loading email settings">
      {(s) => (
        <EmailForm
          key={s.updatedAt ?? 'default'}
          s={s}
          saved={saved}
          setSaved={setSaved}
          onSaved={settings.reload}
        />
      )}
    </Show>
  )
}

function EmailForm({
  s,
  saved,
  setSaved,
  onSaved,
}: {
  s: EmailSettings
  saved: boolean
  setSaved: (saved: boolean) => void
  onSaved: () => void
}) {
  const canEdit = useCanEdit()
  const [from, setFrom] = useState(s.from)
  const [mode, setMode] = useState(s.consent.mode)
  const [caps, setCaps] = useState<Cap[]>(
    s.caps.map((c) => ({ category: c.category, max: String(c.max), within: c.within })),
  )
  const save = useAction()
  const setCap = (i: number, patch: Partial<Cap>) =>
    setCaps((old) => old.map((c, n) => (n === i ? { ...c, ...patch } : c)))
  const submit = async (e: Event) => {
    e.preventDefault()
    setSaved(false)
    const body = {
      from: from.trim(),
      consent: { mode },
      caps: caps.map((c) => ({
        category: c.category,
        max: Number(c.max),
        within: c.within.trim(),
      })),
    }
    const out = await save.run(() => api.put('/api/email/settings', body))
    if (out !== undefined) {
      setSaved(true)
      onSaved()
    }
  }
  return (
    <form class="card form" onSubmit={submit} aria-labelledby="email-title">
      <h2 id="email-title">Email</h2>
      <fieldset disabled={!canEdit} class="plain">
        <label>
          From address
          <input
            type="text"
            name="from"
            required
            value={from}
            placeholder="Shop News <news@shop.example>"
            onInput={(e) => setFrom(e.currentTarget.value)}
          />
        </label>
        <label>
          Marketing consent
          <select
            name="consent"
            value={mode}
            onChange={(e) => setMode(e.currentTarget.value as 'opt_in' | 'opt_out')}
          >
            <option value="opt_in">opt-in: only people who granted email_marketing</option>
            <option value="opt_out">opt-out: everyone who has not refused</option>
          </select>
        </label>
        <fieldset>
          <legend>Frequency caps</legend>
          <p class="muted small">
            {caps.length === 0
              ? 'No caps: no limit on how many emails a person gets.'
              : 'At most this many emails of a category per person within the window.'}
          </p>
          {caps.map((c, i) => (
            <div class="row cap" key={i}>
              <label>
                Category
                <select
                  value={c.category}
                  onChange={(e) => setCap(i, { category: e.currentTarget.value })}
                >
                  <option value="marketing">marketing</option>
                  <option value="transactional">transactional</option>
                </select>
              </label>
              <label>
                At most
                <input
                  type="number"
                  min={0}
                  required
                  value={c.max}
                  onInput={(e) => setCap(i, { max: e.currentTarget.value })}
                />
              </label>
              <label>
                Within
                <input
                  type="text"
                  required
                  value={c.within}
                  placeholder="7d"
                  onInput={(e) => setCap(i, { within: e.currentTarget.value })}
                />
              </label>
              {canEdit && (
                <button
                  type="button"
                  aria-label={`Remove cap ${i + 1}`}
                  onClick={() => setCaps((old) => old.filter((_, n) => n !== i))}
                >
                  Remove
                </button>
              )}
            </div>
          ))}
          {canEdit && (
            <button
              type="button"
              onClick={() =>
                setCaps((old) => [...old, { category: 'marketing', max: '3', within: '7d' }])
              }
            >
              Add a cap
            </button>
          )}
        </fieldset>
      </fieldset>
      {save.error && <ErrorBox error={save.error} />}
      <p class="muted small">Last changed {s.updatedAt ? when(s.updatedAt) : 'never'}.</p>
      {canEdit && (
        <div class="actions">
          {saved && (
            <span role="status" class="saved">
              Saved.
            </span>
          )}
          <button type="submit" class="primary" disabled={save.busy}>
            {save.busy ? 'Saving…' : 'Save email settings'}
          </button>
        </div>
      )}
    </form>
  )
}

function Schema() {
  const schema = useAsync(() => api.get<DataSchema>('/api/schema'), [])
  const isAdmin = useIsAdmin()
  const [editing, setEditing] = useState(false)
  return (
    <Show value={schema} what="Loading the data schema">
      {(s) => (
        <section class="card" aria-labelledby="schema-title">
          <div class="head">
            <h2 id="schema-title">
              Data schema <span class="badge">mode {s.mode}</span>
            </h2>
            {isAdmin && !editing && (
              <button type="button" onClick={() => setEditing(true)}>
                Edit
              </button>
            )}
          </div>
          <p class="muted small">
            <strong>allow</strong> keeps everything (the schema only marks PII);{' '}
            <strong>drop</strong> removes traits and properties it does not name;{' '}
            <strong>reject</strong> refuses messages that carry them. Last changed{' '}
            {s.updatedAt ? when(s.updatedAt) : 'never'}.
          </p>
          {editing ? (
            <JsonEditor
              id="schema-json"
              label="Schema (JSON)"
              initial={{ mode: s.mode, traits: s.traits, events: s.events }}
              save={(v) => api.put('/api/schema', v)}
              onSaved={() => {
                setEditing(false)
                schema.reload()
              }}
              onCancel={() => setEditing(false)}
            />
          ) : (
            <pre class="code" data-testid="schema">
              {pretty({ mode: s.mode, traits: s.traits, events: s.events })}
            </pre>
          )}
          <h3>Dropped since the server started</h3>
          {Object.keys(s.dropped).length === 0 ? (
            <p class="muted">Nothing dropped.</p>
          ) : (
            <ul>
              {Object.entries(s.dropped).map(([field, n]) => (
                <li key={field}>
                  <code>{field}</code>: {fmt(n)}
                </li>
              ))}
            </ul>
          )}
        </section>
      )}
    </Show>
  )
}

function Keys() {
  const isAdmin = useIsAdmin()
  const keys = useAsync(
    () =>
      isAdmin
        ? api.get<{ items: ApiKey[] }>('/api/keys')
        : Promise.resolve({ items: [] as ApiKey[] }),
    [isAdmin],
  )
  const [name, setName] = useState('')
  const [made, setMade] = useState<(ApiKey & { key: string }) | null>(null)
  const create = useAction()
  if (!isAdmin)
    return (
      <section class="card">
        <p class="muted">Only admins can see and make keys.</p>
      </section>
    )
  const submit = async (e: Event) => {
    e.preventDefault()
    const out = await create.run(() =>
      api.post<ApiKey & { key: string }>('/api/keys', {
        kind: 'write',
        ...(name.trim() ? { name: name.trim() } : {}),
      }),
    )
    if (out) {
      setMade(out)
      setName('')
      keys.reload()
    }
  }
  return (
    <section class="card" aria-labelledby="keys-title">
      <h2 id="keys-title">Keys</h2>
      <p class="muted small">
        Write keys send events (the tracking API); admin keys are made with{' '}
        <code>segflow keys create --type admin</code>. Only the first characters of each key are
        kept to tell them apart.
      </p>
      {made && <ShownOnce label={`New write key ${made.name}`} value={made.key} testId="new-key" />}
      <form class="toolbar" onSubmit={submit}>
        <label>
          Name of a new write key
          <input
            type="text"
            value={name}
            placeholder="website"
            maxLength={100}
            onInput={(e) => setName(e.currentTarget.value)}
          />
        </label>
        <button type="submit" class="primary" disabled={create.busy}>
          {create.busy ? 'Creating…' : 'Create write key'}
        </button>
      </form>
      {create.error && <ErrorBox error={create.error} />}
      <Show value={keys} what="Loading keys">
        {(data) =>
          data.items.length === 0 ? (
            <Empty>No keys.</Empty>
          ) : (
            <div class="table-wrap" tabIndex={0} role="region" aria-label="Keys">
              <table data-testid="keys">
                <thead>
                  <tr>
                    <th scope="col">Key</th>
                    <th scope="col">Name</th>
                    <th scope="col">Kind</th>
                    <th scope="col">Created</th>
                    <th scope="col">Revoked</th>
                  </tr>
                </thead>
                <tbody>
                  {data.items.map((k) => (
                    <tr key={k.id} data-id={k.id}>
                      <td>
                        <code>{k.prefix}…</code>
                        <div class="muted small">{k.id}</div>
                      </td>
                      <td>{k.name}</td>
                      <td>{k.kind}</td>
                      <td>{when(k.createdAt)}</td>
                      <td>{k.revokedAt ? when(k.revokedAt) : '—'}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )
        }
      </Show>
    </section>
  )
}
