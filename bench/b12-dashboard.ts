/**
 * B12 — the dashboard over a workspace of N profiles and S segments, from a real
 * `segflow serve` (pinned to core 0): the first load's bytes gzipped (index.html and every
 * asset it names), the server time of the API calls its pages open with (median and p95 of
 * sequential requests, measured at the client on 127.0.0.1), and the time to interactive of
 * the Segments page in Debian's Chromium: from navigation until the table shows every segment
 * (cold: a new browser context each time, so nothing cached).
 *
 * The workspace is made through the public API as a user would: the segments first (B3's rule
 * mix), then N identifies and 3N events over the last 30 days in 100-message batches, so the
 * size rollups hold a month of history.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'
import { launchChromium } from '../test/helpers/chromium.js'
import { buildUi, hasUi, uiInputs, uiStaleness, writeUiStamp } from '../scripts/build-if-stale.mjs'
import { ADMIN, start, WRITE } from './b2-latency.js'
import { DAY, messages, segmentJson, segments } from './gen.js'
import { dropSchema, pgReachable, storeEnv } from './pg.js'
import type { BenchStore } from './pg.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const PASSWORD = 'b12 bench password'

export interface B12Figures {
  readonly store: BenchStore
  readonly profiles: number
  readonly segments: number
  readonly measure: string
  readonly median: number
  readonly p95?: number
  readonly unit: string
  readonly target: string
}

function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!
}

const round = (x: number) => Math.round(x * 10) / 10

async function api(url: string, path: string, init: RequestInit = {}): Promise<Response> {
  const res = await fetch(new URL(path, url), {
    ...init,
    headers: {
      authorization: `Bearer ${ADMIN}`,
      'content-type': 'application/json',
      ...(init.headers ?? {}),
    },
  })
  if (res.status >= 300) throw new Error(`${path}: ${res.status} ${await res.text()}`)
  return res
}

/** The first load: index.html and every script and stylesheet it names, gzipped (level 6). */
async function firstLoadBytes(url: string): Promise<number> {
  const html = await (await fetch(new URL('/login', url))).text()
  let total = gzipSync(html).length
  const assets = [...html.matchAll(/(?:src|href)="(\/[^"]+\.(?:js|css))"/g)].map((m) => m[1]!)
  for (const a of assets) {
    const body = Buffer.from(await (await fetch(new URL(a, url))).arrayBuffer())
    total += gzipSync(body).length
  }
  return total
}

