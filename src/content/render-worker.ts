// A render worker thread (see render-pool.ts): parses and renders templates sent by the main
// thread, so a template that loops or allocates without end can be stopped by terminating this
// thread, and never holds up the server's event loop.
import { parentPort, workerData } from 'node:worker_threads'
import type { JsonObject } from '../shared/json.js'
import { createEngines, parseWith, renderWith } from './liquid-engine.js'
import type { Parsed, Rendered, TemplateSource } from './liquid-engine.js'

/** One batch of renders: each job names its template by index into `sources`. */
export interface RenderBatch {
  readonly sources: readonly TemplateSource[]
  readonly jobs: readonly { readonly source: number; readonly context: JsonObject }[]
}

/** The outcome of one render. */
export type RenderReply =
  | { readonly ok: true; readonly rendered: Rendered }
  | { readonly ok: false; readonly message: string; readonly limit: 'time' | 'memory' | null }

/** What the worker answers: `ready` once it has loaded, then the replies of each batch. */
export type WorkerMessage =
  { readonly type: 'ready' } | { readonly type: 'batch'; readonly replies: readonly RenderReply[] }

export interface RenderWorkerData {
  /** LiquidJS's own time check, in ms; the pool's deadline is the hard one. */
  readonly renderLimit: number
  /**
   * How many renders of the current batch are done, written after each one: the pool watches
   * it to tell a slow batch from a render that is stuck, without a message per render.
   */
  readonly progress: Int32Array
}

/** Parsed templates kept per worker, by their text. */
const CACHE_SIZE = 100

const port = parentPort
if (!port) throw new Error('render-worker.ts runs as a worker thread (see render-pool.ts)')
const { renderLimit, progress } = workerData as RenderWorkerData
const engines = createEngines(renderLimit)
const cache = new Map<string, Parsed | string>()

function parsedOf(s: TemplateSource): Parsed | string {
  const key = `${s.subject}\u0000${s.html}\u0000${s.text ?? '\u0001'}`
  let hit = cache.get(key)
  if (hit !== undefined) {
    // Most recently used last, so the first key is the one to evict.
    cache.delete(key)
  } else {
    const r = parseWith(engines, s)
    hit = r.ok ? r.parsed : `it does not parse: ${r.issues.map((i) => i.message).join('; ')}`
    if (cache.size >= CACHE_SIZE) cache.delete(cache.keys().next().value!)
  }
  cache.set(key, hit)
  return hit
}

function failure(e: unknown): RenderReply {
  const message = (e as Error).message
  // LiquidJS's own limits, and V8 refusing a string or array past its maximum size.
  if (/render limit exceeded/.test(message)) return { ok: false, message, limit: 'time' }
  if (/alloc limit exceeded|Invalid (string|array) length/.test(message))
    return { ok: false, message, limit: 'memory' }
  return { ok: false, message, limit: null }
}

port.on('message', (batch: RenderBatch) => {
  const replies: RenderReply[] = []
  for (const job of batch.jobs) {
    try {
      const parsed = parsedOf(batch.sources[job.source]!)
      replies.push(
        typeof parsed === 'string'
          ? { ok: false, message: parsed, limit: null }
          : { ok: true, rendered: renderWith(engines, parsed, job.context) },
      )
    } catch (e) {
      replies.push(failure(e))
    }
    Atomics.store(progress, 0, replies.length)
  }
  port.postMessage({ type: 'batch', replies } satisfies WorkerMessage)
})
port.postMessage({ type: 'ready' } satisfies WorkerMessage)
