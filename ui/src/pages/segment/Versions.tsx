/** Every published version of a segment, newest first, each with its rule's line diff. */
import { Empty, Show, useAsync, when } from '../../components.js'
import { lineDiff } from './line-diff.js'
import { listVersions } from './model.js'
import type { SegmentVersion } from './model.js'

export function Versions({ segmentKey, refresh = 0 }: { segmentKey: string; refresh?: number }) {
  const versions = useAsync(() => listVersions(segmentKey), [segmentKey, refresh])
  return (
    <section aria-labelledby="versions-title">
      <h2 id="versions-title">Versions</h2>
      <Show value={versions} what="Loading the versions">
        {(data) =>
          data.items.length === 0 ? (
            <Empty>No version has been published.</Empty>
          ) : (
            <ol class="versions" reversed>
              {[...data.items].reverse().map((v, i, all) => (
                <VersionItem key={v.version} v={v} before={all[i + 1] ?? null} open={i === 0} />
              ))}
            </ol>
          )
        }
      </Show>
    </section>
  )
}

function VersionItem({
  v,
  before,
  open,
}: {
  v: SegmentVersion
  before: SegmentVersion | null
  open: boolean
}) {
  const lines = lineDiff(before?.yaml ?? '', v.yaml)
  const added = lines.filter((l) => l.kind === 'add').length
  const removed = lines.filter((l) => l.kind === 'del').length
  return (
    <li class="version card" data-testid="version" data-version={v.version}>
      <details open={open}>
        <summary>
          <strong>Version {v.version}</strong> <span class="muted">· {when(v.publishedAt)}</span>
          {v.name && <span class="muted"> · {v.name}</span>}{' '}
          <span class="diffstat">
            <span class="add">+{added}</span> <span class="del">−{removed}</span>
          </span>
        </summary>
        <p class="muted small">
          {before ? `Changes from version ${before.version}:` : 'The first rule:'}
        </p>
        <pre class="diff" data-testid="version-diff">
          {lines.map((l, n) => (
            <div key={n} class={l.kind}>
              <span class="sign" aria-hidden="true">
                {l.kind === 'add' ? '+' : l.kind === 'del' ? '−' : ' '}
              </span>
              <span class="sr-only">
                {l.kind === 'add' ? 'added: ' : l.kind === 'del' ? 'removed: ' : ''}
              </span>
              {l.text}
            </div>
          ))}
        </pre>
      </details>
    </li>
  )
}
