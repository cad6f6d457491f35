import { readdirSync, readFileSync, statSync } from 'node:fs'
import { basename, join } from 'node:path'
import { isDeepStrictEqual } from 'node:util'
import type { ExplanationView, SegmentView } from '../engine/segment-service.js'
import { isStageKey } from '../rules/desugar.js'
import { parseRule } from '../rules/parse.js'
import { dependencyOrder } from '../rules/references.js'
import type { Rule } from '../rules/types.js'
import { parseSegmentsYaml } from '../rules/yaml.js'
import type { SegmentDefinition } from '../rules/yaml.js'
import { SegflowError } from '../shared/errors.js'
import type { Output } from './commands.js'

/** Where a running segflow is and the admin key to call it with. */
export interface ApiTarget {
  readonly url: string
  readonly key: string
}

/** `--url`/`--key`, else SEGFLOW_URL (or SEGFLOW_HOST:SEGFLOW_PORT) and SEGFLOW_ADMIN_KEY. */
export function apiTarget(env: NodeJS.ProcessEnv, opts: { url?: string; key?: string }): ApiTarget {
  const url =
    opts.url ??
    env.SEGFLOW_URL ??
    `http://${env.SEGFLOW_HOST ?? '127.0.0.1'}:${env.SEGFLOW_PORT ?? '8787'}`
  const key = opts.key ?? env.SEGFLOW_ADMIN_KEY
  if (!key)
    throw new SegflowError('missing_key', 'no admin key: pass --key or set SEGFLOW_ADMIN_KEY')
  return { url: url.replace(/\/+$/, ''), key }
}

