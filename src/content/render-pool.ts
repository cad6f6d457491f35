import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'
import { Worker } from 'node:worker_threads'
import { SegflowError } from '../shared/errors.js'
import type { JsonObject } from '../shared/json.js'
import type { Rendered, TemplateSource } from './liquid-engine.js'
import type { RenderBatch, RenderReply, RenderWorkerData, WorkerMessage } from './render-worker.js'

export interface RenderPoolOptions {
  /**
   * Longest one render may take, in ms (SEGFLOW_RENDER_TIMEOUT_MS); past it the render fails
   * and its worker thread is terminated. Default 500.
   */
  readonly timeoutMs?: number
  /**
   * Heap of each render worker, in MB (SEGFLOW_RENDER_MEMORY_MB); a render that needs more
   * fails and its worker is replaced. Default 64.
   */
  readonly memoryMb?: number
  /** Most render worker threads (SEGFLOW_RENDER_WORKERS). Default 2. */
  readonly workers?: number
  /** Most renders sent to a worker in one message. Default 500. */
  readonly batch?: number
}

interface Job {
  readonly source: TemplateSource
  readonly context: JsonObject
  readonly resolve: (r: Rendered) => void
  readonly reject: (e: Error) => void
}

interface Slot {
  readonly worker: Worker
  /** Renders of the batch in flight done so far (the worker writes it). */
  readonly progress: Int32Array
  ready: boolean
  dead: boolean
  /** The batch in flight. */
  jobs: Job[]
  /** The progress seen at the last tick, and how many ticks it has not moved. */
  seen: number
  still: number
  timer: NodeJS.Timeout | null
}

/** Ticks per deadline: a render is stopped between 1 and 1 + 1/TICKS deadlines after it began. */
const TICKS = 5

const here = import.meta.url

/**
 * A worker thread running render-worker: the compiled `.js` in a build; from source (tests,
 * bench) the `.ts` through tsx, which only the development dependencies have.
 */
function spawn(data: RenderWorkerData, memoryMb: number): Worker {
  const options = {
    workerData: data,
    resourceLimits: { maxOldGenerationSizeMb: memoryMb, maxYoungGenerationSizeMb: 16 },
  }
  if (!here.endsWith('.ts')) return new Worker(new URL('./render-worker.js', here), options)
  const file = new URL('./render-worker.ts', here).href
  // tsx's ESM API (its CommonJS one cannot import ESM): require.resolve finds the CommonJS
  // entry, the ESM one sits beside it.
  const api = pathToFileURL(createRequire(here).resolve('tsx/esm/api')).href.replace(
    /\.cjs$/,
    '.mjs',
  )
  const code = `import(${JSON.stringify(api)}).then((tsx) => tsx.tsImport(${JSON.stringify(file)}, ${JSON.stringify(here)}))`
  return new Worker(code, { ...options, eval: true })
}

/**
 * Renders templates in a few worker threads, so that no template can hold up the server: the
 * main thread never runs LiquidJS's renderer. A render that runs past the deadline is failed and
 * its worker terminated (LiquidJS's own limits are only checked between nodes, not inside a
 * filter such as `split` or `sort`); one that outgrows the worker's heap kills only that worker.
 * Renders waiting together go to a worker in one message, so bulk work (a preview matrix, many
 * sends at once) costs one round trip per batch, not per render.
 *
 * @example
 * const pool = new RenderPool({ timeoutMs: 500 })
 * const out = await pool.render({ subject: 'Hi {{ traits.name }}', html: '', text: null }, ctx)
 * await pool.close()
 */
export class RenderPool {
  readonly timeoutMs: number
  readonly memoryMb: number
  private readonly max: number
  private readonly batch: number
  private readonly slots: Slot[] = []
  private queue: Job[] = []
  private scheduled = false
  private closed = false
  /** Workers terminated for running past the deadline or out of memory (for tests, metrics). */
  killed = 0

  constructor(options: RenderPoolOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? 500
    this.memoryMb = options.memoryMb ?? 64
    this.max = Math.max(1, options.workers ?? 2)
    this.batch = Math.max(1, options.batch ?? 500)
  }

  /** Renders one template for one context; fails with `invalid_template` saying why. */
  render(source: TemplateSource, context: JsonObject): Promise<Rendered> {
    if (this.closed) return Promise.reject(new Error('the render pool is closed'))
    return new Promise((resolve, reject) => {
      this.queue.push({ source, context, resolve, reject })
      if (!this.scheduled) {
        // Renders asked for in the same tick go out together.
        this.scheduled = true
        queueMicrotask(() => {
          this.scheduled = false
          this.dispatch()
        })
      }
    })
  }

  /** Renders one template for each context; a failed render is its error, in its place. */
  renderMany(
    source: TemplateSource,
    contexts: readonly JsonObject[],
  ): Promise<(Rendered | SegflowError)[]> {
    return Promise.all(
      contexts.map((c) =>
        this.render(source, c).catch((e: unknown) =>
          e instanceof SegflowError ? e : new SegflowError('invalid_template', String(e)),
        ),
      ),
    )
  }

  async close(): Promise<void> {
    this.closed = true
    const queued = this.queue
    this.queue = []
    for (const j of queued) j.reject(new Error('the render pool is closed'))
    const closing = new Error('the render pool is closed')
    // retire() takes each slot out of the list: go over a copy.
    await Promise.all([...this.slots].map((s) => this.retire(s, closing)))
  }

