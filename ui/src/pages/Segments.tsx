import { useMemo, useState } from 'preact/hooks'
import { api, ApiError } from '../api.js'
import type { Page, Segment, SegmentTrends } from '../api.js'
import {
  Empty,
  ErrorBox,
  fmt,
  Link,
  Loading,
  Progress,
  signed,
  Sparkline,
  useAsync,
  useCanEdit,
  useInterval,
} from '../components.js'
import type { PageProps } from '../router.js'

type SortKey = 'name' | 'key' | 'size' | 'reachable' | 'change' | 'status'
type Row = Segment & { trend: readonly number[] | null; change: number | null }

/** Rows drawn at first; more on demand, so a thousand segments stay quick to show and sort. */
const BATCH = 200

/** 7-day trends, or null where the server has no /api/segment-trends (yet). */
async function loadTrends(): Promise<SegmentTrends | null> {
  try {
    return await api.get<SegmentTrends>('/api/segment-trends?days=7')
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) return null
    throw e
  }
}

export function Segments(_: PageProps) {
  const list = useAsync(() => api.get<Page<Segment>>('/api/segments'), [])
  const canEdit = useCanEdit()
  const trends = useAsync(loadTrends, [])
  const computing = list.data?.items.some((s) => s.status === 'computing') ?? false
  // While a segment computes its progress moves; otherwise sizes change slowly.
  useInterval(list.reload, computing ? 2_000 : 15_000)
  useInterval(trends.reload, 60_000)
  const [q, setQ] = useState('')
  const [sort, setSort] = useState<{ key: SortKey; desc: boolean }>({ key: 'name', desc: false })
  const [shown, setShown] = useState(BATCH)

  const rows = useMemo<Row[]>(() => {
    const byKey = new Map((trends.data?.items ?? []).map((t) => [t.key, t]))
    return (list.data?.items ?? []).map((s) => {
      const t = byKey.get(s.key)
      return { ...s, trend: t?.sizes ?? null, change: t?.change ?? null }
    })
  }, [list.data, trends.data])

  const visible = useMemo(() => {
    const needle = q.trim().toLowerCase()
    const found =
      needle === ''
        ? rows
        : rows.filter(
            (r) => r.name.toLowerCase().includes(needle) || r.key.toLowerCase().includes(needle),
          )
    const value = (r: Row): string | number =>
      sort.key === 'name'
        ? r.name.toLowerCase()
        : sort.key === 'change'
          ? (r.change ?? 0)
          : r[sort.key]
    // Ties stay in key order whichever way the column sorts.
    const sorted = [...found].sort((a, b) => {
      const x = value(a)
      const y = value(b)
      const c = x < y ? -1 : x > y ? 1 : 0
      if (c !== 0) return sort.desc ? -c : c
      return a.key < b.key ? -1 : a.key > b.key ? 1 : 0
    })
    return sorted
  }, [rows, q, sort])

  const header = (key: SortKey, title: string, num = false) => (
    <th
      class={num ? 'num' : ''}
      aria-sort={sort.key === key ? (sort.desc ? 'descending' : 'ascending') : 'none'}
    >
      <button
        type="button"
        onClick={() =>
          setSort((s) => ({ key, desc: s.key === key ? !s.desc : num || key === 'change' }))
        }
      >
        {title}
        {sort.key === key ? (sort.desc ? ' ▼' : ' ▲') : ''}
      </button>
    </th>
  )

  return (
    <>
      <div class="head">
        <h1>Segments</h1>
        {list.data && (
          <span class="muted" data-testid="segment-count">
            {visible.length === rows.length
              ? `${fmt(rows.length)} segments`
              : `${fmt(visible.length)} of ${fmt(rows.length)} segments`}
          </span>
        )}
        {canEdit && (
          <Link href="/segments/new" class="button primary">
            New segment
          </Link>
        )}
      </div>
      <div class="toolbar">
        <label>
          Search by name or key
          <input
            type="search"
            value={q}
            placeholder="e.g. pro"
            onInput={(e) => {
              setQ(e.currentTarget.value)
              setShown(BATCH)
            }}
          />
        </label>
      </div>
      {list.state === 'error' && <ErrorBox error={list.error} retry={list.reload} />}
      {list.data === undefined && list.state === 'loading' && <Loading what="Loading segments" />}
      {list.data !== undefined && rows.length === 0 && (
        <Empty>
          No segments yet. Publish one with <code>PUT /api/segments/:key</code> or{' '}
          <code>segflow segments apply</code>.
        </Empty>
      )}
      {rows.length > 0 && visible.length === 0 && (
        <Empty>No segment's name or key contains “{q}”.</Empty>
      )}
      {visible.length > 0 && (
        <div class="table-wrap">
          <table data-testid="segments-table">
            <thead>
              <tr>
                {header('name', 'Name')}
                {header('key', 'Key')}
                {header('size', 'Size', true)}
                {header('reachable', 'Reachable', true)}
                {header('change', '7-day change', true)}
                <th class="hide-narrow">Last 7 days</th>
                {header('status', 'Status')}
              </tr>
            </thead>
            <tbody>
              {visible.slice(0, shown).map((s) => (
                <tr key={s.key} data-key={s.key}>
                  <td>
                    <Link href={`/segments/${encodeURIComponent(s.key)}`}>{s.name || s.key}</Link>
                  </td>
                  <td>
                    <code>{s.key}</code>
                  </td>
                  <td class="num" data-col="size">
                    {fmt(s.size)}
                  </td>
                  <td class="num" data-col="reachable">
                    {fmt(s.reachable)}
                  </td>
                  <td
                    class={`num ${s.change === null ? '' : s.change > 0 ? 'up' : s.change < 0 ? 'down' : ''}`}
                    data-col="change"
                  >
                    {s.change === null ? '—' : signed(s.change)}
                  </td>
                  <td class="hide-narrow">
                    {s.trend ? (
                      <Sparkline values={s.trend} label={`${s.name || s.key}: size over 7 days`} />
                    ) : (
                      <span class="muted">—</span>
                    )}
                  </td>
                  <td>
                    {s.status === 'computing' ? (
                      <Progress
                        done={s.progress?.done ?? 0}
                        total={s.progress?.total ?? 0}
                        label={`${s.key} computing`}
                      />
                    ) : (
                      <span class="badge live">live</span>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {visible.length > shown && (
        <p>
          <button type="button" onClick={() => setShown((n) => n + BATCH * 5)}>
            Show more ({fmt(visible.length - shown)} not shown)
          </button>
        </p>
      )}
    </>
  )
}
