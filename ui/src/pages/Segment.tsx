import { useEffect, useRef, useState } from 'preact/hooks'
import { api, ApiError, qs, seg } from '../api.js'
import type { Member, Page, Segment as SegmentData, SegmentSizes } from '../api.js'
import { SizeChart } from '../chart.js'
import {
  Confirm,
  Empty,
  ErrorBox,
  fmt,
  Link,
  Loading,
  Progress,
  Show,
  signed,
  Tabs,
  useAsync,
  useCanEdit,
  useInterval,
  useTransitions,
  when,
} from '../components.js'
import { navigate } from '../navigation.js'
import type { PageProps } from '../router.js'
import { Explain } from './segment/Explain.js'
import { RuleEditor } from './segment/RuleEditor.js'
import { Usage } from './segment/Usage.js'
import { Versions } from './segment/Versions.js'

/** The tabs of a segment's page, each a component of the segment (`?tab=` opens one). */
const TABS = [
  { id: 'growth', title: 'Size & members' },
  { id: 'rule', title: 'Rule' },
  { id: 'versions', title: 'Versions' },
  { id: 'explain', title: 'Explain' },
  { id: 'usage', title: 'Used by' },
] as const
type TabId = (typeof TABS)[number]['id']

export function Segment({ params, query }: PageProps) {
  const key = params.key ?? ''
  const segment = useAsync(() => api.get<SegmentData>(`/api/segments/${seg(key)}`), [key])
  useInterval(segment.reload, segment.data?.status === 'computing' ? 2_000 : 10_000)
  // A member entering or leaving moves the numbers (and so the chart) at once.
  useTransitions((t) => {
    if (t.segment === key) segment.reload()
  })
  const initial = query.get('tab')
  const [tab, setTab] = useState<TabId>(
    TABS.some((t) => t.id === initial) ? (initial as TabId) : 'growth',
  )
  const [published, setPublished] = useState(0)

  return (
    <Show value={segment} what="Loading the segment">
      {(s) => (
        <>
          <nav class="small" aria-label="Breadcrumb">
            <Link href="/segments">Segments</Link> / <code>{s.key}</code>
          </nav>
          <div class="head">
            <h1>{s.name || s.key}</h1>
            <DeleteSegment segment={s} />
          </div>
          {s.description && <p class="muted">{s.description}</p>}
          <section class="stats" aria-label="Segment numbers">
            <div class="stat" data-stat="size">
              <div class="stat-label">Members now</div>
              <div class="stat-value">{fmt(s.size)}</div>
            </div>
            <div class="stat" data-stat="reachable">
              <div class="stat-label">Reachable by email</div>
              <div class="stat-value">{fmt(s.reachable)}</div>
            </div>
            <div class="stat" data-stat="status">
              <div class="stat-label">Status · version {s.version}</div>
              <div class="stat-value small">
                {s.status === 'computing' ? (
                  <Progress
                    done={s.progress?.done ?? 0}
                    total={s.progress?.total ?? 0}
                    label="computing"
                  />
                ) : (
                  <span class="badge live">live</span>
                )}
              </div>
            </div>
          </section>
          <Tabs tabs={TABS} current={tab} onChange={setTab} label="Segment sections" />
          <div role="tabpanel" id={`panel-${tab}`} aria-labelledby={`tab-${tab}`}>
            {tab === 'growth' && (
              <>
                <Growth segmentKey={s.key} size={s.size} />
                <Members segmentKey={s.key} size={s.size} />
              </>
            )}
            {tab === 'rule' && (
              <RuleEditor
                segmentKey={s.key}
                onPublished={() => {
                  segment.reload()
                  setPublished((n) => n + 1)
                }}
              />
            )}
            {tab === 'versions' && <Versions segmentKey={s.key} refresh={published} />}
            {tab === 'explain' && <Explain segmentKey={s.key} person={query.get('person') ?? ''} />}
            {tab === 'usage' && <Usage segmentKey={s.key} />}
          </div>
        </>
      )}
    </Show>
  )
}

const RANGES = {
  '24h': { title: 'Last 24 hours', ms: 86_400_000, step: 'hour' },
  '7d': { title: 'Last 7 days', ms: 7 * 86_400_000, step: 'hour' },
  '30d': { title: 'Last 30 days', ms: 30 * 86_400_000, step: 'day' },
  '90d': { title: 'Last 90 days', ms: 90 * 86_400_000, step: 'day' },
  custom: { title: 'Custom range', ms: 0, step: 'day' },
} as const
type RangeId = keyof typeof RANGES

