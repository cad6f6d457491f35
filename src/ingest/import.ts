import { parse as parseCsv } from 'csv-parse'
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import { createInterface } from 'node:readline'
import { Transform } from 'node:stream'
import secureJson from 'secure-json-parse'
import type { Message } from '../engine/message.js'
import type { Clock } from '../shared/clock.js'
import { SegflowError } from '../shared/errors.js'
import type { Issue } from '../shared/errors.js'
import { sanitizeStrings } from '../shared/json.js'
import type { JsonObject, JsonValue } from '../shared/json.js'
import type { Ingestor } from './ingestor.js'
import { parseMessage, SUSPECT_ESCAPES } from './message.js'

export type ImportFormat = 'ndjson' | 'csv'

export interface ImportOptions {
  readonly workspaceId: string
  readonly format: ImportFormat
  /** Rows committed per transaction. Default 1000. */
  readonly batchSize?: number
  /** CSV: the column holding the userId. Default: the first of userId, user_id, id. */
  readonly idColumn?: string
  /** CSV: the column holding the email. Default: email. */
  readonly emailColumn?: string
  /** CSV: read 42 as a number and true/false as booleans (not 02134). Default true. */
  readonly inferTypes?: boolean
  /** Called after each committed batch. */
  readonly onProgress?: (p: ImportProgress) => void
}

export interface ImportProgress {
  readonly rows: number
  readonly bytesRead: number
  readonly totalBytes: number
}

export interface RejectedRow {
  readonly line: number
  readonly field: string
  readonly reason: string
}

export interface ImportSummary {
  readonly rows: number
  readonly stored: number
  readonly duplicates: number
  /** Rows rejected, all counted; the first MAX_REJECTIONS_KEPT kept with their reason. */
  readonly rejectedCount: number
  readonly rejected: readonly RejectedRow[]
}

export const MAX_REJECTIONS_KEPT = 1000

const sha = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 32)

/** Picks the format from the file name: .csv is CSV; .ndjson, .jsonl and .json are NDJSON. */
export function formatOf(path: string): ImportFormat | null {
  const lower = path.toLowerCase()
  if (lower.endsWith('.csv')) return 'csv'
  if (/\.(ndjson|jsonl|json)$/.test(lower)) return 'ndjson'
  return null
}

/**
 * Streams a file of Segment messages (NDJSON) or profiles (CSV) into the store, a batch at a
 * time, so memory does not grow with the file. Re-running the same file changes nothing:
 * each row's messageId is derived from its content when it has none, and stored ids dedupe.
 */
export async function importFile(
  path: string,
  ingestor: Ingestor,
  clock: Clock,
  options: ImportOptions,
): Promise<ImportSummary> {
  const totalBytes = (await stat(path)).size
  let bytesRead = 0
  const counter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      bytesRead += chunk.length
      done(null, chunk)
    },
  })
  const input = createReadStream(path)
    .on('error', (e) => counter.destroy(e))
    .pipe(counter)

  const batchSize = options.batchSize ?? 1000
  let rows = 0
  let stored = 0
  let duplicates = 0
  let rejectedCount = 0
  const rejected: RejectedRow[] = []
  let batch: Message[] = []

  const reject = (line: number, field: string, reason: string) => {
    rejectedCount++
    if (rejected.length < MAX_REJECTIONS_KEPT) rejected.push({ line, field, reason })
  }
  const flush = async () => {
    if (batch.length > 0) {
      const r = await ingestor.commit(batch, [])
      stored += r.accepted
      duplicates += r.duplicates
      batch = []
    }
    options.onProgress?.({ rows, bytesRead, totalBytes })
  }

  const rowsOf =
    options.format === 'csv' ? csvRows(input, options, clock) : ndjsonRows(input, options, clock)
  try {
    for await (const row of rowsOf) {
      rows++
      if ('message' in row) {
        const admitted = ingestor.admit(row.message)
        if (admitted.ok) batch.push({ ...admitted.message, origin: 'import' })
        else for (const i of admitted.issues) reject(row.line, i.path, i.message)
      } else reject(row.line, row.field, row.reason)
      if (batch.length >= batchSize) await flush()
    }
  } catch (e) {
    if (!isCsvError(e)) throw e
    // The rows before the broken one are good: keep them, so a rerun after the fix skips them.
    await flush()
    const line = e.lines ?? e.line
    throw new SegflowError(
      'invalid_request',
      `${path} is not valid CSV${line === undefined ? '' : ` at line ${line}`}: ${e.message.replace(/ at line \d+/, '')}; ` +
        `${stored} rows before it were imported (fix the file and run again: rows already stored are skipped)`,
    )
  }
  await flush()
  return { rows, stored, duplicates, rejectedCount, rejected }
}

/** csv-parse's errors carry a `CSV_…` code and the line they stopped at. */
function isCsvError(e: unknown): e is Error & { code: string; lines?: number; line?: number } {
  const code = e instanceof Error ? (e as { code?: unknown }).code : undefined
  return typeof code === 'string' && code.startsWith('CSV_')
}

type Row = { message: Message; line: number } | { line: number; field: string; reason: string }

