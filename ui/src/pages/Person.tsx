import { Fragment } from 'preact'
import { useState } from 'preact/hooks'
import { api, qs, seg } from '../api.js'
import type { Explain, ExplanationNode, Page, Profile, ProfileEvent, Segment } from '../api.js'
import { Empty, ErrorBox, fmt, Link, Loading, Show, useAsync, when } from '../components.js'
import type { PageProps } from '../router.js'

/** One person: who they are, what they did, where they are, and why. */
export function Person({ params, query }: PageProps) {
  const id = params.id ?? ''
  const profile = useAsync(() => api.get<Profile>(`/api/profiles/${seg(id)}`), [id])
  return (
    <Show value={profile} what="Loading the person">
      {(p) => (
        <>
          <nav class="small" aria-label="Breadcrumb">
            <Link href="/people">People</Link> / <code>{p.userId ?? p.id}</code>
          </nav>
          <h1>{p.userId ?? (p.anonymousIds[0] ? `Anonymous ${p.anonymousIds[0]}` : p.id)}</h1>
          <p class="muted small">
            First seen {when(p.firstSeen)} · last seen {when(p.lastSeen)} · profile{' '}
            <code>{p.id}</code>
          </p>
          <div class="grid2">
            <Identity p={p} />
            <Reach p={p} />
            <Memberships p={p} />
            <Scores p={p} />
            <Traits p={p} />
            <ExplainPanel p={p} initial={query.get('segment')} />
          </div>
          <Timeline id={p.id} />
        </>
      )}
    </Show>
  )
}

function Identity({ p }: { p: Profile }) {
  return (
    <section class="card" aria-labelledby="ids-title">
      <h2 id="ids-title">Identities</h2>
      {p.identities.length === 0 ? (
        <Empty>No identities.</Empty>
      ) : (
        <dl class="kv" data-testid="identities">
          {p.identities.map((i) => (
            <Fragment key={`${i.type}-${i.value}`}>
              <dt>{i.type}</dt>
              <dd>
                <code>{i.value}</code> <span class="muted small">since {when(i.firstSeen)}</span>
              </dd>
            </Fragment>
          ))}
        </dl>
      )}
    </section>
  )
}

function Reach({ p }: { p: Profile }) {
  const purposes = Object.entries(p.consent)
  return (
    <section class="card" aria-labelledby="reach-title">
      <h2 id="reach-title">Email and consent</h2>
      <dl class="kv" data-testid="reach">
        <dt>Email</dt>
        <dd>{p.emails.join(', ') || '—'}</dd>
        <dt>Email status</dt>
        <dd>
          <span class={`badge ${p.emailStatus === 'subscribed' ? 'live' : ''}`}>
            {p.emailStatus}
          </span>
        </dd>
        {purposes.map(([purpose, c]) => (
          <Fragment key={purpose}>
            <dt>Consent: {purpose}</dt>
            <dd>
              {c === null ? (
                <span class="muted">not asked yet</span>
              ) : (
                <>
                  {c.state}{' '}
                  <span class="muted small">
                    ({c.source}, {when(c.at)})
                  </span>
                </>
              )}
            </dd>
          </Fragment>
        ))}
      </dl>
    </section>
  )
}

function Memberships({ p }: { p: Profile }) {
  return (
    <section class="card" aria-labelledby="segs-title">
      <h2 id="segs-title">Segments ({fmt(p.segments.length)})</h2>
      {p.segments.length === 0 ? (
        <Empty>Not in any segment right now.</Empty>
      ) : (
        <ul class="plain" data-testid="memberships">
          {p.segments.map((s) => (
            <li key={s.key}>
              <Link href={`/segments/${seg(s.key)}`}>{s.key}</Link>{' '}
              <span class="muted small">since {when(s.since)}</span>
            </li>
          ))}
        </ul>
      )}
    </section>
  )
}

function Scores({ p }: { p: Profile }) {
  const scores = Object.entries(p.scores)
  return (
    <section class="card" aria-labelledby="scores-title">
      <h2 id="scores-title">Scores and lifecycle</h2>
      <dl class="kv" data-testid="scores">
        <dt>Lifecycle stage</dt>
        <dd>
          {p.lifecycle ? (
            <>
              {p.lifecycle.name} <span class="muted small">since {when(p.lifecycle.since)}</span>
            </>
          ) : (
            <span class="muted">—</span>
          )}
        </dd>
        {scores.map(([model, score]) => (
          <Fragment key={model}>
            <dt>Score: {model}</dt>
            <dd>
              {fmt(Math.round(score * 100) / 100)}
              <Breakdown profileId={p.id} model={model} />
            </dd>
          </Fragment>
        ))}
        {scores.length === 0 && (
          <>
            <dt>Scores</dt>
            <dd class="muted">no scoring models</dd>
          </>
        )}
      </dl>
    </section>
  )
}

interface ScoreExplanation {
  score: number
  criteria: { criterion: string; kind: 'rule' | 'event'; points: number }[]
}