async function populate(url: string, o: { profiles: number; segments: number }): Promise<void> {
  for (const s of segments(o.segments, 12)) {
    await api(url, `/api/segments/${s.key}`, {
      method: 'PUT',
      body: JSON.stringify({ name: `Segment ${s.key}`, rule: s.rule }),
    })
  }
  const now = Date.now()
  let batch: unknown[] = []
  let n = 0
  const flush = async () => {
    if (batch.length === 0) return
    const res = await fetch(new URL('/v1/batch', url), {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${WRITE}:`).toString('base64')}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ batch }),
    })
    if (res.status !== 200) throw new Error(`batch: ${res.status} ${await res.text()}`)
    batch = []
  }
  for (const m of messages({
    seed: 12,
    profiles: o.profiles,
    events: o.profiles * 3,
    from: now - 30 * DAY,
    to: now - 60_000,
  })) {
    batch.push(segmentJson(m, `b12-${n++}`))
    if (batch.length === 100) await flush()
  }
  await flush()
  // Every segment live (backfills of segments made before the data finish at once).
  for (;;) {
    const list = (await (await api(url, '/api/segments')).json()) as {
      items: { status: string }[]
    }
    if (list.items.every((s) => s.status === 'live')) return
    await new Promise((r) => setTimeout(r, 200))
  }
}

/** Sequential requests to `path`: client-side milliseconds, median and p95. */
async function timed(url: string, path: string, rounds: number): Promise<number[]> {
  const ms: number[] = []
  await (await api(url, path)).arrayBuffer() // warm
  for (let i = 0; i < rounds; i++) {
    const t0 = performance.now()
    await (await api(url, path)).arrayBuffer()
    ms.push(performance.now() - t0)
  }
  return ms
}

/** A user with a password, logged in through the API: the session cookie. */
async function session(url: string): Promise<string> {
  const made = await api(url, '/api/users/bench@example.com', {
    method: 'PUT',
    body: JSON.stringify({ role: 'viewer' }),
  })
  const token = new URL(
    ((await made.json()) as { setPasswordUrl: string }).setPasswordUrl,
  ).searchParams.get('token')
  await fetch(new URL('/auth/set-password', url), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token, password: PASSWORD }),
  })
  const login = await fetch(new URL('/auth/login', url), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: 'bench@example.com', password: PASSWORD }),
  })
  const cookie = login.headers.get('set-cookie') ?? ''
  const m = /segflow_session=([^;]+)/.exec(cookie)
  if (!m) throw new Error(`login: ${login.status} ${await login.text()}`)
  return m[1]!
}

/** Navigation to /segments until the table shows `count` rows, in new contexts: ms each. */
async function timeToInteractive(url: string, count: number, rounds: number): Promise<number[]> {
  const cookie = await session(url)
  const browser = await launchChromium()
  const ms: number[] = []
  try {
    const { hostname } = new URL(url)
    for (let i = 0; i <= rounds; i++) {
      const context = await browser.newContext({ viewport: { width: 1280, height: 800 } })
      await context.addCookies([
        { name: 'segflow_session', value: cookie, domain: hostname, path: '/' },
      ])
      const page = await context.newPage()
      const t0 = performance.now()
      await page.goto(new URL('/segments', url).href)
      await page.waitForFunction(
        // Runs in the page (a DOM); bench/ is compiled without DOM types.
        (n) =>
          (
            globalThis as unknown as {
              document: { querySelectorAll(s: string): { length: number } }
            }
          ).document.querySelectorAll('[data-testid="segments-table"] tbody tr').length >= n,
        count,
        { timeout: 60_000 },
      )
      // The first round warms the server and Chromium's own start-up; it is not counted.
      if (i > 0) ms.push(performance.now() - t0)
      await context.close()
    }
  } finally {
    await browser.close()
  }
  return ms
}

async function once(
  store: BenchStore,
  o: { profiles: number; segments: number; rounds: number },
): Promise<B12Figures[]> {
  const dir = mkdtempSync(join(tmpdir(), 'segflow-b12-'))
  const schema = `bench_b12_${process.pid}`
  const { child, url } = await start(storeEnv(store, dir, schema))
  const out: B12Figures[] = []
  const base = { store, profiles: o.profiles, segments: o.segments }
  try {
    const t0 = performance.now()
    await populate(url, o)
    out.push({
      ...base,
      measure: 'making the workspace: messages ingested per second (segments live)',
      median: Math.round((o.profiles * 4) / ((performance.now() - t0) / 1000)),
      unit: 'messages/s',
      target: '—',
    })
    out.push({
      ...base,
      measure: 'first load, gzipped',
      median: round((await firstLoadBytes(url)) / 1024),
      unit: 'KB',
      target: '< 200 KB',
    })
    const key = 's0'
    for (const [measure, path] of [
      ['GET /api/segments', '/api/segments'],
      ['GET /api/segment-trends?days=7', '/api/segment-trends?days=7'],
      ['GET /api/overview', '/api/overview'],
      ['GET …/sizes?step=hour (30 h)', `/api/segments/${key}/sizes?step=hour`],
      [
        'GET …/sizes?step=hour (30 days)',
        `/api/segments/${key}/sizes?step=hour&from=${new Date(Date.now() - 30 * DAY).toISOString()}`,
      ],
      [
        'GET …/sizes?step=day (90 days)',
        `/api/segments/${key}/sizes?step=day&from=${new Date(Date.now() - 90 * DAY).toISOString()}`,
      ],
    ] as const) {
      const ms = await timed(url, path, o.rounds * 4)
      out.push({
        ...base,
        measure,
        median: round(quantile(ms, 0.5)),
        p95: round(quantile(ms, 0.95)),
        unit: 'ms',
        target: '< 100 ms',
      })
    }
    const tti = await timeToInteractive(url, o.segments, o.rounds)
    out.push({
      ...base,
      measure: 'Segments page, time to interactive (cold context)',
      median: Math.round(quantile(tti, 0.5)),
      p95: Math.round(quantile(tti, 0.95)),
      unit: 'ms',
      target: '< 1 s',
    })
  } finally {
    child.kill('SIGTERM')
    await new Promise((r) => child.once('exit', r))
    rmSync(dir, { recursive: true, force: true })
    if (store === 'postgres') await dropSchema(schema)
  }
  return out
}

export async function runB12(o: {
  profiles: number
  segments: number
  rounds: number
  /** Default: both (PostgreSQL when reachable). */
  stores?: readonly BenchStore[]
}): Promise<B12Figures[]> {
  if (hasUi(ROOT)) {
    const current = uiInputs(ROOT)
    if (uiStaleness(ROOT, current).stale) {
      if (buildUi(ROOT) !== 0) throw new Error('B12: the dashboard did not build')
      writeUiStamp(ROOT, current)
    }
  }
  readFileSync(join(ROOT, 'dist/ui/index.html')) // fails clearly when there is no build
  const out: B12Figures[] = []
  for (const store of o.stores ?? ['sqlite', 'postgres']) {
    if (store === 'postgres' && !(await pgReachable())) continue
    out.push(...(await once(store, o)))
  }
  return out
}
