/**
 * What the rule editor asks the admin API (through the one client, api.ts): checks of the
 * rule's text, previews, diffs, versions, explanations and who uses a segment.
 */
import { api, seg } from '../../api.js'
import type { Explain, Segment } from '../../api.js'

export type RuleFormat = 'yaml' | 'json'

/** A problem in the rule's text: its rule path and where it is (1-based). */
export interface SourceIssue {
  readonly path: string
  readonly message: string
  readonly line: number
  readonly column: number
}

export interface Checked {
  readonly ok: boolean
  readonly rule?: unknown
  readonly yaml?: string
  readonly issues: readonly SourceIssue[]
}

export interface Sample {
  readonly id: string
  readonly userId: string | null
}

export interface Counted {
  readonly count: number
  readonly sample: readonly Sample[]
}

export interface SegmentVersion {
  readonly version: number
  readonly name: string
  readonly description: string
  readonly rule: unknown
  readonly yaml: string
  readonly publishedAt: string
}

export const checkRule = (source: string, format: RuleFormat, key: string | null) =>
  api.post<Checked>('/api/segments/check', { source, format, ...(key ? { key } : {}) })

export const previewRule = (rule: unknown) => api.post<Counted>('/api/segments/preview', { rule })

export const diffRule = (key: string, rule: unknown) =>
  api.post<{ entering: Counted; exiting: Counted }>(`/api/segments/${seg(key)}/diff`, { rule })

export const publishSegment = (
  key: string,
  body: { name: string; description: string; rule: unknown },
) => api.put<Segment>(`/api/segments/${seg(key)}`, body)

export const getSegment = (key: string) => api.get<Segment>(`/api/segments/${seg(key)}`)

export const listVersions = (key: string) =>
  api.get<{ segment: string; items: readonly SegmentVersion[] }>(
    `/api/segments/${seg(key)}/versions`,
  )

export const explain = (person: string, key: string) =>
  api.get<Explain>(`/api/profiles/${seg(person)}/explain/${seg(key)}`)

export interface WebhookUse {
  readonly id: string
  readonly url: string
  readonly segments: readonly string[] | null
  readonly status: string
}

export interface AutomationUse {
  readonly key: string
  readonly name: string
  readonly enabled: boolean
  readonly trigger: { readonly segment: string; readonly on: string; readonly delay: string | null }
  readonly conditions: unknown
}

export const listWebhooks = () => api.get<{ items: readonly WebhookUse[] }>('/api/webhooks')
export const listAutomations = () =>
  api.get<{ items: readonly AutomationUse[] }>('/api/automations')

/** Whether a rule (as written, JSON) refers to segment `key` anywhere. */
export function refersTo(rule: unknown, key: string): boolean {
  if (Array.isArray(rule)) return rule.some((r) => refersTo(r, key))
  if (rule === null || typeof rule !== 'object') return false
  const o = rule as Record<string, unknown>
  if (o.segment === key) return true
  return Object.values(o).some((v) => refersTo(v, key))
}

/** A rule (JSON) as the editor's JSON text. */
export const jsonText = (rule: unknown) => `${JSON.stringify(rule, null, 2)}\n`
