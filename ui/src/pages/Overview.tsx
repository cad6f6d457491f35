import { useEffect, useState } from 'preact/hooks'
import { api, ApiError } from '../api.js'
import type { Overview as OverviewData, Page, Segment, Transition } from '../api.js'
import {
  Empty,
  ErrorBox,
  fmt,
  Link,
  Loading,
  Stat,
  useAsync,
  useInterval,
  when,
} from '../components.js'
import type { PageProps } from '../router.js'

/** The overview's numbers: GET /api/overview, or what /api/segments tells where it is missing. */
async function loadOverview(): Promise<Partial<OverviewData> & { segments: number }> {
  try {
    return await api.get<OverviewData>('/api/overview')
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 404) throw e
    const list = await api.get<Page<Segment>>('/api/segments')
    return { segments: list.items.length }
  }
}

const FEED = 50

export function Overview(_: PageProps) {
  const data = useAsync(loadOverview, [])
  useInterval(data.reload, 10_000)
  const o = data.data
  const num = (n: number | undefined) => (n === undefined ? '—' : fmt(n))
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
      <LiveFeed />
    </>
  )
}

/** Segment entries and exits as they happen (server-sent events from /api/stream). */
function LiveFeed() {
  const [items, setItems] = useState<(Transition & { n: number })[]>([])
  const [status, setStatus] = useState<'connecting' | 'live' | 'unavailable'>('connecting')
  useEffect(() => {
    let n = 0
    const source = new EventSource('/api/stream')
    source.onopen = () => setStatus('live')
    source.onerror = () =>
      setStatus(source.readyState === EventSource.CLOSED ? 'unavailable' : 'connecting')
    source.addEventListener('transition', (e) => {
      try {
        const t = JSON.parse((e as MessageEvent<string>).data) as Transition
        setItems((old) => [{ ...t, n: n++ }, ...old].slice(0, FEED))
      } catch {
        // A malformed event is skipped; the next one still shows.
      }
    })
    return () => source.close()
  }, [])
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
              <Link href={`/people/${encodeURIComponent(t.profileId)}`}>
                {t.userId ?? t.anonymousId ?? t.profileId}
              </Link>{' '}
              {t.kind === 'entered' ? 'entered' : 'left'}{' '}
              <Link href={`/segments/${encodeURIComponent(t.segment)}`}>{t.segment}</Link>
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
