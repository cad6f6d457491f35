/**
 * `npm run lint:openapi`: builds the app in-process (SQLite in a temporary directory, no
 * port), fetches the generated `/openapi.json` and lints it with Redocly's recommended rules
 * plus `security-defined`. Prints the counts; exits 1 on any error.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { createConfig, lintFromString } from '@redocly/openapi-core'
import type { NormalizedProblem } from '@redocly/openapi-core'
import { loadConfig } from '../src/cli/config.js'
import { openRuntime } from '../src/cli/runtime.js'
import { buildApp } from '../src/http/app.js'

export interface LintResult {
  readonly errors: readonly NormalizedProblem[]
  readonly warnings: readonly NormalizedProblem[]
}

/** Lints an OpenAPI document (as JSON text) with the recommended rules and `security-defined`. */
export async function lintOpenApi(source: string): Promise<LintResult> {
  const config = await createConfig({
    extends: ['recommended'],
    rules: { 'security-defined': 'error' },
  })
  const problems = await lintFromString({ source, absoluteRef: 'openapi.json', config })
  return {
    errors: problems.filter((p) => p.severity === 'error'),
    warnings: problems.filter((p) => p.severity === 'warn'),
  }
}

/** The document the app serves, from an app built on a throwaway SQLite store. */
export async function servedDocument(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'segflow-openapi-'))
  const rt = await openRuntime(loadConfig({ SEGFLOW_DATA_DIR: dir }))
  try {
    const app = await buildApp(rt)
    const res = await app.inject({ method: 'GET', url: '/openapi.json' })
    await app.close()
    if (res.statusCode !== 200) throw new Error(`GET /openapi.json answered ${res.statusCode}`)
    return res.body
  } finally {
    await rt.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

function where(p: NormalizedProblem): string {
  const pointer = p.location[0]?.pointer ?? ''
  return `${p.ruleId}: ${p.message}${pointer ? ` (${pointer})` : ''}`
}

async function main(): Promise<void> {
  const source = await servedDocument()
  const doc = JSON.parse(source) as { paths: Record<string, Record<string, unknown>> }
  const operations = Object.values(doc.paths).reduce((n, ops) => n + Object.keys(ops).length, 0)
  const { errors, warnings } = await lintOpenApi(source)
  for (const p of errors) console.error(`error   ${where(p)}`)
  for (const p of warnings) console.error(`warning ${where(p)}`)
  console.log(
    `openapi.json: ${operations} operations, ${errors.length} errors, ${warnings.length} warnings`,
  )
  if (errors.length > 0) process.exitCode = 1
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main()
