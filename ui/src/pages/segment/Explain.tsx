/**
 * Why a chosen person is or is not in the segment: GET /api/profiles/:id/explain/:key, the
 * rule as a tree with each condition's result, the values it looked at and when it can change.
 */
import { useState } from 'preact/hooks'
import { ApiError } from '../../api.js'
import type { Explain as ExplainData, ExplanationNode } from '../../api.js'
import { ErrorBox, Link, Loading, when } from '../../components.js'
import { explain } from './model.js'

export function Explain({ segmentKey, person = '' }: { segmentKey: string; person?: string }) {
  const [query, setQuery] = useState(person)
  const [answer, setAnswer] = useState<
    | { state: 'idle' }
    | { state: 'loading' }
    | { state: 'ok'; data: ExplainData; asked: string }
    | { state: 'error'; error: ApiError }
  >({ state: 'idle' })

  const run = async (who: string) => {
    if (who.trim() === '') return
    setAnswer({ state: 'loading' })
    try {
      setAnswer({ state: 'ok', data: await explain(who.trim(), segmentKey), asked: who.trim() })
    } catch (e) {
      setAnswer({
        state: 'error',
        error: e instanceof ApiError ? e : new ApiError(0, 'client', String(e)),
      })
    }
  }

  return (
    <section aria-labelledby="explain-title">
      <h2 id="explain-title">Explain for a person</h2>
      <form
        class="toolbar"
        role="search"
        onSubmit={(e) => {
          e.preventDefault()
          void run(query)
        }}
      >
        <label>
          userId, anonymousId or email
          <input
            type="search"
            value={query}
            onInput={(e) => setQuery((e.target as HTMLInputElement).value)}
            placeholder="ann@example.com"
          />
        </label>
        <button type="submit" class="primary">
          Explain
        </button>
      </form>
      {answer.state === 'loading' && <Loading what="Explaining" />}
      {answer.state === 'error' && <ErrorBox error={answer.error} />}
      {answer.state === 'ok' && <Explanation data={answer.data} asked={answer.asked} />}
    </section>
  )
}

function Explanation({ data, asked }: { data: ExplainData; asked: string }) {
  return (
    <div class="card explanation" data-testid="explanation">
      <p class="verdict">
        <Link href={`/people/${encodeURIComponent(data.profile)}`}>{asked}</Link>{' '}
        {data.member ? (
          <>
            <strong class="good">is a member</strong> of {data.segment}
            {data.since && <> since {when(data.since)}</>}
          </>
        ) : (
          <>
            <strong class="bad">is not a member</strong> of {data.segment}
          </>
        )}{' '}
        <span class="muted small">(version {data.version})</span>
      </p>
      {data.lastTransition && (
        <p class="muted small">
          Last {data.lastTransition.type.replace('segment.', '')} {when(data.lastTransition.at)} (
          {data.lastTransition.reason})
        </p>
      )}
      <ul class="tree root">
        <Node node={data.explanation} />
      </ul>
    </div>
  )
}

function Node({ node }: { node: ExplanationNode }) {
  const values = Object.entries(node.values)
  return (
    <li data-testid="explain-node" data-result={String(node.result)} data-path={node.path}>
      <span class={node.result ? 'ok' : 'no'}>
        <span class="sr-only">{node.result ? 'true: ' : 'false: '}</span>
        <code>{node.rule}</code>
      </span>
      {values.length > 0 && (
        <span class="values">
          {values.map(([k, v]) => (
            <span key={k} class="value">
              {k} = <code>{show(v)}</code>
            </span>
          ))}
        </span>
      )}
      {node.nextChangeAt && (
        <span class="muted small"> · can change {when(node.nextChangeAt)}</span>
      )}
      {node.children.length > 0 && (
        <ul class="tree">
          {node.children.map((c, i) => (
            <Node key={i} node={c} />
          ))}
        </ul>
      )}
    </li>
  )
}

function show(v: unknown): string {
  if (v === undefined) return '—'
  return typeof v === 'string' ? v : JSON.stringify(v)
}
