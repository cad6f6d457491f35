import type { ConsentSource, ConsentState, Purpose } from '../privacy/index.js'
import type { JsonObject, JsonValue } from '../shared/json.js'
import { num, strOrNull } from './rows.js'
import type { Row, SqlConnection } from './sql-connection.js'
import type {
  AutomationRecord,
  AutomationRunRecord,
  ConsentRecord,
  EmailCap,
  EmailSendRecord,
  EmailSettingsRecord,
  EmailStatus,
  MessagingReads,
  MessagingTx,
  RunStatus,
  TemplateRecord,
  TransitionType,
} from './store.js'

function toTemplate(r: Row): TemplateRecord {
  return {
    workspaceId: String(r.workspace_id),
    key: String(r.key),
    subject: String(r.subject),
    html: String(r.html),
    text: strOrNull(r.text),
    updatedAt: num(r.updated_at),
  }
}

function toSend(r: Row): EmailSendRecord {
  return {
    workspaceId: String(r.workspace_id),
    id: String(r.id),
    profileId: String(r.profile_id),
    address: String(r.address),
    templateKey: String(r.template_key),
    automationKey: strOrNull(r.automation_key),
    transitionId: strOrNull(r.transition_id),
    category: String(r.category),
    status: String(r.status) as EmailSendRecord['status'],
    messageId: String(r.message_id),
    error: strOrNull(r.error),
    createdAt: num(r.created_at),
    sentAt: r.sent_at === null || r.sent_at === undefined ? null : num(r.sent_at),
  }
}

function toAutomation(r: Row): AutomationRecord {
  return {
    workspaceId: String(r.workspace_id),
    key: String(r.key),
    definition: JSON.parse(String(r.definition)) as JsonValue,
    from: { seq: num(r.from_seq), snapshot: strOrNull(r.from_snapshot) },
    createdAt: num(r.created_at),
    updatedAt: num(r.updated_at),
  }
}

function toRun(r: Row): AutomationRunRecord {
  return {
    workspaceId: String(r.workspace_id),
    automationKey: String(r.automation_key),
    transitionId: String(r.transition_id),
    transitionSeq: num(r.transition_seq),
    transitionAt: num(r.transition_at),
    profileId: String(r.profile_id),
    segmentKey: String(r.segment_key),
    transitionType: String(r.transition_type) as TransitionType,
    dueAt: num(r.due_at),
    status: String(r.status) as RunStatus,
    step: num(r.step),
    attempts: num(r.attempts),
    detail: strOrNull(r.detail),
    createdAt: num(r.created_at),
    updatedAt: num(r.updated_at),
  }
}

async function emailStatus(
  c: SqlConnection,
  workspaceId: string,
  profileId: string,
): Promise<EmailStatus> {
  const rows = await c.all(
    `SELECT status FROM email_status WHERE workspace_id = ? AND profile_id = ?`,
    [workspaceId, profileId],
  )
  return (rows[0]?.status as EmailStatus | undefined) ?? 'subscribed'
}

function toConsent(r: Row): ConsentRecord {
  return {
    workspaceId: String(r.workspace_id),
    profileId: String(r.profile_id),
    purpose: String(r.purpose) as Purpose,
    state: String(r.state) as ConsentState,
    at: num(r.at),
    source: String(r.source) as ConsentSource,
    evidence: JSON.parse(String(r.evidence)) as JsonObject,
    messageId: strOrNull(r.message_id),
  }
}

/**
 * The consent rule as stored. Before consent was recorded per person (migration 7) it named a
 * trait: `required: true` meant only people who had said yes, as `opt_in` does now.
 */
function storedConsentRule(v: Record<string, unknown>): EmailSettingsRecord['consent'] {
  if (v.mode === 'opt_in' || v.mode === 'opt_out') return { mode: v.mode }
  return { mode: v.required === false ? 'opt_out' : 'opt_in' }
}

async function consents(
  c: SqlConnection,
  workspaceId: string,
  profileId: string,
): Promise<ConsentRecord[]> {
  const rows = await c.all(
    `SELECT * FROM consents WHERE workspace_id = ? AND profile_id = ? ORDER BY purpose`,
    [workspaceId, profileId],
  )
  return rows.map(toConsent)
}

