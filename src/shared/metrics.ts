import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

/**
 * The Prometheus metrics segflow exposes at /metrics. One registry per instance, so that
 * tests (and several apps in one process) never share counters.
 */
export class Metrics {
  readonly registry = new Registry()
  readonly ingested = new Counter({
    name: 'segflow_ingested_messages_total',
    help: 'Messages stored, by type',
    labelNames: ['type'] as const,
    registers: [this.registry],
  })
  readonly droppedFields = new Counter({
    name: 'segflow_dropped_fields_total',
    help: 'Traits and event properties dropped because the workspace schema does not collect them',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  })
  readonly suppressed = new Counter({
    name: 'segflow_suppressed_messages_total',
    help: 'Messages of erased people dropped (their identifiers are on the suppression list)',
    registers: [this.registry],
  })
  readonly duplicates = new Counter({
    name: 'segflow_duplicate_messages_total',
    help: 'Messages not stored again because their messageId was already stored',
    registers: [this.registry],
  })
  readonly rejected = new Counter({
    name: 'segflow_rejected_messages_total',
    help: 'Messages (or whole requests, when no message could be read) refused, by reason',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  })
  private depthSource: () => number = () => 0
  readonly queueDepth: Gauge = new Gauge({
    name: 'segflow_ingest_queue_depth',
    help: 'Messages accepted and waiting for, or in, a commit',
    registers: [this.registry],
    collect: (): void => this.queueDepth.set(this.depthSource()),
  })
  readonly commitSeconds = new Histogram({
    name: 'segflow_commit_duration_seconds',
    help: 'Time to commit one group of messages durably',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  })
  readonly commitMessages = new Histogram({
    name: 'segflow_commit_messages',
    help: 'Messages per commit (group commit batch size)',
    buckets: [1, 2, 5, 10, 50, 100, 500, 1000, 2500, 5000],
    registers: [this.registry],
  })
  readonly commitFailures = new Counter({
    name: 'segflow_commit_failures_total',
    help: 'Commits that failed; their requests were answered 503',
    registers: [this.registry],
  })

  /** Adds Node's process metrics (CPU, memory, event loop lag); the server does, tests don't. */
  collectProcessMetrics(): void {
    collectDefaultMetrics({ register: this.registry })
  }

  private engineSource: () => { evaluations: number; transitions: number; timersFired: number } =
    () => ({
      evaluations: 0,
      transitions: 0,
      timersFired: 0,
    })
  readonly evaluations: Counter = new Counter({
    name: 'segflow_segment_evaluations_total',
    help: 'Segment evaluations of one profile (by events, timers and backfills)',
    registers: [this.registry],
    collect: (): void => this.sync(this.evaluations, this.engineSource().evaluations),
  })
  readonly transitions: Counter = new Counter({
    name: 'segflow_transitions_total',
    help: 'Segment entries and exits recorded',
    registers: [this.registry],
    collect: (): void => this.sync(this.transitions, this.engineSource().transitions),
  })
  readonly timersFired: Counter = new Counter({
    name: 'segflow_timers_fired_total',
    help: 'Time-driven re-evaluations fired at their due instant',
    registers: [this.registry],
    collect: (): void => this.sync(this.timersFired, this.engineSource().timersFired),
  })

  private importSource: () => Promise<readonly { type: string; count: number }[]> = async () => []
  private importTotals = new Map<string, number>()
  /**
   * Messages `segflow import` stored, read from the store at scrape time: imports run in a
   * process of their own, so only the store knows them all.
   */
  readonly imported: Counter<'type'> = new Counter({
    name: 'segflow_imported_messages_total',
    help: 'Messages stored by segflow import (any process), by type',
    labelNames: ['type'] as const,
    registers: [this.registry],
    collect: async (): Promise<void> => {
      try {
        for (const r of await this.importSource()) this.importTotals.set(r.type, r.count)
      } catch {
        // The store is unreachable: keep the last totals (a counter never goes back), and
        // /healthz says what is wrong.
      }
      this.imported.reset()
      for (const [type, n] of this.importTotals) this.imported.inc({ type }, n)
    },
  })

  /** Where the totals of `segflow import` are read at scrape time. */
  trackImports(read: () => Promise<readonly { type: string; count: number }[]>): void {
    this.importSource = read
  }

  /** Where the engine's counters are read at scrape time. */
  trackEngine(read: () => { evaluations: number; transitions: number; timersFired: number }): void {
    this.engineSource = read
  }

  private sync(counter: Counter, total: number): void {
    counter.reset()
    counter.inc(total)
  }

  /** Where the queue depth is read at scrape time. */
  trackQueueDepth(read: () => number): void {
    this.depthSource = read
  }

  onCommit(info: { messages: number; seconds: number; ok: boolean }): void {
    if (info.ok) {
      this.commitSeconds.observe(info.seconds)
      this.commitMessages.observe(info.messages)
    } else this.commitFailures.inc()
  }
}
