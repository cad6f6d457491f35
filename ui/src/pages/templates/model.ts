/** What the templates pages ask the admin API (through api.ts). */
import { api, seg } from '../../api.js'

export interface TemplateView {
  readonly key: string
  readonly subject: string
  readonly html: string
  readonly text: string | null
  readonly updatedAt: string
  readonly warnings?: readonly string[]
}

export interface Draft {
  readonly subject: string
  readonly html: string
  readonly text: string | null
}

export interface PreviewRow {
  readonly segment: string | null
  readonly profile: { id: string; userId: string | null; email: string | null } | null
  readonly recipientSegment: string | null
  readonly subject: string | null
  readonly html: string | null
  readonly text: string | null
  readonly error: string | null
}

export interface Preview {
  readonly template: string
  readonly warnings: readonly string[]
  readonly previews: readonly PreviewRow[]
}

/** A template syntax error as the server reports it (400 invalid_template). */
export interface TemplateIssue {
  readonly field: 'subject' | 'html' | 'text'
  readonly line: number | null
  readonly column: number | null
  readonly message: string
}

export type SendOutcome =
  | { readonly status: 'sent'; readonly sendId: string; readonly messageId: string }
  | { readonly status: 'skipped'; readonly reason: string }

export const listTemplates = () => api.get<{ items: readonly TemplateView[] }>('/api/templates')
export const getTemplate = (key: string) => api.get<TemplateView>(`/api/templates/${seg(key)}`)
export const saveTemplate = (key: string, draft: Draft) =>
  api.put<TemplateView>(`/api/templates/${seg(key)}`, draft)
/** The QA matrix of an unsaved draft: one rendering per segment. */
export const previewDraft = (key: string, draft: Draft) =>
  api.post<Preview>(`/api/templates/${seg(key)}/preview`, { draft })
export const sendTest = (key: string, profile: string) =>
  api.post<SendOutcome>(`/api/templates/${seg(key)}/send`, { profile })