export async function getEmailSettings(
  c: SqlConnection,
  workspaceId: string,
): Promise<EmailSettingsRecord | null> {
  const rows = await c.all(`SELECT * FROM email_settings WHERE workspace_id = ?`, [workspaceId])
  const r = rows[0]
  if (!r) return null
  return {
    workspaceId,
    fromAddress: String(r.from_address),
    caps: JSON.parse(String(r.caps)) as EmailCap[],
    consent:
      r.consent === null || r.consent === undefined
        ? null
        : storedConsentRule(JSON.parse(String(r.consent)) as Record<string, unknown>),
    updatedAt: num(r.updated_at),
  }
}
export class SqlMessagingTx implements MessagingTx {
  constructor(
    private readonly c: SqlConnection,
    /** Told of people whose reachability may change (email status) and of a new consent mode. */
    private readonly touch: (workspaceId: string, profileIds: string[]) => void = () => undefined,
  ) {}

  async listTemplates(workspaceId: string): Promise<TemplateRecord[]> {
    return (
      await this.c.all(`SELECT * FROM templates WHERE workspace_id = ? ORDER BY key`, [workspaceId])
    ).map(toTemplate)
  }

  async upsertTemplate(t: TemplateRecord): Promise<void> {
    await this.c.run(
      `INSERT INTO templates (workspace_id, key, subject, html, text, updated_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (workspace_id, key) DO UPDATE SET subject = excluded.subject, html = excluded.html,
         text = excluded.text, updated_at = excluded.updated_at`,
      [t.workspaceId, t.key, t.subject, t.html, t.text, t.updatedAt],
    )
  }

  async deleteTemplate(workspaceId: string, key: string): Promise<boolean> {
    return (
      (await this.c.run(`DELETE FROM templates WHERE workspace_id = ? AND key = ?`, [
        workspaceId,
        key,
      ])) > 0
    )
  }

  getEmailSettings(workspaceId: string): Promise<EmailSettingsRecord | null> {
    return getEmailSettings(this.c, workspaceId)
  }

  async upsertEmailSettings(s: EmailSettingsRecord): Promise<void> {
    // A new consent mode: the workspace's reachable counts are recounted when it commits.
    this.touch(s.workspaceId, [])
    await this.c.run(
      `INSERT INTO email_settings (workspace_id, from_address, caps, consent, updated_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (workspace_id) DO UPDATE SET from_address = excluded.from_address, caps = excluded.caps,
         consent = excluded.consent, updated_at = excluded.updated_at`,
      [
        s.workspaceId,
        s.fromAddress,
        JSON.stringify(s.caps),
        s.consent === null ? null : JSON.stringify(s.consent),
        s.updatedAt,
      ],
    )
  }

  emailStatus(workspaceId: string, profileId: string): Promise<EmailStatus> {
    return emailStatus(this.c, workspaceId, profileId)
  }

  consents(workspaceId: string, profileId: string): Promise<ConsentRecord[]> {
    return consents(this.c, workspaceId, profileId)
  }

  async setEmailStatus(
    workspaceId: string,
    profileId: string,
    status: EmailStatus,
    reason: string | null,
    at: number,
  ): Promise<void> {
    this.touch(workspaceId, [profileId])
    await this.c.run(
      `INSERT INTO email_status (workspace_id, profile_id, status, reason, updated_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (workspace_id, profile_id) DO UPDATE SET status = excluded.status, reason = excluded.reason,
         updated_at = excluded.updated_at`,
      [workspaceId, profileId, status, reason, at],
    )
  }

  async insertSend(s: EmailSendRecord): Promise<void> {
    await this.c.run(
      `INSERT INTO email_sends (workspace_id, id, profile_id, address, template_key, automation_key, transition_id,
         category, status, message_id, error, created_at, sent_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (workspace_id, id) DO NOTHING`,
      [
        s.workspaceId,
        s.id,
        s.profileId,
        s.address,
        s.templateKey,
        s.automationKey,
        s.transitionId,
        s.category,
        s.status,
        s.messageId,
        s.error,
        s.createdAt,
        s.sentAt,
      ],
    )
  }

