/**
 * The rule editor of a segment (or of a new one): YAML or JSON text checked by the server as
 * you type (POST /api/segments/check: the same parser as `segflow apply`, so errors point at
 * their line and column), a live count of who matches (POST /api/segments/preview), who would
 * enter and leave before publishing (POST /api/segments/:key/diff), then the new version
 * computing until it is live. Viewers see the rule read-only.
 */
import { useEffect, useRef, useState } from 'preact/hooks'
import { ApiError } from '../../api.js'
import type { Segment } from '../../api.js'
import {
  ErrorBox,
  fmt,
  Link,
  Loading,
  Progress,
  Show,
  useAsync,
  useCanEdit,
} from '../../components.js'
import { navigate } from '../../navigation.js'
import { CodeArea } from './CodeArea.js'
import { useDebounced } from './hooks.js'
import {
  checkRule,
  diffRule,
  getSegment,
  jsonText,
  listVersions,
  previewRule,
  publishSegment,
} from './model.js'
import type { Counted, RuleFormat, SourceIssue } from './model.js'

const SEGMENT_KEY = /^[a-z0-9][a-z0-9_-]{0,63}$/
const EXAMPLE = 'all:\n  - trait: plan\n    eq: pro\n  - event: Viewed Pricing\n    within: 7d\n'

interface Initial {
  readonly key: string | null
  readonly name: string
  readonly description: string
  readonly rule: unknown
  readonly yaml: string
  readonly version: number
}

/** The editor of segment `segmentKey`'s rule, or of a new segment's (null). */
export function RuleEditor({
  segmentKey,
  onPublished,
}: {
  segmentKey: string | null
  /** Told when a version is published (or the segment created). */
  onPublished?: (s: Segment) => void
}) {
  const loaded = useAsync(async (): Promise<Initial> => {
    if (segmentKey === null)
      return { key: null, name: '', description: '', rule: null, yaml: EXAMPLE, version: 0 }
    const [s, versions] = await Promise.all([getSegment(segmentKey), listVersions(segmentKey)])
    const current = versions.items.find((v) => v.version === s.version)
    return {
      key: s.key,
      name: s.name,
      description: s.description,
      rule: s.rule,
      yaml: current?.yaml ?? jsonText(s.rule),
      version: s.version,
    }
  }, [segmentKey])
  // Outside the editor, which starts afresh with each version: the status stays in view.
  const [published, setPublished] = useState<Segment | null>(null)
  return (
    <>
      {published && (
        <PublishStatus
          key={published.version}
          segment={published}
          onLive={(s) => {
            loaded.reload()
            onPublished?.(s)
          }}
        />
      )}
      <Show value={loaded} what="Loading the rule">
        {(initial) => (
          <Editor
            key={`${initial.key}:${initial.version}`}
            initial={initial}
            onPublished={setPublished}
          />
        )}
      </Show>
    </>
  )
}

