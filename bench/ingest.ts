/**
 * B1 — durable HTTP ingest: single-message POSTs over 50 connections and 100-message batches,
 * each answered only once durable. segflow serve in its own process, pinned to core 0, against
 * a bare node:http server that only parses JSON and answers (the floor), driven alternately
 * by one load generator on core 1.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { Agent, request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { dropSchema, pgReachable, storeEnv } from './pg.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const WRITE_KEY = 'bench-write-key-0001'
const AUTH = `Basic ${Buffer.from(`${WRITE_KEY}:`).toString('base64')}`

export interface IngestFigures {
  readonly target: string
  readonly store: string
  readonly batchSize: number
  readonly connections: number
  readonly seconds: number
  readonly eventsPerSecond: number
  readonly requestsPerSecond: number
  readonly p50Ms: number
  readonly p99Ms: number
}

function pinned(core: number, cmd: string, args: string[]): [string, string[]] {
  return process.platform === 'linux'
    ? ['taskset', ['-c', String(core), cmd, ...args]]
    : [cmd, args]
}

async function waitForUrl(child: ChildProcess, pattern: RegExp): Promise<string> {
  let text = ''
  return new Promise((resolve, reject) => {
    const onData = (c: Buffer) => {
      text += c.toString()
      const m = pattern.exec(text)
      if (m) resolve(m[1]!)
    }
    child.stdout!.on('data', onData)
    child.stderr!.on('data', onData)
    child.once('exit', () => reject(new Error(`server exited:\n${text}`)))
  })
}

/** A minimal server: parse the JSON body, answer 200. What no ingest server can beat. */
const FLOOR_SERVER = `
const http = require('node:http')
const server = http.createServer((req, res) => {
  const chunks = []
  req.on('data', (c) => chunks.push(c))
  req.on('end', () => {
    JSON.parse(Buffer.concat(chunks).toString('utf8'))
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end('{"success":true}')
  })
})
server.listen(0, '127.0.0.1', () => console.log('listening http://127.0.0.1:' + server.address().port))
`

async function startFloor(): Promise<{ child: ChildProcess; url: string }> {
  const [cmd, args] = pinned(0, process.execPath, ['-e', FLOOR_SERVER])
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  const url = await waitForUrl(child, /listening (http:\/\/\S+)/)
  return { child, url }
}

