/**
 * What uses a segment: webhooks (those listing it, and those sent every segment) and
 * automations (triggered by it, or whose conditions refer to it).
 */
import { Empty, Link, Show, useAsync } from '../../components.js'
import { listAutomations, listWebhooks, refersTo } from './model.js'

export function Usage({ segmentKey }: { segmentKey: string }) {
  const uses = useAsync(async () => {
    const [webhooks, automations] = await Promise.all([listWebhooks(), listAutomations()])
    return {
      webhooks: webhooks.items.filter(
        (w) => w.segments === null || w.segments.includes(segmentKey),
      ),
      automations: automations.items.filter(
        (a) => a.trigger.segment === segmentKey || refersTo(a.conditions, segmentKey),
      ),
    }
  }, [segmentKey])
  return (
    <section aria-labelledby="usage-title">
      <h2 id="usage-title">Used by</h2>
      <Show value={uses} what="Looking for webhooks and automations">
        {({ webhooks, automations }) => (
          <div class="grid2">
            <div class="card" data-testid="used-by-webhooks">
              <h3>Webhooks</h3>
              {webhooks.length === 0 ? (
                <Empty>No webhook is told about this segment.</Empty>
              ) : (
                <ul class="plain">
                  {webhooks.map((w) => (
                    <li key={w.id}>
                      <Link href={`/webhooks/${encodeURIComponent(w.id)}`}>{w.id}</Link>{' '}
                      <span class="muted small">
                        {w.url} · {w.segments === null ? 'every segment' : 'this segment'}
                        {w.status !== 'active' && ` · ${w.status}`}
                      </span>
                    </li>
                  ))}
                </ul>
              )}
            </div>
            <div class="card" data-testid="used-by-automations">
              <h3>Automations</h3>
              {automations.length === 0 ? (
                <Empty>No automation uses this segment.</Empty>
              ) : (
                <ul class="plain">
                  {automations.map((a) => (
                    <li key={a.key}>
                      <Link href={`/automations/${encodeURIComponent(a.key)}`}>{a.name}</Link>{' '}
                      <span class="muted small">
                        {a.trigger.segment === segmentKey
                          ? `when someone ${a.trigger.on === 'entered' ? 'enters' : 'leaves'}${a.trigger.delay ? `, after ${a.trigger.delay}` : ''}`
                          : 'in its conditions'}
                        {!a.enabled && ' · disabled'}
                      </span>
                    </li>
                  ))}
                </ul>
              )}
            </div>
          </div>
        )}
      </Show>
    </section>
  )
}