  async updateSend(s: EmailSendRecord): Promise<void> {
    await this.c.run(
      `UPDATE email_sends SET status = ?, error = ?, sent_at = ? WHERE workspace_id = ? AND id = ?`,
      [s.status, s.error, s.sentAt, s.workspaceId, s.id],
    )
  }

  async getSend(workspaceId: string, id: string): Promise<EmailSendRecord | null> {
    const rows = await this.c.all(`SELECT * FROM email_sends WHERE workspace_id = ? AND id = ?`, [
      workspaceId,
      id,
    ])
    return rows[0] ? toSend(rows[0]) : null
  }

  async countSends(
    workspaceId: string,
    profileId: string,
    category: string,
    since: number,
  ): Promise<number> {
    const rows = await this.c.all(
      `SELECT COUNT(*) AS n FROM email_sends WHERE workspace_id = ? AND profile_id = ? AND category = ?
         AND created_at > ? AND status <> 'failed'`,
      [workspaceId, profileId, category, since],
    )
    return num(rows[0]?.n ?? 0)
  }

  async listAutomations(workspaceId?: string): Promise<AutomationRecord[]> {
    const rows =
      workspaceId === undefined
        ? await this.c.all(`SELECT * FROM automations ORDER BY workspace_id, key`)
        : await this.c.all(`SELECT * FROM automations WHERE workspace_id = ? ORDER BY key`, [
            workspaceId,
          ])
    return rows.map(toAutomation)
  }

  async upsertAutomation(a: AutomationRecord): Promise<void> {
    await this.c.run(
      `INSERT INTO automations (workspace_id, key, definition, from_seq, from_snapshot, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (workspace_id, key) DO UPDATE SET definition = excluded.definition, updated_at = excluded.updated_at`,
      [
        a.workspaceId,
        a.key,
        JSON.stringify(a.definition),
        a.from.seq,
        a.from.snapshot,
        a.createdAt,
        a.updatedAt,
      ],
    )
  }

  async deleteAutomation(workspaceId: string, key: string): Promise<boolean> {
    await this.c.run(
      `UPDATE automation_runs SET status = 'skipped', detail = 'automation deleted' WHERE workspace_id = ? AND automation_key = ? AND status = 'scheduled'`,
      [workspaceId, key],
    )
    return (
      (await this.c.run(`DELETE FROM automations WHERE workspace_id = ? AND key = ?`, [
        workspaceId,
        key,
      ])) > 0
    )
  }

  async instanceSecret(name: string, make: () => string): Promise<string> {
    await this.c.run(
      `INSERT INTO instance_secrets (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`,
      [name, make()],
    )
    const rows = await this.c.all(`SELECT value FROM instance_secrets WHERE name = ?`, [name])
    return String(rows[0]!.value)
  }

  insertRuns(rows: readonly AutomationRunRecord[]): Promise<number> {
    return this.c.insertMany(
      `INSERT INTO automation_runs (workspace_id, automation_key, transition_id, transition_seq, transition_at, profile_id, segment_key,
         transition_type, due_at, status, step, attempts, detail, created_at, updated_at)`,
      rows.map((r) => [
        r.workspaceId,
        r.automationKey,
        r.transitionId,
        r.transitionSeq,
        r.transitionAt,
        r.profileId,
        r.segmentKey,
        r.transitionType,
        r.dueAt,
        r.status,
        r.step,
        r.attempts,
        r.detail,
        r.createdAt,
        r.updatedAt,
      ]),
      `ON CONFLICT (workspace_id, automation_key, transition_id) DO NOTHING`,
    )
  }

  async dueRuns(now: number, limit: number): Promise<AutomationRunRecord[]> {
    const rows = await this.c.all(
      `SELECT * FROM automation_runs WHERE status = 'scheduled' AND due_at <= ? ORDER BY due_at, created_at LIMIT ?`,
      [now, limit],
    )
    return rows.map(toRun)
  }

