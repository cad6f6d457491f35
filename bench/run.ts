/**
 * `npm run bench` runs every benchmark at full size; `npm run bench -- --quick` runs small
 * sizes in seconds (CI's smoke test: it checks figures are produced, never their values).
 * `--only b3,b8` runs some. Each figure is printed and appended as a JSON line to
 * bench/results/<benchmark>.jsonl (quick runs to <benchmark>.quick.jsonl).
 */
import { execSync } from 'node:child_process'
import { appendFileSync, mkdirSync, readFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { fileURLToPath } from 'node:url'

// The baselines (DuckDB, json-rules-engine, json-logic-js, Handlebars) are bench/package.json's
// own dependencies, not segflow's: a plain `npm install` leaves them out. Say so before an
// import fails with ERR_MODULE_NOT_FOUND; the benchmarks are imported only after this check.
const benchPackage = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8'))
const missing = Object.keys(benchPackage.dependencies as Record<string, string>)
  .filter((name) => !name.startsWith('@types/'))
  .filter((name) => {
    try {
      import.meta.resolve(name)
      return false
    } catch {
      return true
    }
  })
if (missing.length > 0) {
  console.error(
    `segflow bench: the benchmarks' own dependencies are not installed (${missing.join(', ')}).\n` +
      'Install them once with `npm run bench:install` (npm ci in bench/), then run `npm run bench` again.',
  )
  process.exit(1)
}

const { runB2 } = await import('./b2-latency.js')
const { runB3 } = await import('./b3-evaluate.js')
const { runB4 } = await import('./b4-time.js')
const { runB5B6 } = await import('./b5-preview.js')
const { runB7 } = await import('./b7-persist.js')
const { runB8 } = await import('./b8-render.js')
const { runB10 } = await import('./b10-export.js')
const { runB12 } = await import('./b12-dashboard.js')
const { runIngestBench } = await import('./ingest.js')

const quick = process.argv.includes('--quick')
const onlyArg = process.argv.find((a) => a.startsWith('--only'))
const only = onlyArg
  ? new Set(
      (onlyArg.includes('=')
        ? onlyArg.split('=')[1]!
        : process.argv[process.argv.indexOf(onlyArg) + 1]!
      )
        .split(',')
        .map((s) => s.trim().toLowerCase()),
    )
  : null
const resultsDir = fileURLToPath(new URL('./results/', import.meta.url))

function commit(): string {
  try {
    return execSync('git rev-parse --short HEAD', { encoding: 'utf8' }).trim()
  } catch {
    return 'unknown'
  }
}

let produced = 0

function record(name: string, figures: readonly object[]): void {
  mkdirSync(resultsDir, { recursive: true })
  const meta = {
    date: new Date().toISOString(),
    commit: commit(),
    quick,
    node: process.version,
    cores: cpus().length,
  }
  console.log(`\n${name}`)
  console.table(figures)
  for (const f of figures) {
    produced++
    appendFileSync(
      `${resultsDir}${name}${quick ? '.quick' : ''}.jsonl`,
      `${JSON.stringify({ ...meta, ...f })}\n`,
    )
  }
}

const started = performance.now()
const want = (id: string) => only === null || only.has(id)

if (want('b1')) {
  record('b1-ingest', await runIngestBench({ quick }))
}

if (want('b2')) {
  record(
    'b2-latency',
    await runB2(
      quick
        ? { segments: 20, rate: 500, probes: 20, seconds: 2 }
        : { segments: 200, rate: 5_000, probes: 1_000, seconds: 20 },
    ),
  )
}

if (want('b3')) {
  const size = (profiles: number, sample: number) => ({
    profiles,
    segments: 500,
    events: profiles * 10,
    logicEvery: sample,
    rulesEngineEvery: sample * 20,
  })
  const sizes = quick
    ? [{ profiles: 2_000, segments: 50, events: 20_000, logicEvery: 10, rulesEngineEvery: 200 }]
    : [size(10_000, 500), size(20_000, 1_000), size(40_000, 2_000)]
  const figures = []
  for (const s of sizes) figures.push(await runB3(s))
  record('b3-evaluate', figures)
}

if (want('b4')) {
  const sizes = quick
    ? [{ profiles: 2_000, realProfiles: 200, realSeconds: 2 }]
    : [
        { profiles: 10_000, realProfiles: 2_000, realSeconds: 5 },
        { profiles: 50_000, realProfiles: 5_000, realSeconds: 5 },
        { profiles: 200_000, realProfiles: 10_000, realSeconds: 5 },
      ]
  const figures = []
  for (const s of sizes) figures.push(...(await runB4(s)))
  record('b4-time', figures)
}

if (want('b5') || want('b6')) {
  const sizes = quick
    ? [{ profiles: 1_000, events: 10_000, rounds: 2 }]
    : [
        { profiles: 3_000, events: 30_000, rounds: 3 },
        { profiles: 10_000, events: 100_000, rounds: 3 },
        { profiles: 20_000, events: 200_000, rounds: 2 },
      ]
  const b5 = []
  const b6 = []
  for (const s of sizes) {
    const r = await runB5B6({ ...s, withPg: true })
    b5.push(...r.b5)
    b6.push(...r.b6)
  }
  record('b5-preview', b5)
  record('b6-backfill', b6)
}

if (want('b7')) {
  record('b7-persist', await runB7({ quick }))
}

if (want('b8')) {
  record('b8-render', [
    await runB8(
      quick
        ? { renders: 6_000, profiles: 1_000, rounds: 2 }
        : { renders: 1_000_000, profiles: 10_000, rounds: 4 },
    ),
  ])
}

if (want('b9')) {
  // Persisted state per profile with 100 live segments (B9), measured on B3's pipeline.
  const s = quick
    ? { profiles: 2_000, segments: 100, events: 20_000 }
    : { profiles: 100_000, segments: 100, events: 1_000_000 }
  const r = await runB3({
    ...s,
    logicEvery: Number.MAX_SAFE_INTEGER,
    rulesEngineEvery: Number.MAX_SAFE_INTEGER,
  })
  record('b9-memory', [
    {
      profiles: r.profiles,
      segments: r.segments,
      events: r.events,
      stateBytesPerProfile: r.stateBytesPerProfile,
      heapBytesPerProfile: r.heapBytesPerProfile,
    },
  ])
}

if (want('b10')) {
  record(
    'b10-export',
    await runB10(
      quick
        ? { members: 20_000, rounds: 2, oldPrefix: 200 }
        : { members: 1_000_000, rounds: 3, oldPrefix: 200 },
    ),
  )
}

if (want('b12')) {
  record(
    'b12-dashboard',
    await runB12(
      quick
        ? { profiles: 2_000, segments: 20, rounds: 2 }
        : { profiles: 100_000, segments: 200, rounds: 5 },
    ),
  )
}

console.log(`\n${produced} figures in ${Math.round((performance.now() - started) / 1000)} s`)
if (produced === 0) {
  console.error('no figures produced')
  process.exitCode = 1
}