function Editor({ initial, onPublished }: { initial: Initial; onPublished: (s: Segment) => void }) {
  const canEdit = useCanEdit()
  const isNew = initial.key === null
  const [format, setFormat] = useState<RuleFormat>('yaml')
  const [text, setText] = useState(initial.yaml)
  const [key, setKey] = useState(initial.key ?? '')
  const [name, setName] = useState(initial.name)
  const [description, setDescription] = useState(initial.description)
  const [note, setNote] = useState<string | null>(null)
  const [review, setReview] = useState<Review | null>(null)

  const checked = useDebounced(
    canEdit ? { text, format, key: initial.key } : null,
    (i) => checkRule(i.text, i.format, i.key),
    300,
  )
  const result = checked.state === 'ok' ? checked.data : null
  const rule = result?.ok ? result.rule : null
  const count = useDebounced(rule ?? null, previewRule, 250)
  const issues: readonly SourceIssue[] =
    checked.state === 'ok' || checked.state === 'pending' ? (checked.data?.issues ?? []) : []

  const keyProblem = isNew && !SEGMENT_KEY.test(key) ? 'lower-case letters, digits, - and _' : null
  const ruleChanged = rule !== null && JSON.stringify(rule) !== JSON.stringify(initial.rule)
  const changed = ruleChanged || name !== initial.name || description !== initial.description
  const ready = rule !== null && checked.state === 'ok' && keyProblem === null && changed

  // The last text known to hold a valid rule, and that rule in both formats: switching
  // formats twice in a row needs no check in between.
  const good = useRef<{ text: string; rule: unknown; yaml: string } | null>(
    canEdit ? null : { text: initial.yaml, rule: initial.rule, yaml: initial.yaml },
  )
  if (result?.ok && result.yaml !== undefined)
    good.current = { text, rule: result.rule, yaml: result.yaml }

  const switchTo = (to: RuleFormat) => {
    if (to === format) return
    setNote(null)
    const g = good.current
    if (g === null || g.text !== text) {
      setNote(`Fix the problems first: the ${to.toUpperCase()} is written from a valid rule.`)
      return
    }
    const next = to === 'json' ? jsonText(g.rule) : g.yaml
    good.current = { ...g, text: next }
    setText(next)
    setFormat(to)
  }

  const startReview = async () => {
    if (rule === null) return
    const k = isNew ? key : initial.key!
    setReview({ state: 'loading', key: k, rule })
    try {
      // PUT creates or publishes: a "new" segment must not quietly replace an existing one.
      if (isNew && (await exists(k)))
        throw new ApiError(
          409,
          'segment_exists',
          `a segment with the key ${k} exists already; open it to change its rule, or choose another key`,
        )
      const change = isNew
        ? { entering: await previewRule(rule), exiting: null }
        : ruleChanged
          ? await diffRule(k, rule)
          : { entering: { count: 0, sample: [] }, exiting: { count: 0, sample: [] } }
      setReview({ state: 'ready', key: k, rule, ...change })
    } catch (e) {
      setReview({ state: 'error', key: k, rule, error: asError(e) })
    }
  }

  const publish = async () => {
    if (review === null || review.state !== 'ready') return
    setReview({ ...review, state: 'publishing' })
    try {
      const s = await publishSegment(review.key, {
        name: name.trim() === '' ? review.key : name,
        description,
        rule: review.rule,
      })
      setReview(null)
      if (isNew) {
        navigate(`/segments/${encodeURIComponent(s.key)}`)
        return
      }
      onPublished(s)
    } catch (e) {
      setReview({ ...review, state: 'error', error: asError(e) })
    }
  }

  return (
    <section class="rule-editor" aria-labelledby="rule-editor-title">
      <h2 id="rule-editor-title" class="sr-only">
        Rule
      </h2>
      {!canEdit && (
        <p class="notice" data-testid="read-only">
          You have the viewer role: the rule is read-only.
        </p>
      )}
      <div class="editor-grid">
        <div class="editor-main">
          {(isNew || canEdit) && (
            <div class="fields">
              {isNew && (
                <label>
                  Key
                  <input
                    value={key}
                    onInput={(e) => setKey((e.target as HTMLInputElement).value)}
                    placeholder="high-intent"
                    aria-invalid={key !== '' && keyProblem !== null}
                    aria-describedby="key-help"
                    required
                  />
                  <span id="key-help" class="muted small">
                    Used in the API and in other rules: {keyProblem ?? 'ok'}
                  </span>
                </label>
              )}
              <label>
                Name
                <input
                  value={name}
                  onInput={(e) => setName((e.target as HTMLInputElement).value)}
                  placeholder={isNew ? 'High intent' : ''}
                  readOnly={!canEdit}
                />
              </label>
              <label class="wide">
                Description
                <input
                  value={description}
                  onInput={(e) => setDescription((e.target as HTMLInputElement).value)}
                  readOnly={!canEdit}
                />
              </label>
            </div>
          )}
          <div class="editor-bar">
            <span id="rule-label" class="label">
              Rule
            </span>
            <div class="segmented" role="group" aria-label="Format">
              {(['yaml', 'json'] as const).map((f) => (
                <button
                  type="button"
                  key={f}
                  aria-pressed={format === f}
                  class={format === f ? 'active' : ''}
                  onClick={() => switchTo(f)}
                >
                  {f.toUpperCase()}
                </button>
              ))}
            </div>
            <CheckState state={checked.state} ok={result?.ok ?? null} />
          </div>
          {note && <p class="notice small">{note}</p>}
          <CodeArea
            id="rule"
            label={`Rule (${format.toUpperCase()})`}
            value={text}
            onInput={setText}
            marks={issues}
            readOnly={!canEdit}
            describedBy="rule-issues"
          />
          <ul id="rule-issues" class="issues" aria-live="polite">
            {issues.map((i, n) => (
              <li key={n} data-testid="rule-issue" data-line={i.line}>
                <span class="where">
                  Line {i.line}, column {i.column}
                </span>{' '}
                {i.path && <code>{i.path}</code>} {i.message}
              </li>
            ))}
          </ul>
          {checked.state === 'error' && <ErrorBox error={checked.error} />}
        </div>
        {canEdit && (
          <aside class="editor-side card" aria-label="Who matches">
            <h3>Matches now</h3>
            <LiveCount value={count} />
            <div class="actions">
              <button type="button" class="primary" disabled={!ready} onClick={startReview}>
                {isNew ? 'Review and create' : 'Review and publish'}
              </button>
            </div>
            {checked.state === 'ok' && rule === null ? (
              <p class="muted small">Fix the rule to {isNew ? 'create the segment' : 'publish'}.</p>
            ) : (
              !changed &&
              !isNew && <p class="muted small">Change the rule, name or description to publish.</p>
            )}
          </aside>
        )}
      </div>
      <ReviewDialog
        review={review}
        isNew={isNew}
        nextVersion={initial.version + 1}
        onCancel={() => setReview(null)}
        onConfirm={publish}
      />
    </section>
  )
}