  async updateRun(r: AutomationRunRecord): Promise<void> {
    await this.c.run(
      `UPDATE automation_runs SET status = ?, step = ?, attempts = ?, detail = ?, due_at = ?, updated_at = ?
       WHERE workspace_id = ? AND automation_key = ? AND transition_id = ?`,
      [
        r.status,
        r.step,
        r.attempts,
        r.detail,
        r.dueAt,
        r.updatedAt,
        r.workspaceId,
        r.automationKey,
        r.transitionId,
      ],
    )
  }
}

export class SqlMessagingReads implements MessagingReads {
  constructor(private readonly reader: () => SqlConnection) {}

  async getTemplate(workspaceId: string, key: string): Promise<TemplateRecord | null> {
    const rows = await this.reader().all(
      `SELECT * FROM templates WHERE workspace_id = ? AND key = ?`,
      [workspaceId, key],
    )
    return rows[0] ? toTemplate(rows[0]) : null
  }

  async listTemplates(workspaceId: string): Promise<TemplateRecord[]> {
    return (
      await this.reader().all(`SELECT * FROM templates WHERE workspace_id = ? ORDER BY key`, [
        workspaceId,
      ])
    ).map(toTemplate)
  }

  async listSends(
    workspaceId: string,
    q: { profileId?: string; limit: number },
  ): Promise<EmailSendRecord[]> {
    const rows =
      q.profileId === undefined
        ? await this.reader().all(
            `SELECT * FROM email_sends WHERE workspace_id = ? ORDER BY created_at DESC, id DESC LIMIT ?`,
            [workspaceId, q.limit],
          )
        : await this.reader().all(
            `SELECT * FROM email_sends WHERE workspace_id = ? AND profile_id = ? ORDER BY created_at DESC, id DESC LIMIT ?`,
            [workspaceId, q.profileId, q.limit],
          )
    return rows.map(toSend)
  }

  async listRuns(
    workspaceId: string,
    q: Parameters<MessagingReads['listRuns']>[1],
  ): Promise<AutomationRunRecord[]> {
    if (q.automationKey === undefined) {
      const rows = await this.reader().all(
        `SELECT * FROM automation_runs WHERE workspace_id = ? ORDER BY created_at, automation_key, transition_id LIMIT ?`,
        [workspaceId, q.limit],
      )
      return rows.map(toRun)
    }
    // A range of automation_runs_list (migration 13): (created_at, transition_id) after the cursor.
    const after = q.after ?? null
    const rows = await this.reader().all(
      `SELECT * FROM automation_runs WHERE workspace_id = ? AND automation_key = ?
       ${after === null ? '' : 'AND (created_at, transition_id) > (?, ?)'}
       ORDER BY created_at, transition_id LIMIT ?`,
      [
        workspaceId,
        q.automationKey,
        ...(after === null ? [] : [after.createdAt, after.transitionId]),
        q.limit,
      ],
    )
    return rows.map(toRun)
  }

  emailStatus(workspaceId: string, profileId: string): Promise<EmailStatus> {
    return emailStatus(this.reader(), workspaceId, profileId)
  }

  consents(workspaceId: string, profileId: string): Promise<ConsentRecord[]> {
    return consents(this.reader(), workspaceId, profileId)
  }

  getEmailSettings(workspaceId: string): Promise<EmailSettingsRecord | null> {
    return getEmailSettings(this.reader(), workspaceId)
  }

  async listAutomations(workspaceId: string): Promise<AutomationRecord[]> {
    return (
      await this.reader().all(`SELECT * FROM automations WHERE workspace_id = ? ORDER BY key`, [
        workspaceId,
      ])
    ).map(toAutomation)
  }

  async nextRunDue(): Promise<number | null> {
    const rows = await this.reader().all(
      `SELECT MIN(due_at) AS due FROM automation_runs WHERE status = 'scheduled'`,
    )
    const due = rows[0]?.due
    return due === null || due === undefined ? null : num(due)
  }
}
