import type { Clock } from '../shared/clock.js'
import { SegflowError } from '../shared/errors.js'
import { isPlainObject } from '../shared/json.js'
import type { JsonObject } from '../shared/json.js'
import type { Store, TemplateRecord } from '../store/store.js'
import { createEngines, parseWith } from './liquid-engine.js'
import type { Parsed, Rendered, TemplateIssue, TemplateSource } from './liquid-engine.js'
import type { RenderPool } from './render-pool.js'

export type { Parsed, Rendered, TemplateIssue, TemplateSource } from './liquid-engine.js'

/** The names a template can use; anything else is reported by lint. */
export const TEMPLATE_VARIABLES = [
  'profile',
  'traits',
  'segments',
  'recipient',
  'computed',
  'scores',
  'lifecycle',
  'unsubscribe_url',
  'now',
]

/** A template as the admin API shows it: instants as ISO-8601, like every other resource. */
export interface TemplateView {
  readonly key: string
  readonly subject: string
  readonly html: string
  readonly text: string | null
  readonly updatedAt: string
}

/**
 * @example
 * templateView(record) // {key: 'welcome', subject: 'Hi', html: '…', text: null, updatedAt: '2026-06-01T12:00:00.000Z'}
 */
export function templateView(t: TemplateRecord): TemplateView {
  return {
    key: t.key,
    subject: t.subject,
    html: t.html,
    text: t.text,
    updatedAt: new Date(t.updatedAt).toISOString(),
  }
}

/** The main thread only parses and lints; rendering happens in the render pool's workers. */
const engines = createEngines()

/** Parses subject, html and text; every syntax error is reported with its field, line and column. */
export function parseTemplate(
  t: TemplateSource,
): { ok: true; parsed: Parsed } | { ok: false; issues: TemplateIssue[] } {
  return parseWith(engines, t)
}

const SEGMENT_LITERALS = [
  /recipient\.segment\s*(?:==|!=)\s*['"]([^'"]+)['"]/g,
  /['"]([^'"]+)['"]\s*(?:==|!=)\s*recipient\.segment/g,
  /segments\s+contains\s+['"]([^'"]+)['"]/g,
]

/**
 * What a template refers to that does not exist: variables segflow does not provide, and
 * segment keys (in `recipient.segment == '…'` or `segments contains '…'`) of no segment.
 */
export function lintTemplate(
  t: { subject: string; html: string; text: string | null },
  parsed: Parsed,
  segmentKeys: ReadonlySet<string>,
): string[] {
  const warnings = new Set<string>()
  for (const [field, templates, engine] of [
    ['subject', parsed.subject, engines.text],
    ['html', parsed.html, engines.html],
    ['text', parsed.text, engines.text],
  ] as const) {
    if (!templates) continue
    for (const name of engine.globalVariablesSync(templates)) {
      if (!TEMPLATE_VARIABLES.includes(name))
        warnings.add(
          `${field}: undefined variable "${name}" (available: ${TEMPLATE_VARIABLES.join(', ')})`,
        )
    }
  }
  for (const source of [t.subject, t.html, t.text ?? '']) {
    for (const re of SEGMENT_LITERALS) {
      for (const m of source.matchAll(re))
        if (!segmentKeys.has(m[1]!)) warnings.add(`segment "${m[1]}" does not exist`)
    }
  }
  return [...warnings]
}

/**
 * Templates: saved after parsing, linted, parsed once and cached by version, and rendered in
 * the render pool's worker threads (bounded in time and memory).
 */