async function startServer(
  env: Record<string, string>,
): Promise<{ child: ChildProcess; url: string }> {
  // SEGFLOW_BENCH_CPU_PROF=<dir>: the server writes a V8 CPU profile there when it exits.
  const prof = process.env.SEGFLOW_BENCH_CPU_PROF
  const [cmd, args] = pinned(0, process.execPath, [
    ...(prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}`] : []),
    '--import',
    'tsx',
    join(ROOT, 'test/helpers/segflow-bin.ts'),
    'serve',
  ])
  const child = spawn(cmd, args, {
    cwd: ROOT,
    env: {
      ...process.env,
      SEGFLOW_PORT: '0',
      SEGFLOW_LOG_LEVEL: 'info',
      SEGFLOW_WRITE_KEY: WRITE_KEY,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const url = await waitForUrl(child, /"url":"(http:\/\/[^"]+)".*segflow is listening/)
  return { child, url }
}

let sequence = 0
function batchBody(size: number): string {
  const n = sequence++
  const now = new Date().toISOString()
  const one = (i: number) => ({
    type: i % 10 < 6 ? 'page' : i % 10 < 8 ? 'track' : 'identify',
    messageId: `bench-${process.pid}-${n}-${i}`,
    userId: `user-${(n * 31 + i * 7) % 100_000}`,
    event: 'Product Viewed',
    name: 'Pricing',
    timestamp: now,
    properties: {
      path: '/pricing',
      plan: 'pro',
      price: 49,
      currency: 'USD',
      referrer: 'https://example.com/',
    },
    traits: { plan: 'pro', seats: 3 },
    context: {
      library: { name: 'bench', version: '1' },
      ip: '203.0.113.7',
      userAgent: 'Mozilla/5.0 (X11; Linux x86_64) bench',
    },
  })
  // One message goes to /v1/track etc. as itself; more as a batch.
  if (size === 1) return JSON.stringify({ ...one(0), sentAt: now })
  return JSON.stringify({ sentAt: now, batch: Array.from({ length: size }, (_, i) => one(i)) })
}

function post(agent: Agent, url: URL, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        agent,
        headers: {
          authorization: AUTH,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
        },
      },
      (res) => {
        res.resume()
        res.on('end', () => resolve(res.statusCode ?? 0))
      },
    )
    req.on('error', reject)
    req.end(body)
  })
}

async function drive(url: string, batchSize: number, connections: number, seconds: number) {
  const target = new URL(batchSize === 1 ? '/v1/page' : '/v1/batch', url)
  const agent = new Agent({ keepAlive: true, maxSockets: connections })
  const latencies: number[] = []
  let ok = 0
  let failed = 0
  const end = performance.now() + seconds * 1000
  // Bodies are prepared ahead so the generator spends its core on sending.
  const bodies = Array.from({ length: 64 }, () => batchBody(batchSize))
  let next = 0
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (performance.now() < end) {
        const body = bodies[next++ % bodies.length]!
        // Fresh messageIds for every send, or dedupe would make later rounds free.
        const fresh = body.replaceAll('"messageId":"bench-', `"messageId":"r${next}-bench-`)
        const t0 = performance.now()
        const status = await post(agent, target, fresh)
        latencies.push(performance.now() - t0)
        if (status === 200) ok++
        else failed++
      }
    }),
  )
  agent.destroy()
  latencies.sort((a, b) => a - b)
  const q = (p: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0
  return { ok, failed, p50: q(0.5), p99: q(0.99) }
}

/** Runs segflow (SQLite, then PostgreSQL when reachable) and the floor in alternating rounds. */
export async function runIngestBench(options: { quick: boolean }): Promise<IngestFigures[]> {
  const seconds = options.quick ? 2 : 10
  const rounds = options.quick ? 1 : 3
  const modes = [
    { batchSize: 1, connections: 50 },
    { batchSize: 100, connections: 16 },
  ]
  const figures: IngestFigures[] = []
  const dir = mkdtempSync(join(tmpdir(), 'segflow-bench-'))
  const schema = `bench_${process.pid}`
  const pgAvailable = await pgReachable()
  const targets: Array<{
    name: string
    store: string
    start: () => Promise<{ child: ChildProcess; url: string }>
  }> = [
    { name: 'node:http floor', store: '-', start: startFloor },
    { name: 'segflow', store: 'sqlite', start: () => startServer(storeEnv('sqlite', dir, schema)) },
  ]
  if (pgAvailable) {
    targets.push({
      name: 'segflow',
      store: 'postgres',
      start: () => startServer(storeEnv('postgres', dir, schema)),
    })
  }
  try {
    for (let round = 0; round < rounds; round++) {
      for (const t of targets) {
        const server = await t.start()
        try {
          for (const { batchSize, connections } of modes) {
            const r = await drive(server.url, batchSize, connections, seconds)
            if (r.failed > 0)
              throw new Error(`${t.name} (${t.store}) answered ${r.failed} requests with an error`)
            figures.push({
              target: t.name,
              store: t.store,
              batchSize,
              connections,
              seconds,
              eventsPerSecond: Math.round((r.ok * batchSize) / seconds),
              requestsPerSecond: Math.round(r.ok / seconds),
              p50Ms: Number(r.p50.toFixed(2)),
              p99Ms: Number(r.p99.toFixed(2)),
            })
          }
        } finally {
          server.child.kill('SIGTERM')
          await new Promise((r) => server.child.once('exit', r))
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
    if (pgAvailable) await dropSchema(schema)
  }
  return figures
}