export async function call<T>(
  target: ApiTarget,
  method: string,
  path: string,
  body?: unknown,
): Promise<T> {
  let res: Response
  try {
    res = await fetch(`${target.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${target.key}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })
  } catch (e) {
    throw new SegflowError(
      'unavailable',
      `cannot reach segflow at ${target.url}: ${(e as Error).message}`,
    )
  }
  const json = (await res.json().catch(() => null)) as {
    error?: { code: string; message: string }
  } | null
  if (!res.ok) {
    throw new SegflowError(
      res.status === 404 ? 'not_found' : 'invalid_request',
      json?.error?.message ?? `${method} ${path} answered ${res.status}`,
    )
  }
  return json as T
}

/** Every segment defined in a YAML file, or in the .yaml/.yml files of a folder (sorted). */
export function readSegmentFiles(path: string): SegmentDefinition[] {
  const files = statSync(path).isDirectory()
    ? readdirSync(path)
        .filter((f) => /\.ya?ml$/i.test(f))
        .sort()
        .map((f) => join(path, f))
    : [path]
  const all: SegmentDefinition[] = []
  const problems: string[] = []
  const where = new Map<string, string>()
  for (const file of files) {
    const r = parseSegmentsYaml(readFileSync(file, 'utf8'))
    if (!r.ok) {
      for (const i of r.issues) {
        problems.push(
          `${basename(file)}${i.line ? `:${i.line}:${i.column}` : ''}: ${i.path ? `${i.path}: ` : ''}${i.message}`,
        )
      }
      continue
    }
    for (const s of r.segments) {
      const before = where.get(s.key)
      if (before) problems.push(`${basename(file)}: segment ${s.key} is also defined in ${before}`)
      where.set(s.key, basename(file))
      all.push(s)
    }
  }
  if (problems.length > 0)
    throw new SegflowError(
      'invalid_rule',
      `the segment files are not valid:\n  ${problems.join('\n  ')}`,
    )
  if (all.length === 0) throw new SegflowError('invalid_request', `no segments found in ${path}`)
  return all
}

type Change =
  | { kind: 'create'; def: SegmentDefinition; enter: number }
  | {
      kind: 'update'
      def: SegmentDefinition
      from: SegmentView
      ruleChanged: boolean
      enter: number
      exit: number
    }
  | { kind: 'delete'; current: SegmentView; exit: number }

const n = (v: number) => v.toLocaleString('en')

/**
 * `segflow apply -f DIR_OR_FILE`: compares the files with the running segflow and prints the
 * plan (what is created, updated and deleted, and how many people would enter and leave);
 * with `yes`, applies it, referenced segments first.
 */
export async function applySegments(
  target: ApiTarget,
  o: Output,
  path: string,
  opts: { yes?: boolean; prune?: boolean },
): Promise<{ changes: number }> {
  const defs = readSegmentFiles(path)
  // Lifecycle stages are segments managed by PUT /api/lifecycle: files neither create nor prune them.
  const current = (
    await call<{ items: SegmentView[] }>(target, 'GET', '/api/segments')
  ).items.filter((s) => !isStageKey(s.key))
  const byKey = new Map(current.map((s) => [s.key, s]))
  const changes: Change[] = []
  let unchanged = 0
  for (const def of defs) {
    const from = byKey.get(def.key)
    if (!from) {
      const preview = await call<{ count: number }>(target, 'POST', '/api/segments/preview', {
        rule: def.rule,
      })
      changes.push({ kind: 'create', def, enter: preview.count })
      continue
    }
    const ruleChanged = !isDeepStrictEqual(from.rule, def.rule)
    if (
      !ruleChanged &&
      from.name === def.name &&
      from.description === def.description &&
      from.priority === def.priority
    ) {
      unchanged++
      continue
    }
    let enter = 0
    let exit = 0
    if (ruleChanged) {
      const diff = await call<{ entering: { count: number }; exiting: { count: number } }>(
        target,
        'POST',
        `/api/segments/${def.key}/diff`,
        {
          rule: def.rule,
        },
      )
      enter = diff.entering.count
      exit = diff.exiting.count
    }
    changes.push({ kind: 'update', def, from, ruleChanged, enter, exit })
  }
  const defined = new Set(defs.map((d) => d.key))
  const extra = current.filter((s) => !defined.has(s.key))
  if (opts.prune) for (const s of extra) changes.push({ kind: 'delete', current: s, exit: s.size })

  const count = (k: Change['kind']) => changes.filter((c) => c.kind === k).length
  o.out(
    `Plan: ${count('create')} to create, ${count('update')} to update, ${count('delete')} to delete, ${unchanged} unchanged`,
  )
  for (const c of changes) {
    if (c.kind === 'create')
      o.out(`  + ${c.def.key.padEnd(24)} new                  ${n(c.enter)} would enter`)
    else if (c.kind === 'update') {
      const what = c.ruleChanged
        ? `rule v${c.from.version} → v${c.from.version + 1}`
        : 'name, description or priority'
      o.out(
        `  ~ ${c.def.key.padEnd(24)} ${what.padEnd(20)} ${n(c.enter)} would enter, ${n(c.exit)} would leave`,
      )
    } else o.out(`  - ${c.current.key.padEnd(24)} delete               ${n(c.exit)} would leave`)
  }
  if (!opts.prune && extra.length > 0) {
    o.out(
      `  (${extra.length} segment${extra.length === 1 ? '' : 's'} exist only in segflow: ${extra.map((s) => s.key).join(', ')}; --prune deletes them)`,
    )
  }
  if (changes.length === 0) {
    o.out('Nothing to do.')
    return { changes: 0 }
  }
  if (!opts.yes) {
    o.out('Run again with --yes to apply this plan.')
    return { changes: changes.length }
  }

  // Publish in dependency order (a segment after those it refers to); delete in reverse.
  const graph: Record<string, Rule> = {}
  for (const d of defs) {
    const r = parseRule(d.rule)
    if (r.ok) graph[d.key] = r.rule
  }
  const order = dependencyOrder(graph)
  const upserts = changes.filter(
    (c): c is Exclude<Change, { kind: 'delete' }> => c.kind !== 'delete',
  )
  upserts.sort((a, b) => order.indexOf(a.def.key) - order.indexOf(b.def.key))
  for (const c of upserts) {
    await call(target, 'PUT', `/api/segments/${c.def.key}`, {
      name: c.def.name,
      description: c.def.description,
      priority: c.def.priority,
      rule: c.def.rule,
    })
    o.out(`${c.kind === 'create' ? 'Created' : 'Updated'} ${c.def.key}`)
  }
  // Deletes go dependents first: the reverse of the dependency order of what segflow holds.
  const held: Record<string, Rule> = {}
  for (const c of current) {
    const r = parseRule(c.rule)
    if (r.ok) held[c.key] = r.rule
  }
  const heldOrder = dependencyOrder(held)
  const deletes = changes.filter(
    (x): x is Extract<Change, { kind: 'delete' }> => x.kind === 'delete',
  )
  deletes.sort((a, b) => heldOrder.indexOf(b.current.key) - heldOrder.indexOf(a.current.key))
  for (const c of deletes) {
    await call(target, 'DELETE', `/api/segments/${c.current.key}`)
    o.out(`Deleted ${c.current.key}`)
  }
  o.out(
    'Applied. New versions are computed in the background; `GET /api/segments` shows their progress.',
  )
  return { changes: changes.length }
}

interface ExplainResponse {
  profile: string
  segment: string
  version: number
  member: boolean
  since: string | null
  lastTransition: { type: string; at: string; reason: string; historical: boolean } | null
  explanation: ExplanationView
}

/** `segflow explain PROFILE SEGMENT`: the explanation as an indented tree. */
export async function explainProfile(
  target: ApiTarget,
  o: Output,
  profile: string,
  segment: string,
): Promise<ExplainResponse> {
  const r = await call<ExplainResponse>(
    target,
    'GET',
    `/api/profiles/${encodeURIComponent(profile)}/explain/${encodeURIComponent(segment)}`,
  )
  const last = r.lastTransition
  const why = last ? `: reason ${last.reason}${last.historical ? ', historical' : ''}` : ''
  const when = r.member
    ? r.since
      ? ` (since ${r.since}${why})`
      : ''
    : last?.type === 'segment.exited'
      ? ` (left ${last.at}${why})`
      : ''
  o.out(`${profile} is ${r.member ? '' : 'not '}in ${segment}${when}, version ${r.version}`)
  const walk = (e: ExplanationView, depth: number) => {
    const values = Object.entries(e.values)
      .map(([k, v]) => `${k}: ${JSON.stringify(v)}`)
      .join(', ')
    const next = e.nextChangeAt === null ? '' : `  [changes at ${e.nextChangeAt}]`
    o.out(
      `${'  '.repeat(depth)}${e.result ? '✓' : '✗'} ${e.rule}${values ? `  (${values})` : ''}${next}`,
    )
    for (const c of e.children) walk(c, depth + 1)
  }
  walk(r.explanation, 1)
  return r
}