async function* ndjsonRows(
  input: NodeJS.ReadableStream,
  o: ImportOptions,
  clock: Clock,
): AsyncGenerator<Row> {
  const lines = createInterface({ input, crlfDelay: Infinity })
  let line = 0
  for await (const text of lines) {
    line++
    if (text.trim() === '') continue
    let raw: unknown
    try {
      raw = secureJson.parse(text, undefined, {
        protoAction: 'remove',
        constructorAction: 'remove',
      })
    } catch (e) {
      yield { line, field: '', reason: `not valid JSON: ${(e as Error).message}` }
      continue
    }
    const receivedAt = clock.now()
    const r = parseMessage(raw, {
      workspaceId: o.workspaceId,
      receivedAt,
      newMessageId: () => `imp_${sha(text)}`,
      sanitize: SUSPECT_ESCAPES.test(text),
    })
    if (r.ok) yield { message: r.message, line }
    else for (const issue of r.issues) yield { line, field: issue.path, reason: issue.message }
  }
}

const ID_COLUMNS = ['userid', 'user_id', 'id']
const ANON_COLUMNS = ['anonymousid', 'anonymous_id']

function findColumn(
  header: readonly string[],
  wanted: string | undefined,
  candidates: readonly string[],
) {
  if (wanted !== undefined) return header.includes(wanted) ? wanted : null
  for (const c of candidates) {
    const found = header.find((h) => h.toLowerCase() === c)
    if (found !== undefined) return found
  }
  return null
}

/** "42" → 42 and "true" → true, but only where nothing is lost ("02134" stays a string). */
function inferValue(text: string): JsonValue {
  if (text === 'true') return true
  if (text === 'false') return false
  if (/^-?\d+(\.\d+)?$/.test(text)) {
    const n = Number(text)
    if (Number.isFinite(n) && String(n) === text) return n
  }
  return text
}

async function* csvRows(
  input: NodeJS.ReadableStream,
  o: ImportOptions,
  clock: Clock,
): AsyncGenerator<Row> {
  const parser = input.pipe(
    parseCsv({
      columns: true,
      bom: true,
      trim: true,
      skip_empty_lines: true,
      info: true,
      // A malformed row is that row's problem: it is reported with its line, the rest go in.
      // What cannot be skipped (a quote never closed) still ends the import, see importFile.
      skip_records_with_error: true,
    }),
  )
  const skipped: Row[] = []
  parser.on('skip', (e: Error & { lines?: number }) => {
    skipped.push({ line: e.lines ?? 0, field: '', reason: `not valid CSV: ${e.message}` })
  })
  let columns: { id: string | null; anon: string | null; email: string | null } | null = null
  for await (const item of parser as AsyncIterable<{
    record: Record<string, string>
    info: { lines: number }
  }>) {
    yield* skipped.splice(0)
    const { record, info } = item
    if (columns === null) {
      const header = Object.keys(record)
      columns = {
        id: findColumn(header, o.idColumn, ID_COLUMNS),
        anon: findColumn(header, undefined, ANON_COLUMNS),
        email: findColumn(header, o.emailColumn, ['email']),
      }
      if (o.idColumn !== undefined && columns.id === null) {
        throw new SegflowError(
          'invalid_request',
          `the CSV has no column ${JSON.stringify(o.idColumn)} (--id-column)`,
        )
      }
      if (o.emailColumn !== undefined && columns.email === null) {
        throw new SegflowError(
          'invalid_request',
          `the CSV has no column ${JSON.stringify(o.emailColumn)} (--email-column)`,
        )
      }
      if (columns.id === null && columns.anon === null && columns.email === null) {
        throw new SegflowError(
          'invalid_request',
          `the CSV has no id column (userId, user_id, id) and no email column; name one with --id-column or --email-column`,
        )
      }
    }
    const id = columns.id === null ? '' : (record[columns.id] ?? '')
    const anon = columns.anon === null ? '' : (record[columns.anon] ?? '')
    const email = columns.email === null ? '' : (record[columns.email] ?? '')
    if (id === '' && anon === '' && email === '') {
      yield {
        line: info.lines,
        field: columns.id ?? columns.email ?? '',
        reason: 'the row has no id and no email',
      }
      continue
    }
    const traits: JsonObject = {}
    for (const [k, v] of Object.entries(record)) {
      if (k === columns.id || k === columns.anon || v === '' || k === '__proto__') continue
      traits[k === columns.email ? 'email' : k] = o.inferTypes === false ? v : inferValue(v)
    }
    const issues: Issue[] = []
    sanitizeStrings([id, anon, email, traits], '', issues)
    if (issues.length > 0) {
      yield {
        line: info.lines,
        field: '',
        reason: 'a value contains a NUL character, which cannot be stored',
      }
      continue
    }
    const receivedAt = clock.now()
    const identity = [id, anon, email.toLowerCase()]
    const message: Message = {
      workspaceId: o.workspaceId,
      type: 'identify',
      messageId: `csv_${sha(JSON.stringify([identity, Object.entries(traits).sort(([a], [b]) => (a < b ? -1 : 1))]))}`,
      userId: id === '' ? null : id,
      anonymousId: anon === '' ? null : anon,
      name: null,
      properties: null,
      traits,
      groupId: null,
      previousId: null,
      timestamp: receivedAt,
      receivedAt,
      payload: { context: { library: { name: 'segflow-import' } } },
      activity: false,
      ...(id === '' && anon === '' ? { target: { email: email.trim().toLowerCase() } } : {}),
    }
    yield { message, line: info.lines }
  }
  yield* skipped.splice(0)
}