  private dispatch(): void {
    for (const slot of this.slots) {
      if (this.queue.length === 0) return
      if (slot.ready && !slot.dead && slot.jobs.length === 0) this.send(slot)
    }
    // Work is waiting and every worker is busy (or starting): add one, up to the most.
    const starting = this.slots.some((s) => !s.ready)
    if (this.queue.length > 0 && !starting && this.slots.length < this.max && !this.closed)
      this.start()
  }

  private send(slot: Slot): void {
    const jobs = this.queue.splice(0, this.batch)
    const index = new Map<TemplateSource, number>()
    const sources: TemplateSource[] = []
    const message: RenderBatch = {
      sources,
      jobs: jobs.map((j) => {
        let i = index.get(j.source)
        if (i === undefined) {
          i = sources.length
          sources.push({ subject: j.source.subject, html: j.source.html, text: j.source.text })
          index.set(j.source, i)
        }
        return { source: i, context: j.context }
      }),
    }
    // The worker is idle: nothing else writes progress until it has this batch.
    Atomics.store(slot.progress, 0, 0)
    slot.jobs = jobs
    slot.seen = 0
    slot.still = 0
    slot.worker.ref()
    try {
      slot.worker.postMessage(message)
    } catch (e) {
      slot.jobs = []
      slot.worker.unref()
      for (const j of jobs)
        j.reject(renderError(`its data cannot be sent: ${(e as Error).message}`))
      return
    }
    // One answer per batch, so the deadline of each render is watched through progress.
    slot.timer = setInterval(() => this.tick(slot), Math.max(1, this.timeoutMs / TICKS))
  }

  private start(): void {
    const progress = new Int32Array(new SharedArrayBuffer(4))
    const worker = spawn({ renderLimit: this.timeoutMs, progress }, this.memoryMb)
    const slot: Slot = {
      worker,
      progress,
      ready: false,
      dead: false,
      jobs: [],
      seen: 0,
      still: 0,
      timer: null,
    }
    this.slots.push(slot)
    worker.on('message', (m: WorkerMessage) => this.answered(slot, m))
    worker.on('error', (e: Error & { code?: string }) => this.crashed(slot, e))
    worker.on('exit', (code) => this.crashed(slot, new Error(`the render worker exited (${code})`)))
  }

  private answered(slot: Slot, m: WorkerMessage): void {
    if (slot.dead) return
    if (m.type === 'ready') {
      slot.ready = true
      slot.worker.unref()
      this.dispatch()
      return
    }
    const jobs = slot.jobs
    this.idle(slot)
    m.replies.forEach((r, i) => this.settle(jobs[i]!, r))
    this.dispatch()
  }

  private settle(job: Job, r: RenderReply): void {
    if (r.ok) job.resolve(r.rendered)
    else if (r.limit === 'time') job.reject(this.tooLong())
    else if (r.limit === 'memory') job.reject(this.tooBig())
    else job.reject(renderError(r.message))
  }

  private idle(slot: Slot): void {
    if (slot.timer) clearInterval(slot.timer)
    slot.timer = null
    slot.jobs = []
    slot.worker.unref()
  }

  private tick(slot: Slot): void {
    if (slot.dead || slot.jobs.length === 0) return
    const done = Atomics.load(slot.progress, 0)
    if (done !== slot.seen) {
      slot.seen = done
      slot.still = 0
      return
    }
    if (++slot.still < TICKS) return
    this.killed++
    this.abandon(slot, done, this.tooLong())
  }

  private crashed(slot: Slot, e: Error & { code?: string }): void {
    if (slot.dead) return
    if (!slot.ready) {
      // A worker that cannot even start (a broken install): nothing queued can be rendered.
      const queued = this.queue
      this.queue = []
      void this.retire(slot, e)
      for (const j of queued) j.reject(renderError(`the render worker did not start: ${e.message}`))
      return
    }
    const oom = e.code === 'ERR_WORKER_OUT_OF_MEMORY'
    if (oom) this.killed++
    this.abandon(slot, Atomics.load(slot.progress, 0), oom ? this.tooBig() : renderError(e.message))
  }

  /**
   * Fails the render the worker was stuck in, puts the others of its batch back in front of the
   * queue (those it had done are lost with the worker, and renders are pure, so they are redone)
   * and replaces the worker.
   */
  private abandon(slot: Slot, stuck: number, error: Error): void {
    const jobs = slot.jobs
    slot.jobs = []
    void this.retire(slot, error)
    jobs[stuck]?.reject(error)
    this.queue = [...jobs.filter((_, i) => i !== stuck), ...this.queue]
    this.dispatch()
  }

  private async retire(slot: Slot, error: Error): Promise<void> {
    if (slot.dead) return
    slot.dead = true
    if (slot.timer) clearInterval(slot.timer)
    slot.timer = null
    const i = this.slots.indexOf(slot)
    if (i >= 0) this.slots.splice(i, 1)
    for (const j of slot.jobs) j.reject(error)
    slot.jobs = []
    await slot.worker.terminate()
  }

  private tooLong(): SegflowError {
    return renderError(
      `it ran longer than the render time limit of ${this.timeoutMs} ms (SEGFLOW_RENDER_TIMEOUT_MS)`,
    )
  }

  private tooBig(): SegflowError {
    return renderError(
      `it needed more memory than the render limit of ${this.memoryMb} MB (SEGFLOW_RENDER_MEMORY_MB)`,
    )
  }
}

function renderError(why: string): SegflowError {
  return new SegflowError('invalid_template', `the template could not be rendered: ${why}`)
}
