/**
 * Shapes of the admin API behind the operations pages (automations, webhooks, scores and
 * lifecycle, privacy, settings, users). Requests go through the one client in api.ts.
 */

export interface Automation {
  readonly key: string
  readonly name: string
  readonly enabled: boolean
  readonly trigger: {
    readonly segment: string
    readonly on: 'entered' | 'exited'
    readonly delay: string | null
    readonly history: 'skip' | 'run'
  }
  readonly conditions: unknown
  readonly actions: readonly ({ readonly type: string } & Record<string, unknown>)[]
  readonly createdAt: string
  readonly updatedAt: string
}

export interface AutomationRun {
  readonly automation: string
  readonly transitionId: string
  readonly profileId: string
  readonly segment: string
  readonly type: string
  readonly status: 'scheduled' | 'done' | 'skipped' | 'failed'
  readonly dueAt: string
  readonly step: number
  readonly attempts: number
  readonly detail: string | null
}

export interface Webhook {
  readonly id: string
  readonly url: string
  readonly segments: readonly string[] | null
  readonly types: readonly string[] | null
  readonly status: string
  readonly disabledReason: string | null
  readonly maxInFlight: number
  readonly history: 'send' | 'skip'
  /** Only in the answer to PUT and to rotate. */
  readonly secret?: string
  readonly previousSecretsUntil: readonly string[]
  readonly createdAt: string
  readonly updatedAt: string
}

export type DeliveryStatus = 'pending' | 'succeeded' | 'failed' | 'exhausted' | 'cancelled'

export interface Attempt {
  readonly attempt: number
  readonly at: string
  readonly status: number | null
  readonly error: string | null
  readonly durationMs: number
}

export interface Delivery {
  readonly id: string
  readonly status: DeliveryStatus
  readonly attempts: number
  readonly nextAttemptAt: string | null
  readonly lastStatus: number | null
  readonly lastError: string | null
  readonly payload: { readonly type: string; readonly data?: Record<string, unknown> }
  readonly history: readonly Attempt[]
}

export interface ScoreModel {
  readonly key: string
  readonly name: string
  readonly description: string
  readonly halfLife: string | null
  readonly criteria: readonly {
    readonly name: string
    readonly kind: 'event' | 'rule'
    readonly points: number
    readonly cap: number | null
  }[]
  readonly definition: unknown
  readonly usedBy: readonly string[]
  readonly createdAt: string
  readonly updatedAt: string
}

export interface Stage {
  readonly key: string
  readonly name: string
  readonly description?: string
  readonly rule: unknown
  readonly segment?: string
  readonly size?: number
}

export interface Lifecycle {
  readonly enabled: boolean
  readonly stages: readonly Stage[]
  readonly defaults?: readonly Stage[]
}

export interface PrivacyRequest {
  readonly id: string
  readonly type: 'export' | 'erasure'
  readonly regulation: 'gdpr' | 'ccpa'
  readonly status: string
  readonly receivedAt: string
  readonly dueAt: string
  readonly completedAt: string | null
  readonly result: {
    readonly found: boolean
    /** An export: rows by table. */
    readonly rows?: Record<string, number>
    /** An erasure: rows deleted by table, and what else it did. */
    readonly erased?: Record<string, number>
    readonly exitsSent?: number
    readonly suppressedIdentifiers?: number
    readonly error?: string
  } | null
}

export interface AuditEntry {
  readonly id: string
  readonly at: string
  readonly actor: string
  readonly action: string
  readonly target: string | null
  readonly status: number
}

export interface EmailSettings {
  readonly from: string
  readonly caps: readonly { category: string; max: number; within: string }[]
  readonly consent: { readonly mode: 'opt_in' | 'opt_out' }
  readonly updatedAt: string | null
}

export interface DataSchema {
  readonly mode: 'allow' | 'drop' | 'reject'
  readonly traits: Record<string, unknown>
  readonly events: Record<string, unknown>
  readonly updatedAt: string | null
  readonly dropped: Record<string, number>
}

export interface ApiKey {
  readonly id: string
  readonly kind: 'write' | 'admin'
  readonly name: string
  readonly prefix: string
  readonly createdAt: string
  readonly revokedAt: string | null
}

export interface User {
  readonly email: string
  readonly role: 'viewer' | 'editor' | 'admin'
  readonly passwordSet: boolean
  readonly disabled: boolean
  readonly createdAt: string
  readonly setPasswordUrl?: string
  readonly linkExpiresAt?: string
}
