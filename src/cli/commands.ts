import { SingleBar } from 'cli-progress'
import { existsSync } from 'node:fs'
import { basename, join } from 'node:path'
import { importFile, formatOf } from '../ingest/import.js'
import type { ImportFormat, ImportProgress, ImportSummary } from '../ingest/import.js'
import { DEFAULT_WORKSPACE } from '../keys/key-service.js'
import { SegflowError } from '../shared/errors.js'
import type { ApiKeyRecord, KeyKind } from '../store/store.js'
import { ConfigError } from './config.js'
import type { Config } from './config.js'
import { openRuntime, openStore } from './runtime.js'
import type { Runtime } from './runtime.js'

/** Where a command writes: stdout for results, stderr for progress and diagnostics. */
export interface Output {
  out(line: string): void
  err(line: string): void
  /** Whether stderr is a terminal (progress bars only then). */
  readonly interactive: boolean
}

export const processOutput: Output = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  interactive: process.stderr.isTTY === true,
}

/**
 * Only `segflow serve` creates a database. Any other command run from the wrong folder (or
 * with the wrong SEGFLOW_DATABASE_URL) would otherwise quietly make an empty one and work on it.
 */
export async function requireExistingStore(config: Config): Promise<void> {
  if (config.databaseUrl === null) {
    const file = join(config.dataDir, 'segflow.db')
    if (!existsSync(file))
      throw new ConfigError(
        `no segflow database at ${file}: run this where \`segflow serve\` keeps its data, or point SEGFLOW_DATA_DIR at that folder (or SEGFLOW_DATABASE_URL at its PostgreSQL)`,
      )
    return
  }
  const store = openStore(config)
  try {
    if (!(await store.initialized()))
      throw new ConfigError(
        `no segflow database in ${config.databaseSchema ? `schema ${config.databaseSchema} of ` : ''}SEGFLOW_DATABASE_URL: start \`segflow serve\` on it once, or check SEGFLOW_DATABASE_URL${config.databaseSchema ? ' and SEGFLOW_DATABASE_SCHEMA' : ''}`,
      )
  } finally {
    await store.close()
  }
}

export async function withRuntime<T>(config: Config, fn: (rt: Runtime) => Promise<T>): Promise<T> {
  await requireExistingStore(config)
  const rt = await openRuntime(config)
  try {
    // Registers keys given in the environment, but generates none: a key made here could
    // never be shown again. `segflow serve` generates and prints the first-start keys.
    await rt.keys.bootstrap(
      {
        ...(config.writeKey ? { writeKey: config.writeKey } : {}),
        ...(config.adminKey ? { adminKey: config.adminKey } : {}),
      },
      { generate: false },
    )
    return await fn(rt)
  } finally {
    await rt.close()
  }
}

const date = (ms: number | null) =>
  ms === null ? '-' : new Date(ms).toISOString().replace('.000Z', 'Z')

export function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
  return rows.map((r) =>
    r
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd(),
  )
}

export async function keysCreate(
  config: Config,
  o: Output,
  opts: { type: string; workspace: string; name?: string; json?: boolean },
): Promise<void> {
  if (opts.type !== 'write' && opts.type !== 'admin') {
    throw new SegflowError(
      'invalid_request',
      `--type ${JSON.stringify(opts.type)} must be write or admin`,
    )
  }
  const kind: KeyKind = opts.type
  await withRuntime(config, async (rt) => {
    const { record, key } = await rt.keys.create({
      workspaceId: opts.workspace,
      kind,
      ...(opts.name ? { name: opts.name } : {}),
    })
    if (opts.json) o.out(JSON.stringify({ ...publicKey(record), key }))
    else {
      o.out(`Created ${kind} key ${record.id} for workspace ${record.workspaceId}:`)
      o.out(`  ${key}`)
      o.out('It is shown this once; store it now.')
    }
  })
}

function publicKey(k: ApiKeyRecord) {
  return {
    id: k.id,
    workspace: k.workspaceId,
    type: k.kind,
    name: k.name,
    prefix: k.prefix,
    createdAt: date(k.createdAt),
    revokedAt: k.revokedAt === null ? null : date(k.revokedAt),
  }
}

export async function keysList(
  config: Config,
  o: Output,
  opts: { workspace?: string; json?: boolean },
): Promise<void> {
  await withRuntime(config, async (rt) => {
    const keys = await rt.keys.list(opts.workspace)
    if (opts.json) {
      o.out(JSON.stringify(keys.map(publicKey)))
      return
    }
    const rows = [['ID', 'WORKSPACE', 'TYPE', 'PREFIX', 'NAME', 'CREATED', 'REVOKED']]
    for (const k of keys) {
      rows.push([
        k.id,
        k.workspaceId,
        k.kind,
        `${k.prefix}…`,
        k.name,
        date(k.createdAt),
        date(k.revokedAt),
      ])
    }
    for (const line of table(rows)) o.out(line)
  })
}

export async function keysRevoke(config: Config, o: Output, id: string): Promise<void> {
  await withRuntime(config, async (rt) => {
    const k = await rt.keys.revoke(id)
    o.out(`Revoked ${k.kind} key ${k.id} (${k.prefix}…) of workspace ${k.workspaceId}.`)
  })
}

