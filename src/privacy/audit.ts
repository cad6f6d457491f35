import type { Clock } from '../shared/clock.js'
import { sequentialId } from '../shared/ids.js'
import type { AuditRecord, Store } from '../store/store.js'

export interface AuditEntryView {
  readonly id: string
  readonly at: string
  readonly actor: string
  readonly action: string
  readonly target: string | null
  readonly status: number
}

/**
 * The audit log of every workspace: admin actions (every change through the admin API, key
 * changes from the command line), exports and erasures, with who, when and what. Append-only:
 * nothing in segflow updates or deletes an entry, and the API can only read it.
 */
export class AuditLog {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
  ) {}

  async record(entry: Omit<AuditRecord, 'id' | 'at'>): Promise<void> {
    const at = this.clock.now()
    await this.store.insertAudit({ ...entry, id: sequentialId('aud', at), at })
  }

  /** Newest first, `limit` at a time; `before` continues after the last entry of a page. */
  async list(
    workspaceId: string,
    limit: number,
    before: string | null,
  ): Promise<{ items: AuditEntryView[]; next: string | null }> {
    const rows = await this.store.listAudit(workspaceId, { limit, before })
    return {
      items: rows.map((r) => ({
        id: r.id,
        at: new Date(r.at).toISOString(),
        actor: r.actor,
        action: r.action,
        target: r.target,
        status: r.status,
      })),
      next: rows.length === limit ? rows[rows.length - 1]!.id : null,
    }
  }
}