function CheckState({ state, ok }: { state: string; ok: boolean | null }) {
  if (state === 'idle') return null
  const [cls, label] =
    state === 'pending'
      ? ['muted', 'Checking…']
      : state === 'error'
        ? ['bad', 'Could not check']
        : ok
          ? ['good', '✓ Valid rule']
          : ['bad', '✗ Not valid']
  return (
    <span class={`check ${cls}`} role="status" data-testid="rule-state">
      {label}
    </span>
  )
}

function LiveCount({ value }: { value: ReturnType<typeof useDebounced<unknown, Counted>> }) {
  if (value.state === 'idle' && value.data === undefined)
    return <p class="muted">A valid rule shows how many people it matches.</p>
  if (value.state === 'error') return <ErrorBox error={value.error} />
  const data = value.data
  if (value.state === 'idle')
    return (
      <div class="stale">
        <p class="big-number">{data === undefined ? '…' : fmt(data.count)}</p>
        <p class="muted small">matched the last valid rule</p>
      </div>
    )
  return (
    <div aria-live="polite" class={value.state === 'pending' ? 'stale' : ''}>
      <p class="big-number" data-testid="live-count">
        {data === undefined ? '…' : fmt(data.count)}
      </p>
      <p class="muted small">
        {value.state === 'pending'
          ? 'Counting…'
          : data?.count === 1
            ? 'person matches the rule now'
            : 'people match the rule now'}
      </p>
      {data && data.sample.length > 0 && <SampleList sample={data.sample} label="For example" />}
    </div>
  )
}

function SampleList({ sample, label }: { sample: Counted['sample']; label: string }) {
  return (
    <div class="sample">
      <span class="muted small">{label}: </span>
      {sample.map((p, i) => (
        <span key={p.id}>
          {i > 0 && ', '}
          <Link href={`/people/${encodeURIComponent(p.id)}`}>{p.userId ?? p.id}</Link>
        </span>
      ))}
    </div>
  )
}

type Review =
  | { state: 'loading'; key: string; rule: unknown }
  | {
      state: 'ready' | 'publishing'
      key: string
      rule: unknown
      entering: Counted
      exiting: Counted | null
    }
  | { state: 'error'; key: string; rule: unknown; error: ApiError }