export async function workspacesCreate(
  config: Config,
  o: Output,
  id: string,
  opts: { name?: string },
): Promise<void> {
  if (!/^[a-z0-9][a-z0-9_-]{0,62}$/.test(id)) {
    throw new SegflowError(
      'invalid_request',
      `workspace id ${JSON.stringify(id)} must be lower-case letters, digits, - and _`,
    )
  }
  await withRuntime(config, async (rt) => {
    const created = await rt.store.ensureWorkspace({
      id,
      name: opts.name ?? id,
      createdAt: rt.clock.now(),
    })
    if (!created) throw new SegflowError('invalid_request', `workspace ${id} already exists`)
    o.out(
      `Created workspace ${id}. Create its keys with: segflow keys create --workspace ${id} --type write`,
    )
  })
}

export async function workspacesList(config: Config, o: Output): Promise<void> {
  await withRuntime(config, async (rt) => {
    const rows = [['ID', 'NAME', 'CREATED']]
    for (const w of await rt.store.listWorkspaces()) rows.push([w.id, w.name, date(w.createdAt)])
    for (const line of table(rows)) o.out(line)
  })
}

export interface ImportCommandOptions {
  workspace: string
  format?: string
  idColumn?: string
  emailColumn?: string
  inferTypes?: boolean
  batchSize?: string
  json?: boolean
}

export async function importCommand(
  config: Config,
  o: Output,
  file: string,
  opts: ImportCommandOptions,
): Promise<ImportSummary> {
  const format = (opts.format ?? formatOf(file)) as ImportFormat | null
  if (format !== 'csv' && format !== 'ndjson') {
    throw new SegflowError(
      'invalid_request',
      opts.format === undefined
        ? `cannot tell the format of ${basename(file)} from its name; pass --format ndjson or --format csv`
        : `--format ${JSON.stringify(opts.format)} must be ndjson or csv`,
    )
  }
  const batchSize = opts.batchSize === undefined ? 1000 : Number(opts.batchSize)
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 5000) {
    throw new SegflowError(
      'invalid_request',
      `--batch-size ${JSON.stringify(opts.batchSize)} must be from 1 to 5000`,
    )
  }
  return withRuntime(config, async (rt) => {
    if (!(await rt.store.getWorkspace(opts.workspace))) {
      throw new SegflowError(
        'workspace_not_found',
        `workspace ${JSON.stringify(opts.workspace)} does not exist`,
      )
    }
    const started = performance.now()
    const bar = o.interactive
      ? new SingleBar({
          format: ' {bar} {percentage}% | {rows} rows | {rate} rows/s | ETA {etaText}',
          stream: process.stderr,
          hideCursor: true,
          etaBuffer: 20,
        })
      : null
    const onProgress = (p: ImportProgress) => {
      if (!bar) return
      const seconds = (performance.now() - started) / 1000
      const bytesPerSecond = p.bytesRead / Math.max(seconds, 0.001)
      const payload = {
        rows: p.rows.toLocaleString('en'),
        rate: Math.round(p.rows / Math.max(seconds, 0.001)).toLocaleString('en'),
        etaText: bytesPerSecond > 0 ? duration((p.totalBytes - p.bytesRead) / bytesPerSecond) : '-',
      }
      if (bar.getTotal() !== p.totalBytes) bar.start(p.totalBytes, p.bytesRead, payload)
      else bar.update(p.bytesRead, payload)
    }
    let summary: ImportSummary
    try {
      summary = await importFile(file, rt.ingestor, rt.clock, {
        workspaceId: opts.workspace,
        format,
        batchSize,
        ...(opts.idColumn ? { idColumn: opts.idColumn } : {}),
        ...(opts.emailColumn ? { emailColumn: opts.emailColumn } : {}),
        inferTypes: opts.inferTypes !== false,
        onProgress,
      })
    } finally {
      bar?.stop()
    }
    const seconds = (performance.now() - started) / 1000
    if (opts.json) o.out(JSON.stringify({ file, format, seconds, ...summary }))
    else printSummary(o, file, seconds, summary)
    return summary
  })
}

/** 75 → "1m 15s". */
export function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds))
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`
}

function printSummary(o: Output, file: string, seconds: number, s: ImportSummary): void {
  const n = (v: number) => v.toLocaleString('en')
  const rate = Math.round(s.rows / Math.max(seconds, 0.001))
  o.out(
    `Imported ${basename(file)}: ${n(s.rows)} rows in ${seconds.toFixed(1)}s (${n(rate)} rows/s): ` +
      `${n(s.stored)} stored, ${n(s.duplicates)} already stored, ${n(s.rejectedCount)} rejected`,
  )
  if (s.rejectedCount > 0) {
    o.out('Rejected rows:')
    const shown = s.rejected.slice(0, 50)
    for (const r of shown) o.out(`  line ${r.line}${r.field ? ` (${r.field})` : ''}: ${r.reason}`)
    if (s.rejectedCount > shown.length)
      o.out(`  … and ${n(s.rejectedCount - shown.length)} more (use --json for the first 1,000)`)
  }
}

export { DEFAULT_WORKSPACE }
