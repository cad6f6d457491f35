import { Liquid, Tag } from 'liquidjs'
import type { FS, Template, TagToken, TopLevelToken } from 'liquidjs'
import type { JsonObject } from '../shared/json.js'

/**
 * The LiquidJS engines segflow parses and renders with, shared by the main thread (parsing,
 * lint) and the render workers (rendering). Nothing here reads a file: templates have no
 * partials, and the file system LiquidJS is given refuses every read.
 */

/** A template's three texts, as saved. */
export interface TemplateSource {
  readonly subject: string
  readonly html: string
  readonly text: string | null
}

export interface Parsed {
  readonly subject: Template[]
  readonly html: Template[]
  readonly text: Template[] | null
}

export interface Rendered {
  readonly subject: string
  readonly html: string
  readonly text: string | null
}

export interface TemplateIssue {
  readonly field: 'subject' | 'html' | 'text'
  readonly line: number | null
  readonly column: number | null
  readonly message: string
}

/** Longest template source, in characters. */
const PARSE_LIMIT = 200_000
/** LiquidJS's own rough bound on what a render allocates (strings, arrays). */
const MEMORY_LIMIT = 20_000_000

/** The tags that would load another template: refused when a template is parsed. */
export const PARTIAL_TAGS = ['include', 'render', 'layout'] as const

function partialRefusal(tag: string, name: string): Error {
  return new Error(
    `{% ${tag} ${name} %} is not supported: templates cannot use partials or files; put the shared text in the template itself`,
  )
}

/** The partial a tag names: its first argument, quoted or not. */
function partialName(args: string): string {
  const m = /^\s*(?:'[^']*'|"[^"]*"|[^\s,]+)/.exec(args)
  return m ? m[0].trim() : '…'
}

/**
 * A file system that has no files. LiquidJS's default one reads segflow's working directory
 * (its `.env`, the SQLite file, other workspaces' data); the partial tags are refused at parse
 * time already, so this only stands behind them.
 */
const NO_FILES: FS = {
  exists: async () => false,
  existsSync: () => false,
  readFile: async (file) => {
    throw partialRefusal('include', JSON.stringify(file))
  },
  readFileSync: (file) => {
    throw partialRefusal('include', JSON.stringify(file))
  },
  resolve: (_dir, file) => file,
  contains: async () => false,
  containsSync: () => false,
}

/**
 * An engine with no partials and no files. `renderLimit` is LiquidJS's own time check (between
 * nodes only: the render workers' deadline is what actually bounds a render).
 */
export function createLiquid(escape: boolean, renderLimit = 500): Liquid {
  const engine = new Liquid({
    parseLimit: PARSE_LIMIT,
    renderLimit,
    memoryLimit: MEMORY_LIMIT,
    // Only a value's own properties are visible: no prototype or constructor tricks.
    ownPropertyOnly: true,
    strictFilters: true,
    cache: false,
    fs: NO_FILES,
    root: [],
    partials: [],
    layouts: [],
    relativeReference: false,
    ...(escape ? { outputEscape: 'escape' as const } : {}),
  })
  for (const tag of PARTIAL_TAGS) {
    engine.registerTag(
      tag,
      class extends Tag {
        constructor(token: TagToken, remain: TopLevelToken[], liquid: Liquid) {
          super(token, remain, liquid)
          throw partialRefusal(tag, partialName(token.args))
        }
        *render(): Generator<unknown, void, unknown> {}
      },
    )
  }
  return engine
}

export interface Engines {
  readonly html: Liquid
  readonly text: Liquid
}

/** HTML output escapes every value by default (`| raw` opts out); subject and text do not. */
export function createEngines(renderLimit?: number): Engines {
  return { html: createLiquid(true, renderLimit), text: createLiquid(false, renderLimit) }
}

function parseField(
  engines: Engines,
  field: TemplateIssue['field'],
  source: string,
  issues: TemplateIssue[],
): Template[] | null {
  try {
    return (field === 'html' ? engines.html : engines.text).parse(source)
  } catch (e) {
    const err = e as Error & { token?: { getPosition?: () => [number, number] } }
    const pos = err.token?.getPosition?.() ?? null
    issues.push({
      field,
      line: pos?.[0] ?? null,
      column: pos?.[1] ?? null,
      message: err.message.replace(/, line:\d+, col:\d+$/, ''),
    })
    return null
  }
}

/** Parses subject, html and text; every syntax error is reported with its field, line and column. */
export function parseWith(
  engines: Engines,
  t: TemplateSource,
): { ok: true; parsed: Parsed } | { ok: false; issues: TemplateIssue[] } {
  const issues: TemplateIssue[] = []
  const subject = parseField(engines, 'subject', t.subject, issues)
  const html = parseField(engines, 'html', t.html, issues)
  const text = t.text === null ? null : parseField(engines, 'text', t.text, issues)
  if (issues.length > 0 || !subject || !html) return { ok: false, issues }
  return { ok: true, parsed: { subject, html, text } }
}

/**
 * Renders synchronously: templates have no I/O to wait for, and LiquidJS's synchronous
 * renderer is about twice as fast (bench B8). Only render workers call this.
 */
export function renderWith(engines: Engines, parsed: Parsed, context: JsonObject): Rendered {
  return {
    subject: engines.text.renderSync(parsed.subject, context).trim(),
    html: engines.html.renderSync(parsed.html, context),
    text: parsed.text === null ? null : engines.text.renderSync(parsed.text, context),
  }
}
