/**
 * B2 — event → `segment.entered` latency under background load: segflow serve (SQLite) with
 * the generator's segments plus one probe segment, a webhook to a receiver on 127.0.0.1, and
 * a load generator sending ~`rate` events/s in batches. Probes (one new person each) are sent
 * at intervals; latency is from the probe's HTTP acknowledgement to its webhook arriving
 * (negative when the webhook beats the acknowledgement, which counts as 0).
 * The baseline is the same pipeline with rule evaluation all but removed: only the probe
 * segment exists, so nothing else is evaluated per event.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, Agent, request } from 'node:http'
import type { Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { messages, segmentJson, segments } from './gen.js'
import { dropSchema, pgReachable, storeEnv } from './pg.js'
import type { BenchStore } from './pg.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
export const WRITE = 'bench-write-key-0002'
export const ADMIN = 'bench-admin-key-0002'

export interface B2Figures {
  readonly target: string
  readonly store: BenchStore
  readonly segments: number
  readonly backgroundEventsPerSecond: number
  readonly probes: number
  readonly p50Ms: number
  readonly p99Ms: number
  readonly p999Ms: number
}

function call(
  agent: Agent,
  url: URL,
  method: string,
  auth: string,
  body: unknown,
): Promise<{ status: number; text: string }> {
  const payload = JSON.stringify(body)
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method,
        agent,
        headers: {
          authorization: auth,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(payload),
        },
      },
      (res) => {
        let text = ''
        res.on('data', (c: Buffer) => (text += c.toString()))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }))
      },
    )
    req.on('error', reject)
    req.end(payload)
  })
}

export async function start(
  env: Record<string, string>,
): Promise<{ child: ChildProcess; url: string }> {
  // SEGFLOW_BENCH_CPU_PROF=<dir>: the server writes a V8 CPU profile there when it exits.
  const prof = process.env.SEGFLOW_BENCH_CPU_PROF
  const args = [
    ...(prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}`] : []),
    '--import',
    'tsx',
    join(ROOT, 'test/helpers/segflow-bin.ts'),
    'serve',
  ]
  const [cmd, argv] =
    process.platform === 'linux'
      ? ['taskset', ['-c', '0', process.execPath, ...args]]
      : [process.execPath, args]
  const child = spawn(cmd, argv, {
    cwd: ROOT,
    env: {
      ...process.env,
      SEGFLOW_PORT: '0',
      ...env,
      SEGFLOW_WRITE_KEY: WRITE,
      SEGFLOW_ADMIN_KEY: ADMIN,
      SEGFLOW_WEBHOOK_ALLOW_PRIVATE: 'true',
      SEGFLOW_LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let text = ''
  const url = await new Promise<string>((resolve, reject) => {
    const onData = (c: Buffer) => {
      text += c.toString()
      const m = /"url":"(http:\/\/[^"]+)"/.exec(text)
      if (m) resolve(m[1]!)
    }
    child.stdout!.on('data', onData)
    child.stderr!.on('data', onData)
    child.once('exit', () => reject(new Error(`segflow exited:\n${text}`)))
  })
  return { child, url }
}

async function once(o: {
  store: BenchStore
  segmentCount: number
  rate: number
  probes: number
  seconds: number
}): Promise<number[]> {
  const dir = mkdtempSync(join(tmpdir(), 'segflow-b2-'))
  const schema = `bench_b2_${process.pid}`
  const arrived = new Map<string, number>()
  const receiver: Server = createServer((req, res) => {
    let body = ''
    req.on('data', (c: Buffer) => (body += c.toString()))
    req.on('end', () => {
      const at = performance.now()
      try {
        const e = JSON.parse(body) as { data?: { profile?: { userId?: string } } }
        const user = e.data?.profile?.userId
        if (user?.startsWith('probe-') && !arrived.has(user)) arrived.set(user, at)
      } catch {
        /* not ours */
      }
      res.writeHead(200).end()
    })
  })
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r))
  const port = (receiver.address() as { port: number }).port
  const server = await start(storeEnv(o.store, dir, schema))
  const agent = new Agent({ keepAlive: true, maxSockets: 8 })
  const admin = `Bearer ${ADMIN}`
  const basic = `Basic ${Buffer.from(`${WRITE}:`).toString('base64')}`
  try {
    const base = new URL(server.url)
    for (const d of segments(o.segmentCount, 3)) {
      const r = await call(agent, new URL(`/api/segments/${d.key}`, base), 'PUT', admin, {
        rule: d.rule,
      })
      if (r.status >= 300) throw new Error(`segment ${d.key}: ${r.text}`)
    }
    await call(agent, new URL('/api/segments/probe', base), 'PUT', admin, {
      rule: { event: 'B2 Probe', within: '1d' },
    })
    await call(agent, new URL('/api/webhooks/b2', base), 'PUT', admin, {
      url: `http://127.0.0.1:${port}/hook`,
      segments: ['probe'],
      types: ['segment.entered'],
    })
    // Background load: batches of 50 generated messages, paced to `rate` events/s.
    const gen = messages({ seed: 9, profiles: 10_000, events: o.rate * (o.seconds + 5) })
    let n = 0
    let stop = false
    const background = (async () => {
      const t0 = performance.now()
      let sent = 0
      while (!stop) {
        const batch = []
        for (let i = 0; i < 50; i++) {
          const m = gen.next()
          if (m.done) break
          batch.push({ ...segmentJson(m.value, `bg-${n++}`), timestamp: new Date().toISOString() })
        }
        if (batch.length === 0) break
        await call(agent, new URL('/v1/batch', base), 'POST', basic, { batch })
        sent += batch.length
        const ahead = sent / o.rate - (performance.now() - t0) / 1000
        if (ahead > 0) await new Promise((r) => setTimeout(r, ahead * 1000))
      }
      return sent / ((performance.now() - t0) / 1000)
    })()
    const acked = new Map<string, number>()
    const gap = (o.seconds * 1000) / o.probes
    for (let i = 0; i < o.probes; i++) {
      await new Promise((r) => setTimeout(r, gap))
      const user = `probe-${i}`
      const r = await call(agent, new URL('/v1/track', base), 'POST', basic, {
        userId: user,
        event: 'B2 Probe',
      })
      if (r.status !== 200) throw new Error(`probe: ${r.status} ${r.text}`)
      acked.set(user, performance.now())
    }
    await new Promise((r) => setTimeout(r, 1000))
    stop = true
    const achieved = await background
    const latencies = [...acked].map(([u, t]) => Math.max(0, (arrived.get(u) ?? Infinity) - t))
    if (latencies.some((l) => l === Infinity))
      throw new Error(`B2: ${latencies.filter((l) => l === Infinity).length} probes never arrived`)
    return [achieved, ...latencies]
  } finally {
    agent.destroy()
    server.child.kill('SIGTERM')
    await new Promise((r) => server.child.once('exit', r))
    receiver.close()
    rmSync(dir, { recursive: true, force: true })
    if (o.store === 'postgres') await dropSchema(schema)
  }
}

const q = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b)
  return Number((s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? 0).toFixed(2))
}

export async function runB2(o: {
  segments: number
  rate: number
  probes: number
  seconds: number
}): Promise<B2Figures[]> {
  const out: B2Figures[] = []
  const stores: BenchStore[] = (await pgReachable()) ? ['sqlite', 'postgres'] : ['sqlite']
  for (const store of stores)
    for (const [target, count] of [
      ['segflow', o.segments],
      ['baseline: only the probe segment', 0],
    ] as const) {
      const [achieved, ...lat] = await once({ ...o, store, segmentCount: count })
      out.push({
        target,
        store,
        segments: count + 1,
        backgroundEventsPerSecond: Math.round(achieved!),
        probes: lat.length,
        p50Ms: q(lat, 0.5),
        p99Ms: q(lat, 0.99),
        p999Ms: q(lat, 0.999),
      })
    }
  return out
}