/** Where a score's points come from, criterion by criterion (loaded when opened). */
function Breakdown({ profileId, model }: { profileId: string; model: string }) {
  const [open, setOpen] = useState(false)
  const explained = useAsync(
    () =>
      open
        ? api.get<ScoreExplanation>(`/api/profiles/${seg(profileId)}/scores/${seg(model)}`)
        : Promise.resolve(null),
    [open, profileId, model],
  )
  return (
    <details
      class="breakdown"
      data-testid={`score-breakdown-${model}`}
      onToggle={(e) => setOpen((e.currentTarget as HTMLDetailsElement).open)}
    >
      <summary>Breakdown</summary>
      <Show value={explained} what="Loading the breakdown">
        {(b) =>
          b === null ? null : b.criteria.length === 0 ? (
            <Empty>No criterion gives points.</Empty>
          ) : (
            <table class="small">
              <thead>
                <tr>
                  <th scope="col">Criterion</th>
                  <th scope="col" class="num">
                    Points
                  </th>
                </tr>
              </thead>
              <tbody>
                {b.criteria.map((c) => (
                  <tr key={c.criterion} data-testid="score-criterion">
                    <td>
                      <code>{c.criterion}</code> <span class="muted">({c.kind})</span>
                    </td>
                    <td class="num">{fmt(Math.round(c.points * 100) / 100)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </Show>
    </details>
  )
}

function Traits({ p }: { p: Profile }) {
  const traits = Object.entries(p.traits)
  return (
    <section class="card" aria-labelledby="traits-title">
      <h2 id="traits-title">Traits</h2>
      {traits.length === 0 ? (
        <Empty>No traits.</Empty>
      ) : (
        <dl class="kv" data-testid="traits">
          {traits.map(([k, v]) => (
            <Fragment key={k}>
              <dt>{k}</dt>
              <dd>
                <code>{typeof v === 'string' ? v : JSON.stringify(v)}</code>
              </dd>
            </Fragment>
          ))}
        </dl>
      )}
    </section>
  )
}

/** Why the person is or is not in a chosen segment, condition by condition. */
function ExplainPanel({ p, initial }: { p: Profile; initial: string | null }) {
  const segments = useAsync(() => api.get<Page<Segment>>('/api/segments'), [])
  const [key, setKey] = useState(initial ?? p.segments[0]?.key ?? '')
  const explain = useAsync(
    () =>
      key === ''
        ? Promise.resolve(null)
        : api.get<Explain>(`/api/profiles/${seg(p.id)}/explain/${seg(key)}`),
    [p.id, key],
  )
  const options = segments.data?.items ?? []
  return (
    <section class="card" aria-labelledby="explain-title">
      <h2 id="explain-title">Explain</h2>
      <label>
        Segment
        <select value={key} onChange={(e) => setKey(e.currentTarget.value)}>
          <option value="">Choose a segment…</option>
          {options.map((s) => (
            <option key={s.key} value={s.key}>
              {s.name ? `${s.name} (${s.key})` : s.key}
            </option>
          ))}
        </select>
      </label>
      {segments.state === 'error' && <ErrorBox error={segments.error} retry={segments.reload} />}
      {key !== '' && explain.state === 'loading' && <Loading what="Explaining" />}
      {explain.state === 'error' && <ErrorBox error={explain.error} retry={explain.reload} />}
      {explain.state === 'ok' && explain.data && (
        <div data-testid="explanation">
          <p>
            <strong class={explain.data.member ? 'up' : 'down'}>
              {explain.data.member ? 'In' : 'Not in'} {explain.data.segment}
            </strong>
            {explain.data.since && <span class="muted"> since {when(explain.data.since)}</span>}
            {explain.data.lastTransition && (
              <span class="muted small">
                {' '}
                · last {explain.data.lastTransition.type} {when(explain.data.lastTransition.at)} (
                {explain.data.lastTransition.reason})
              </span>
            )}
          </p>
          <ul class="tree">
            <ExplainNode node={explain.data.explanation} />
          </ul>
        </div>
      )}
    </section>
  )
}

function ExplainNode({ node }: { node: ExplanationNode }) {
  const values = Object.entries(node.values)
  return (
    <li class={node.result ? 'ok' : 'no'}>
      <code>{node.rule}</code>
      <span class="sr-only">{node.result ? ' (true)' : ' (false)'}</span>
      {values.length > 0 && (
        <span class="muted small">
          {' '}
          —{' '}
          {values
            .map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`)
            .join(', ')}
        </span>
      )}
      {node.nextChangeAt && <span class="muted small"> · changes {when(node.nextChangeAt)}</span>}
      {node.children.length > 0 && (
        <ul class="tree">
          {node.children.map((c) => (
            <ExplainNode key={c.path} node={c} />
          ))}
        </ul>
      )}
    </li>
  )
}

/** The person's events, newest first, a page at a time. */
function Timeline({ id }: { id: string }) {
  const [pages, setPages] = useState<(string | null)[]>([null])
  const cursor = pages[pages.length - 1] ?? null
  const page = useAsync(
    () =>
      api.get<Page<ProfileEvent>>(`/api/profiles/${seg(id)}/events${qs({ limit: 50, cursor })}`),
    [id, cursor],
  )
  return (
    <section class="card" aria-labelledby="events-title">
      <h2 id="events-title">Events</h2>
      {page.state === 'error' && <ErrorBox error={page.error} retry={page.reload} />}
      {page.data === undefined && page.state === 'loading' && <Loading what="Loading events" />}
      {page.data && page.data.items.length === 0 && <Empty>No events.</Empty>}
      {page.data && page.data.items.length > 0 && (
        <ol class="feed" data-testid="timeline">
          {page.data.items.map((e) => (
            <li key={e.messageId}>
              <span class="kind entered">{e.type}</span> <strong>{e.name ?? ''}</strong>{' '}
              <span class="muted small">{when(e.timestamp)}</span>
              {(e.properties || e.traits) && (
                <span class="small">
                  {' '}
                  <code>{JSON.stringify(e.properties ?? e.traits)}</code>
                </span>
              )}
            </li>
          ))}
        </ol>
      )}
      <div class="actions">
        <button
          type="button"
          disabled={pages.length <= 1}
          onClick={() => setPages((c) => c.slice(0, -1))}
        >
          Newer
        </button>
        <button
          type="button"
          disabled={!page.data?.nextCursor}
          onClick={() => page.data?.nextCursor && setPages((c) => [...c, page.data!.nextCursor])}
        >
          Older
        </button>
      </div>
    </section>
  )
}
