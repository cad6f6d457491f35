/**
 * `npm run bench` runs every benchmark at full size; `npm run bench -- --quick` runs small
 * sizes in seconds (CI's smoke test: it checks figures are produced, never their values).
 * Each figure is printed and appended as a JSON line to bench/results/<name>.jsonl.
 */
import { execSync } from 'node:child_process'
import { appendFileSync, mkdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { runIngestBench } from './ingest.js'

const quick = process.argv.includes('--quick')
const resultsDir = fileURLToPath(new URL('./results/', import.meta.url))

function commit(): string {
  try {
    return execSync('git rev-parse --short HEAD', { encoding: 'utf8' }).trim()
  } catch {
    return 'unknown'
  }
}

function record(name: string, figures: readonly object[]): void {
  mkdirSync(resultsDir, { recursive: true })
  const meta = { date: new Date().toISOString(), commit: commit(), quick, node: process.version }
  for (const f of figures)
    appendFileSync(
      `${resultsDir}${name}${quick ? '.quick' : ''}.jsonl`,
      `${JSON.stringify({ ...meta, ...f })}\n`,
    )
}

const ingest = await runIngestBench({ quick })
console.table(ingest)
record('b1-ingest-batch', ingest)
if (ingest.length === 0) {
  console.error('no figures produced')
  process.exitCode = 1
}
