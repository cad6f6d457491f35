import { isStageKey } from '../rules/desugar.js'
import type { Clock } from '../shared/clock.js'
import { SegflowError } from '../shared/errors.js'
import type { Store } from '../store/store.js'
import type { Engine } from './engine.js'

const MINUTE_MS = 60_000
const HOUR_MS = 3_600_000
const DAY_MS = 86_400_000

/** At most this many days of trend per segment (the dashboard shows 7). */
export const MAX_TREND_DAYS = 90

/** A workspace at a glance (the dashboard's Overview). */
export interface Overview {
  /** Profiles (merged ones counted once). */
  readonly profiles: number
  /** Profiles marketing email can reach now, under the workspace's consent mode. */
  readonly reachable: number
  /** Segments, lifecycle stages not counted. */
  readonly segments: number
  /** Messages stored in the current minute and the 59 before it. */
  readonly eventsLastHour: number
  readonly at: string
}

/** Each segment's (lifecycle stages included) size once a day over the last days, and now. */
export interface SegmentTrends {
  /** The first point's instant (an hour boundary). */
  readonly from: string
  /** The last point's instant: now. */
  readonly to: string
  readonly items: readonly {
    readonly key: string
    /**
     * `days + 1` sizes: at the current hour's start `days`, `days - 1`, … 1 days ago, and
     * now — exact, from the hourly size rollup.
     */
    readonly sizes: readonly number[]
    /** Now minus `days` ago. */
    readonly change: number
  }[]
}

/**
 * The numbers the dashboard opens with, each from a rollup or one counting query (never a
 * scan of the event log).
 * @example
 * const o = await new OverviewService(store, engine, clock).overview('default')
 * o.eventsLastHour
 */
export class OverviewService {
  constructor(
    private readonly store: Store,
    private readonly engine: Engine,
    private readonly clock: Clock,
  ) {}

  async overview(workspaceId: string): Promise<Overview> {
    const now = this.clock.now()
    const since = now - (now % MINUTE_MS) - 59 * MINUTE_MS
    const [profiles, reachable, eventsLastHour] = await Promise.all([
      this.store.countProfiles(workspaceId),
      this.store.countReachableProfiles(workspaceId, this.engine.consentMode(workspaceId)),
      this.store.countEventsSince(workspaceId, since),
    ])
    return {
      profiles,
      reachable,
      segments: this.keys(workspaceId).filter((k) => !isStageKey(k)).length,
      eventsLastHour,
      at: new Date(now).toISOString(),
    }
  }

  async trends(workspaceId: string, days: number): Promise<SegmentTrends> {
    if (!Number.isInteger(days) || days < 1 || days > MAX_TREND_DAYS) {
      throw new SegflowError(
        'invalid_request',
        `days must be a whole number from 1 to ${MAX_TREND_DAYS}`,
        { details: { parameter: 'days' } },
      )
    }
    const now = this.clock.now()
    const hour = now - (now % HOUR_MS)
    const instants = [...Array.from({ length: days }, (_, i) => hour - (days - i) * DAY_MS)]
    const sizes = await this.store.segmentSizesAt(workspaceId, [...instants, Infinity])
    return {
      from: new Date(instants[0]!).toISOString(),
      to: new Date(now).toISOString(),
      items: this.keys(workspaceId).map((key) => {
        const s = sizes.get(key) ?? Array.from({ length: days + 1 }, () => 0)
        return { key, sizes: s, change: s[days]! - s[0]! }
      }),
    }
  }

  private keys(workspaceId: string): string[] {
    return [...(this.engine.segments(workspaceId)?.segments.keys() ?? [])].sort()
  }
}