/** "What would change": who enters and who leaves, then Publish. */
function ReviewDialog({
  review,
  isNew,
  nextVersion,
  onCancel,
  onConfirm,
}: {
  review: Review | null
  isNew: boolean
  nextVersion: number
  onCancel: () => void
  onConfirm: () => void
}) {
  const ref = useRef<HTMLDialogElement>(null)
  useEffect(() => {
    const d = ref.current
    if (!d) return
    if (review !== null && !d.open) d.showModal()
    if (review === null && d.open) d.close()
  }, [review !== null])
  const title = isNew ? `Create ${review?.key ?? ''}` : `Publish version ${nextVersion}`
  return (
    <dialog ref={ref} onCancel={onCancel} aria-labelledby="review-title" class="review">
      <h2 id="review-title">{title}</h2>
      {review?.state === 'loading' && <Loading what="Working out who would enter and leave" />}
      {review?.state === 'error' && <ErrorBox error={review.error} />}
      {(review?.state === 'ready' || review?.state === 'publishing') && (
        <div class="change" data-testid="diff">
          <div class="change-col entering">
            <p class="big-number" data-testid="diff-entering">
              {fmt(review.entering.count)}
            </p>
            <p>{isNew ? 'people will be members' : 'would enter'}</p>
            {review.entering.sample.length > 0 && (
              <SampleList sample={review.entering.sample} label="Including" />
            )}
          </div>
          {review.exiting && (
            <div class="change-col exiting">
              <p class="big-number" data-testid="diff-exiting">
                {fmt(review.exiting.count)}
              </p>
              <p>would leave</p>
              {review.exiting.sample.length > 0 && (
                <SampleList sample={review.exiting.sample} label="Including" />
              )}
            </div>
          )}
        </div>
      )}
      <p class="muted small">
        Members are computed in the background; webhooks and automations hear of each entry and
        exit.
      </p>
      <div class="actions">
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
        <button
          type="button"
          class="primary"
          onClick={onConfirm}
          disabled={review?.state !== 'ready'}
        >
          {isNew ? 'Create segment' : 'Publish'}
        </button>
      </div>
    </dialog>
  )
}

/** A published version computing, polled until it is live. */
function PublishStatus({ segment, onLive }: { segment: Segment; onLive: (s: Segment) => void }) {
  const [s, setS] = useState(segment)
  const [error, setError] = useState<ApiError | null>(null)
  useEffect(() => {
    let live = true
    let timer: ReturnType<typeof setTimeout> | undefined
    const poll = async () => {
      try {
        const now = await getSegment(segment.key)
        if (!live) return
        setS(now)
        if (now.status === 'live' && now.liveVersion === segment.version) {
          onLive(now)
          return
        }
      } catch (e) {
        if (live) setError(asError(e))
      }
      timer = setTimeout(poll, 700)
    }
    void poll()
    return () => {
      live = false
      clearTimeout(timer)
    }
  }, [segment.key, segment.version])
  const isLive = s.status === 'live' && s.liveVersion === segment.version
  return (
    <div
      class={`publish-status ${isLive ? 'live' : 'computing'}`}
      role="status"
      data-testid="publish-status"
    >
      {isLive ? (
        <>
          <span class="badge live">live</span> Version {segment.version} is live: {fmt(s.size)}{' '}
          {s.size === 1 ? 'member' : 'members'}.
        </>
      ) : (
        <>
          <span class="badge computing">computing</span> Version {segment.version} is being computed{' '}
          {s.progress && (
            <Progress done={s.progress.done} total={s.progress.total} label="Computing members" />
          )}
        </>
      )}
      {error && <ErrorBox error={error} />}
    </div>
  )
}

async function exists(key: string): Promise<boolean> {
  try {
    await getSegment(key)
    return true
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) return false
    throw e
  }
}

const asError = (e: unknown) =>
  e instanceof ApiError ? e : new ApiError(0, 'client', e instanceof Error ? e.message : String(e))
