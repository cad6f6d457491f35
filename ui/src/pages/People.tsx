import { useEffect, useState } from 'preact/hooks'
import { api, qs } from '../api.js'
import type { ProfileMatch } from '../api.js'
import { Empty, ErrorBox, Link, Loading, useAsync, when } from '../components.js'
import { navigate } from '../navigation.js'
import type { PageProps } from '../router.js'

/** People search: by the start of a userId, anonymousId or email (GET /api/profiles?q=). */
export function People({ query }: PageProps) {
  const [text, setText] = useState(query.get('q') ?? '')
  const [q, setQ] = useState(text.trim())
  // Typing settles for a moment before the search runs; the address keeps the query.
  useEffect(() => {
    const id = setTimeout(() => {
      setQ(text.trim())
      history.replaceState(null, '', `/people${qs({ q: text.trim() || undefined })}`)
    }, 250)
    return () => clearTimeout(id)
  }, [text])
  const results = useAsync(
    () =>
      q === ''
        ? Promise.resolve(null)
        : api.get<{ items: ProfileMatch[] }>(`/api/profiles${qs({ q, limit: 50 })}`),
    [q],
  )
  const items = results.data?.items ?? []
  return (
    <>
      <h1>People</h1>
      <form
        class="toolbar"
        role="search"
        onSubmit={(e) => {
          e.preventDefault()
          const first = items[0]
          if (first && q === text.trim()) navigate(`/people/${encodeURIComponent(first.id)}`)
          else setQ(text.trim())
        }}
      >
        <label>
          Find by userId, anonymousId or email
          <input
            type="search"
            name="q"
            value={text}
            autofocus
            placeholder="e.g. ann@example.com"
            onInput={(e) => setText(e.currentTarget.value)}
          />
        </label>
        <button type="submit">Search</button>
      </form>
      {q === '' && <Empty>Type the start of a userId, an anonymousId or an email address.</Empty>}
      {q !== '' && results.state === 'error' && (
        <ErrorBox error={results.error} retry={results.reload} />
      )}
      {q !== '' && results.state === 'loading' && results.data === undefined && (
        <Loading what="Searching" />
      )}
      {q !== '' && results.data && items.length === 0 && (
        <Empty>No one's userId, anonymousId or email starts with “{q}”.</Empty>
      )}
      {items.length > 0 && (
        <div class="table-wrap">
          <table data-testid="people-results">
            <thead>
              <tr>
                <th>User ID</th>
                <th>Email</th>
                <th class="hide-narrow">Anonymous IDs</th>
                <th class="hide-narrow">Matched</th>
                <th>Last seen</th>
              </tr>
            </thead>
            <tbody>
              {items.map((p) => (
                <tr key={p.id}>
                  <td>
                    <Link href={`/people/${encodeURIComponent(p.id)}`}>
                      {p.userId ?? '(anonymous)'}
                    </Link>
                  </td>
                  <td>{p.email ?? <span class="muted">—</span>}</td>
                  <td class="hide-narrow">{p.anonymousIds.join(', ') || '—'}</td>
                  <td class="hide-narrow">
                    <span class="muted">{p.matched.type}</span> <code>{p.matched.value}</code>
                  </td>
                  <td>{when(p.lastSeen)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  )
}
