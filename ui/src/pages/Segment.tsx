import { useState } from 'preact/hooks'
import { Show, Tabs, useAsync, useTitle } from '../components.js'
import type { PageProps } from '../router.js'
import { Explain } from './segment/Explain.js'
import { getSegment } from './segment/model.js'
import { RuleEditor } from './segment/RuleEditor.js'
import { Usage } from './segment/Usage.js'
import { Versions } from './segment/Versions.js'

type Tab = 'rule' | 'versions' | 'explain' | 'usage'
const TABS: readonly { id: Tab; title: string }[] = [
  { id: 'rule', title: 'Rule' },
  { id: 'versions', title: 'Versions' },
  { id: 'explain', title: 'Explain' },
  { id: 'usage', title: 'Used by' },
]

/** Minimal wiring of the editor's parts (the full page lives on the dashboard branch). */
export function Segment({ params, query }: PageProps) {
  const key = params.key!
  const [tab, setTab] = useState<Tab>((query.get('tab') as Tab | null) ?? 'rule')
  const [published, setPublished] = useState(0)
  const segment = useAsync(() => getSegment(key), [key, published])
  useTitle(segment.data?.name ?? key)
  return (
    <>
      <Show value={segment} what="Loading the segment">
        {(s) => (
          <div class="head">
            <h1>
              {s.name} <code class="muted small">{s.key}</code>
            </h1>
            <span class={`badge ${s.status}`} data-testid="segment-status">
              v{s.version} · {s.status}
            </span>
          </div>
        )}
      </Show>
      <Tabs tabs={TABS} current={tab} onChange={setTab} label="Segment" />
      <div role="tabpanel" id={`panel-${tab}`} aria-labelledby={`tab-${tab}`}>
        {tab === 'rule' && (
          <RuleEditor segmentKey={key} onPublished={() => setPublished((n) => n + 1)} />
        )}
        {tab === 'versions' && <Versions segmentKey={key} refresh={published} />}
        {tab === 'explain' && <Explain segmentKey={key} person={query.get('person') ?? ''} />}
        {tab === 'usage' && <Usage segmentKey={key} />}
      </div>
    </>
  )
}