export class TemplateService {
  private readonly cache = new Map<string, { updatedAt: number; parsed: Parsed }>()
  /** Templates parsed from stored source (cache misses), for tests and metrics. */
  parses = 0

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly segmentKeys: (workspaceId: string) => ReadonlySet<string>,
    private readonly pool: RenderPool,
    /** Automations sending a template, which stop it being deleted. */
    private readonly usedBy: (
      workspaceId: string,
      key: string,
    ) => Promise<string[]> = async () => [],
  ) {}

  async put(
    workspaceId: string,
    key: string,
    body: unknown,
  ): Promise<{ template: TemplateRecord; created: boolean; warnings: string[] }> {
    if (!/^[a-z0-9][a-z0-9_-]{0,63}$/.test(key)) {
      throw new SegflowError(
        'invalid_request',
        `template key ${JSON.stringify(key)} must be lower-case letters, digits, - and _`,
      )
    }
    if (!isPlainObject(body))
      throw new SegflowError(
        'invalid_body',
        'body must be a JSON object like {"subject": "…", "html": "…"}',
      )
    for (const k of Object.keys(body)) {
      if (!['subject', 'html', 'text'].includes(k))
        throw new SegflowError(
          'invalid_body',
          `unknown field ${JSON.stringify(k)}; expected subject, html, text`,
        )
    }
    if (typeof body.subject !== 'string' || body.subject.trim() === '')
      throw new SegflowError('invalid_body', 'subject is required text')
    if (typeof body.html !== 'string')
      throw new SegflowError('invalid_body', 'html is required text')
    if (body.text !== undefined && body.text !== null && typeof body.text !== 'string')
      throw new SegflowError('invalid_body', 'text must be text')
    const source = {
      subject: body.subject,
      html: body.html,
      text: typeof body.text === 'string' ? body.text : null,
    }
    const r = parseTemplate(source)
    if (!r.ok) {
      throw new SegflowError(
        'invalid_template',
        `the template does not parse: ${describeIssues(r.issues)}`,
        { details: { issues: r.issues } },
      )
    }
    const record: TemplateRecord = { workspaceId, key, ...source, updatedAt: this.clock.now() }
    const created = await this.store.write(async (tx) => {
      const existed = (await tx.messaging.listTemplates(workspaceId)).some((t) => t.key === key)
      await tx.messaging.upsertTemplate(record)
      return !existed
    })
    this.cache.set(`${workspaceId}\u0000${key}`, { updatedAt: record.updatedAt, parsed: r.parsed })
    return {
      template: record,
      created,
      warnings: lintTemplate(source, r.parsed, this.segmentKeys(workspaceId)),
    }
  }

  /**
   * Renders a template (as saved) for one person's context, in a render worker; fails with
   * `invalid_template` when it does not render, runs too long or needs too much memory.
   */
  render(template: TemplateSource, context: JsonObject): Promise<Rendered> {
    return this.pool.render(template, context)
  }

  /** Renders one template for many contexts in few round trips; a failure takes its place. */
  renderMany(
    template: TemplateSource,
    contexts: readonly JsonObject[],
  ): Promise<(Rendered | SegflowError)[]> {
    return this.pool.renderMany(template, contexts)
  }

  async get(
    workspaceId: string,
    key: string,
  ): Promise<{ template: TemplateRecord; warnings: string[] }> {
    const { template, parsed } = await this.load(workspaceId, key)
    return { template, warnings: lintTemplate(template, parsed, this.segmentKeys(workspaceId)) }
  }

  list(workspaceId: string): Promise<TemplateRecord[]> {
    return this.store.messaging.listTemplates(workspaceId)
  }

  async remove(workspaceId: string, key: string): Promise<void> {
    const users = await this.usedBy(workspaceId, key)
    if (users.length > 0)
      throw new SegflowError(
        'in_use',
        `template ${key} is sent by automation ${users.join(', ')}; change or delete it first`,
        { details: { usedBy: users.map((k) => `automation:${k}`) } },
      )
    const gone = await this.store.write((tx) => tx.messaging.deleteTemplate(workspaceId, key))
    if (!gone) throw notFound(key)
    this.cache.delete(`${workspaceId}\u0000${key}`)
  }

  /** The parsed template, from the cache while its version is current. */
  async load(
    workspaceId: string,
    key: string,
  ): Promise<{ template: TemplateRecord; parsed: Parsed }> {
    const template = await this.store.messaging.getTemplate(workspaceId, key)
    if (!template) throw notFound(key)
    const cached = this.cache.get(`${workspaceId}\u0000${key}`)
    if (cached && cached.updatedAt === template.updatedAt)
      return { template, parsed: cached.parsed }
    const r = parseTemplate(template)
    this.parses++
    if (!r.ok)
      throw new SegflowError(
        'invalid_template',
        `stored template ${key} does not parse: ${describeIssues(r.issues)}`,
        { details: { issues: r.issues } },
      )
    this.cache.set(`${workspaceId}\u0000${key}`, {
      updatedAt: template.updatedAt,
      parsed: r.parsed,
    })
    return { template, parsed: r.parsed }
  }
}

export function describeIssues(issues: readonly TemplateIssue[]): string {
  return issues
    .map((i) => `${i.field}${i.line ? `:${i.line}:${i.column}` : ''}: ${i.message}`)
    .join('; ')
}

function notFound(key: string): SegflowError {
  return new SegflowError('not_found', `no template ${JSON.stringify(key)} in this workspace`)
}
