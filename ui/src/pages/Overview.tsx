import { useRef, useState } from 'preact/hooks'
import { api } from '../api.js'
import type { Overview as OverviewData, Transition } from '../api.js'
import {
  Empty,
  ErrorBox,
  fmt,
  Link,
  Loading,
  Stat,
  useAsync,
  useInterval,
  useTransitions,
  when,
} from '../components.js'
import type { PageProps } from '../router.js'

const FEED = 50

export function Overview(_: PageProps) {
  const data = useAsync(() => api.get<OverviewData>('/api/overview'), [])
  useInterval(data.reload, 10_000)
  const o = data.data
  const num = (n: number | undefined) => (n === undefined ? '—' : fmt(n))
  // Transitions move the numbers; a burst of them reloads once, not once each.
  const last = useRef(0)
  const onTransition = () => {
    if (Date.now() - last.current < 2_000) return
    last.current = Date.now()
    data.reload()
  }
  return (
    <>
      <h1>Overview</h1>
      {data.state === 'error' && <ErrorBox error={data.error} retry={data.reload} />}
      {o === undefined && data.state === 'loading' && <Loading what="Loading the numbers" />}
      {o !== undefined && (
        <section class="stats" aria-label="Workspace numbers">
          <Stat id="profiles" label="Profiles" value={num(o.profiles)} />
          <Stat id="eventsLastHour" label="Events in the last hour" value={num(o.eventsLastHour)} />
          <Stat id="segments" label="Segments" value={num(o.segments)} />
          <Stat id="reachable" label="Reachable audience" value={num(o.reachable)} />
        </section>
      )}
      {o?.at && <p class="muted small">As of {when(o.at)}; refreshed every 10 seconds.</p>}
      <LiveFeed onTransition={onTransition} />
    </>
  )
}

/** Segment entries and exits as they happen (server-sent events from /api/stream). */
function LiveFeed({ onTransition }: { onTransition: () => void }) {
  const [items, setItems] = useState<(Transition & { n: number })[]>([])
  const counter = useRef(0)
  const status = useTransitions((t) => {
    setItems((old) => [{ ...t, n: counter.current++ }, ...old].slice(0, FEED))
    onTransition()
  })
  return (
    <section class="card" aria-labelledby="feed-title">
      <h2 id="feed-title">
        Live transitions{' '}
        <span class={`badge ${status}`} data-testid="feed-status">
          {status === 'live' ? 'live' : status === 'connecting' ? 'connecting…' : 'unavailable'}
        </span>
      </h2>
      {items.length === 0 ? (
        <Empty>
          {status === 'unavailable'
            ? 'The live feed is not available on this server.'
            : 'No one has entered or left a segment since you opened this page.'}
        </Empty>
      ) : (
        <ul class="feed" aria-live="polite" data-testid="feed">
          {items.map((t) => (
            <li key={t.n} class={t.kind}>
              <span class={`kind ${t.kind}`}>{t.kind}</span>{' '}
              <Link href={`/segments/${encodeURIComponent(t.segment)}`}>{t.segment}</Link>
              {' · '}
              <Link href={`/people/${encodeURIComponent(t.profileId)}`}>
                {t.userId ?? t.anonymousId ?? t.profileId}
              </Link>
              <span class="muted small">
                {' '}
                · {when(t.at)} · {t.reason}
              </span>
            </li>
          ))}
        </ul>
      )}
    </section>
  )
}