const dateInput = (ms: number) => new Date(ms).toISOString().slice(0, 10)

/** Size over time: a range, a step, the chart and its numbers as a table. */
function Growth({ segmentKey, size }: { segmentKey: string; size: number }) {
  const [range, setRange] = useState<RangeId>('24h')
  const [step, setStep] = useState<'hour' | 'day'>('hour')
  const [from, setFrom] = useState(dateInput(Date.now() - 30 * 86_400_000))
  const [to, setTo] = useState(dateInput(Date.now()))
  const params = () => {
    if (range === 'custom')
      return qs({ from: `${from}T00:00:00Z`, to: `${to}T23:59:59.999Z`, step })
    return qs({ from: new Date(Date.now() - RANGES[range].ms).toISOString(), step })
  }
  const sizes = useAsync(
    () => api.get<SegmentSizes>(`/api/segments/${seg(segmentKey)}/sizes${params()}`),
    [segmentKey, range, step, from, to],
  )
  // The segment's size is polled by the page; when it moves, so does the chart.
  useEffect(() => {
    if (sizes.data && sizes.data.current.size !== size) sizes.reload()
  }, [size])
  useInterval(sizes.reload, 15_000)
  const points = sizes.data?.points ?? []
  const entered = points.reduce((n, p) => n + p.entered, 0)
  const exited = points.reduce((n, p) => n + p.exited, 0)
  return (
    <section class="card" aria-labelledby="growth-title">
      <div class="head">
        <h2 id="growth-title">Size over time</h2>
        {sizes.data && (
          <span class="muted small" data-testid="growth-summary">
            {fmt(entered)} entered, {fmt(exited)} exited · net {signed(entered - exited)}
          </span>
        )}
      </div>
      <div class="toolbar">
        <label>
          Range
          <select
            value={range}
            onChange={(e) => {
              const r = e.currentTarget.value as RangeId
              setRange(r)
              if (r !== 'custom') setStep(RANGES[r].step)
            }}
          >
            {Object.entries(RANGES).map(([id, r]) => (
              <option key={id} value={id}>
                {r.title}
              </option>
            ))}
          </select>
        </label>
        {range === 'custom' && (
          <>
            <label>
              From
              <input
                type="date"
                value={from}
                max={to}
                onChange={(e) => setFrom(e.currentTarget.value)}
              />
            </label>
            <label>
              To
              <input
                type="date"
                value={to}
                min={from}
                onChange={(e) => setTo(e.currentTarget.value)}
              />
            </label>
          </>
        )}
        <label>
          Step
          <select value={step} onChange={(e) => setStep(e.currentTarget.value as 'hour' | 'day')}>
            <option value="hour">Hour</option>
            <option value="day">Day</option>
          </select>
        </label>
      </div>
      {sizes.state === 'error' && <ErrorBox error={sizes.error} retry={sizes.reload} />}
      {sizes.data === undefined && sizes.state === 'loading' && (
        <Loading what="Loading the size history" />
      )}
      {sizes.data && (
        <>
          <SizeChart points={points} step={sizes.data.step} />
          <details>
            <summary>The numbers as a table</summary>
            <div class="table-wrap">
              <table data-testid="sizes-table">
                <thead>
                  <tr>
                    <th>{sizes.data.step === 'hour' ? 'Hour' : 'Day'} ending</th>
                    <th class="num">Size</th>
                    <th class="num">Entered</th>
                    <th class="num">Exited</th>
                  </tr>
                </thead>
                <tbody>
                  {[...points].reverse().map((p) => (
                    <tr key={p.start}>
                      <td>{p.partial ? 'now (running)' : when(p.end)}</td>
                      <td class="num">{fmt(p.size)}</td>
                      <td class="num">{fmt(p.entered)}</td>
                      <td class="num">{fmt(p.exited)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          </details>
        </>
      )}
    </section>
  )
}

const PAGE_SIZE = 50

/** The members, a keyset page at a time, searched by the server (userId, email or id). */
function Members({ segmentKey, size }: { segmentKey: string; size: number }) {
  // The cursors of the pages before this one: "Previous" pops one.
  const [cursors, setCursors] = useState<(string | null)[]>([null])
  const cursor = cursors[cursors.length - 1] ?? null
  const [reachable, setReachable] = useState(false)
  const [text, setText] = useState('')
  const [q, setQ] = useState('')
  useEffect(() => {
    const id = setTimeout(() => {
      setQ(text.trim())
      setCursors([null])
    }, 250)
    return () => clearTimeout(id)
  }, [text])
  const page = useAsync(
    () =>
      api.get<Page<Member>>(
        `/api/segments/${seg(segmentKey)}/members${qs({ limit: PAGE_SIZE, cursor, reachable: reachable || undefined, q: q || undefined })}`,
      ),
    [segmentKey, cursor, reachable, q],
  )
  const items = page.data?.items ?? []
  // Someone entered or left: the page shown is read again (same cursor, same search).
  const seen = useRef(size)
  useEffect(() => {
    if (seen.current === size) return
    seen.current = size
    page.reload()
  }, [size])
  const csv = (onlyReachable: boolean) =>
    `/api/segments/${seg(segmentKey)}/members${qs({ format: 'csv', reachable: onlyReachable || undefined })}`
  return (
    <section class="card" aria-labelledby="members-title">
      <div class="head">
        <h2 id="members-title">Members</h2>
        <span class="small">
          Export CSV:{' '}
          <a href={csv(false)} download>
            all members
          </a>{' '}
          ·{' '}
          <a href={csv(true)} download>
            reachable only
          </a>
        </span>
      </div>
      <div class="toolbar">
        <label>
          Search members
          <input
            type="search"
            value={text}
            placeholder="userId or email"
            onInput={(e) => setText(e.currentTarget.value)}
          />
        </label>
        <label class="inline">
          <span>
            <input
              type="checkbox"
              checked={reachable}
              onChange={(e) => {
                setReachable(e.currentTarget.checked)
                setCursors([null])
              }}
            />{' '}
            Only reachable by email
          </span>
        </label>
      </div>
      {page.state === 'error' && <ErrorBox error={page.error} retry={page.reload} />}
      {page.data === undefined && page.state === 'loading' && <Loading what="Loading members" />}
      {page.data && page.data.items.length === 0 && (
        <Empty>
          {q !== ''
            ? `No member’s userId or email starts with “${q}”.`
            : cursors.length > 1
              ? 'No more members.'
              : 'This segment has no members right now.'}
        </Empty>
      )}
      {page.data && items.length > 0 && (
        <>
          <div class="table-wrap">
            <table data-testid="members-table">
              <thead>
                <tr>
                  <th>User ID</th>
                  <th>Email</th>
                  <th class="hide-narrow">Profile</th>
                  <th>Member since</th>
                </tr>
              </thead>
              <tbody>
                {items.map((m) => (
                  <tr key={m.id}>
                    <td>
                      <Link href={`/people/${seg(m.id)}`}>{m.userId ?? '(anonymous)'}</Link>
                    </td>
                    <td>{m.email ?? <span class="muted">—</span>}</td>
                    <td class="hide-narrow">
                      <code>{m.id}</code>
                    </td>
                    <td>{when(m.enteredAt)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
      <div class="actions">
        <button
          type="button"
          disabled={cursors.length <= 1}
          onClick={() => setCursors((c) => c.slice(0, -1))}
        >
          Previous page
        </button>
        <button
          type="button"
          disabled={!page.data?.nextCursor}
          onClick={() => page.data?.nextCursor && setCursors((c) => [...c, page.data!.nextCursor])}
        >
          Next page
        </button>
      </div>
    </section>
  )
}

/** Delete, for editors, after a confirmation naming what goes. */
function DeleteSegment({ segment }: { segment: SegmentData }) {
  const canEdit = useCanEdit()
  const [open, setOpen] = useState(false)
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<ApiError | null>(null)
  if (!canEdit) return null
  const remove = async () => {
    setBusy(true)
    try {
      await api.delete(`/api/segments/${seg(segment.key)}`)
      setOpen(false)
      navigate('/segments')
    } catch (e) {
      setError(e instanceof ApiError ? e : new ApiError(0, 'client', String(e)))
      setBusy(false)
    }
  }
  return (
    <>
      <button type="button" class="danger" onClick={() => setOpen(true)}>
        Delete segment
      </button>
      <Confirm
        open={open}
        title={`Delete ${segment.name || segment.key}?`}
        confirmLabel="Delete"
        busy={busy}
        onConfirm={remove}
        onCancel={() => {
          setOpen(false)
          setError(null)
        }}
      >
        <p>
          Its {fmt(segment.size)} members exit it now, and webhooks and automations that use it stop
          hearing from it. This cannot be undone.
        </p>
        {error && <ErrorBox error={error} />}
      </Confirm>
    </>
  )
}
