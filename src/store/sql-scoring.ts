import type { JsonValue } from '../shared/json.js'
import { num } from './rows.js'
import type { Row, SqlConnection } from './sql-connection.js'
import type { LifecycleRecord, ScoreModelRecord, ScoringTx } from './store.js'

function toModel(r: Row): ScoreModelRecord {
  return {
    workspaceId: String(r.workspace_id),
    key: String(r.key),
    definition: JSON.parse(String(r.definition)) as JsonValue,
    createdAt: num(r.created_at),
    updatedAt: num(r.updated_at),
  }
}

function toLifecycle(r: Row): LifecycleRecord {
  return {
    workspaceId: String(r.workspace_id),
    definition: JSON.parse(String(r.definition)) as JsonValue,
    updatedAt: num(r.updated_at),
  }
}

export class SqlScoringTx implements ScoringTx {
  constructor(private readonly c: SqlConnection) {}

  async listScoreModels(workspaceId?: string): Promise<ScoreModelRecord[]> {
    const rows =
      workspaceId === undefined
        ? await this.c.all(`SELECT * FROM score_models ORDER BY workspace_id, key`)
        : await this.c.all(`SELECT * FROM score_models WHERE workspace_id = ? ORDER BY key`, [
            workspaceId,
          ])
    return rows.map(toModel)
  }

  async upsertScoreModel(m: ScoreModelRecord): Promise<void> {
    await this.c.run(
      `INSERT INTO score_models (workspace_id, key, definition, created_at, updated_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (workspace_id, key) DO UPDATE SET definition = excluded.definition, updated_at = excluded.updated_at`,
      [m.workspaceId, m.key, JSON.stringify(m.definition), m.createdAt, m.updatedAt],
    )
  }

  async deleteScoreModel(workspaceId: string, key: string): Promise<boolean> {
    return (
      (await this.c.run(`DELETE FROM score_models WHERE workspace_id = ? AND key = ?`, [
        workspaceId,
        key,
      ])) > 0
    )
  }

  async listLifecycles(workspaceId?: string): Promise<LifecycleRecord[]> {
    const rows =
      workspaceId === undefined
        ? await this.c.all(`SELECT * FROM lifecycles ORDER BY workspace_id`)
        : await this.c.all(`SELECT * FROM lifecycles WHERE workspace_id = ?`, [workspaceId])
    return rows.map(toLifecycle)
  }

  async putLifecycle(l: LifecycleRecord): Promise<void> {
    await this.c.run(
      `INSERT INTO lifecycles (workspace_id, definition, updated_at) VALUES (?, ?, ?)
       ON CONFLICT (workspace_id) DO UPDATE SET definition = excluded.definition, updated_at = excluded.updated_at`,
      [l.workspaceId, JSON.stringify(l.definition), l.updatedAt],
    )
  }

  async deleteLifecycle(workspaceId: string): Promise<boolean> {
    return (await this.c.run(`DELETE FROM lifecycles WHERE workspace_id = ?`, [workspaceId])) > 0
  }
}
