import { writeFileSync } from 'node:fs'
import type { PrivacyRequestView } from '../privacy/requests.js'
import type { Output } from './commands.js'
import { call } from './segment-commands.js'
import type { ApiTarget } from './segment-commands.js'

/**
 * `segflow privacy export|erase <profile>`: files a rights request with a running segflow.
 * An export's data goes to `--out` (or standard output, as JSON); the request's id, status and
 * due date go to standard error, so the JSON can be piped.
 */
export async function privacyRequest(
  target: ApiTarget,
  o: Output,
  type: 'export' | 'erasure',
  profile: string,
  opts: { regulation?: string; out?: string },
): Promise<PrivacyRequestView> {
  const r = await call<{ request: PrivacyRequestView; data?: unknown }>(
    target,
    'POST',
    '/api/privacy/requests',
    { type, profile, regulation: opts.regulation ?? 'gdpr' },
  )
  const line = `${r.request.type} request ${r.request.id}: ${r.request.status} (${r.request.regulation}, due ${r.request.dueAt})`
  if (type === 'export') {
    const json = JSON.stringify(r.data, null, 2)
    if (opts.out) {
      writeFileSync(opts.out, `${json}\n`)
      o.out(`${line}; written to ${opts.out}`)
    } else {
      o.err(line)
      o.out(json)
    }
  } else {
    const result = r.request.result as {
      found?: boolean
      erased?: Record<string, number>
      notifications?: number
    } | null
    const rows = Object.values(result?.erased ?? {}).reduce((a, b) => a + b, 0)
    o.out(
      result?.found === false
        ? `${line}; nothing was held about ${profile}`
        : `${line}; ${rows} rows removed, ${result?.notifications ?? 0} webhook notifications queued; later messages for them are dropped`,
    )
  }
  return r.request
}

/** `segflow privacy requests`: the workspace's rights requests, newest first. */
export async function listPrivacyRequests(target: ApiTarget, o: Output): Promise<void> {
  const r = await call<{ items: PrivacyRequestView[] }>(target, 'GET', '/api/privacy/requests')
  if (r.items.length === 0) o.out('no privacy requests')
  for (const q of r.items)
    o.out(
      `${q.id}  ${q.type.padEnd(7)}  ${q.regulation}  ${q.status.padEnd(9)}  received ${q.receivedAt}  due ${q.dueAt}`,
    )
}
