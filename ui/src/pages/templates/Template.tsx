/**
 * `/templates/:key`: subject, HTML and text, rendered as you type into the QA matrix (one
 * rendering per segment, for a member whose `recipient.segment` it is) in sandboxed iframes
 * (`sandbox=""`: no scripts, no forms, an opaque origin; see EmailFrame), with the server's warnings and
 * syntax errors at their line and column; save, and send a test after a confirmation.
 */
import { useEffect, useRef, useState } from 'preact/hooks'
import { ApiError } from '../../api.js'
import {
  Confirm,
  Empty,
  ErrorBox,
  Link,
  Loading,
  Show,
  useAsync,
  useCanEdit,
  useTitle,
  when,
} from '../../components.js'
import type { PageProps } from '../../router.js'
import { CodeArea } from '../segment/CodeArea.js'
import { useDebounced } from '../segment/hooks.js'
import { getTemplate, previewDraft, saveTemplate, sendTest } from './model.js'
import type {
  Draft,
  Preview,
  PreviewRow,
  SendOutcome,
  TemplateIssue,
  TemplateView,
} from './model.js'

const STARTER: Draft = {
  subject: 'Hello {{ traits.first_name | default: "there" }}',
  html: '<h1>Hello {{ traits.first_name | default: "there" }}</h1>\n{% if recipient.segment %}\n<p>You are in {{ recipient.segment }}.</p>\n{% endif %}\n<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>\n',
  text: null,
}

export function Template({ params }: PageProps) {
  const key = params.key!
  useTitle(`Template ${key}`)
  const loaded = useAsync(async (): Promise<TemplateView | null> => {
    try {
      return await getTemplate(key)
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) return null
      throw e
    }
  }, [key])
  return (
    <>
      <p class="small">
        <Link href="/templates">← Templates</Link>
      </p>
      <Show value={loaded} what="Loading the template">
        {(t) => (
          <Editor key={t?.updatedAt ?? 'new'} templateKey={key} saved={t} onSaved={loaded.reload} />
        )}
      </Show>
    </>
  )
}

function Editor({
  templateKey,
  saved,
  onSaved,
}: {
  templateKey: string
  saved: TemplateView | null
  onSaved: () => void
}) {
  const canEdit = useCanEdit()
  const [draft, setDraft] = useState<Draft>(
    saved ? { subject: saved.subject, html: saved.html, text: saved.text } : STARTER,
  )
  const [saving, setSaving] = useState<{
    error?: ApiError
    busy?: boolean
    warnings?: readonly string[]
  }>({})
  const render = useDebounced(canEdit ? draft : null, (d) => previewDraft(templateKey, d), 400)
  const issues: readonly TemplateIssue[] =
    render.state === 'error' && render.error.code === 'invalid_template'
      ? (render.error.issues as unknown as TemplateIssue[])
      : []
  const marks = (field: TemplateIssue['field']) =>
    issues
      .filter((i) => i.field === field && i.line !== null)
      .map((i) => ({ line: i.line!, column: i.column, message: i.message }))
  const changed =
    saved === null ||
    draft.subject !== saved.subject ||
    draft.html !== saved.html ||
    (draft.text ?? '') !== (saved.text ?? '')

  const save = async () => {
    setSaving({ busy: true })
    try {
      const t = await saveTemplate(templateKey, draft)
      setSaving({ warnings: t.warnings ?? [] })
      onSaved()
    } catch (e) {
      setSaving({ error: e instanceof ApiError ? e : new ApiError(0, 'client', String(e)) })
    }
  }

  return (
    <>
      <div class="head">
        <h1>
          Template <code>{templateKey}</code>
        </h1>
        <span class="muted small">
          {saved ? `Saved ${when(saved.updatedAt)}` : 'Not saved yet: saving creates it.'}
          {saved && changed && ' · unsaved changes'}
        </span>
      </div>
      {!canEdit && <p class="notice">You have the viewer role: the template is read-only.</p>}
      <div class="template-grid">
        <section class="card template-fields" aria-label="Template">
          <label>
            Subject
            <input
              value={draft.subject}
              readOnly={!canEdit}
              aria-invalid={issues.some((i) => i.field === 'subject')}
              onInput={(e) => setDraft({ ...draft, subject: (e.target as HTMLInputElement).value })}
            />
          </label>
          <div>
            <span class="label" id="html-label">
              HTML
            </span>
            <CodeArea
              id="html"
              label="HTML"
              value={draft.html}
              onInput={(html) => setDraft({ ...draft, html })}
              marks={marks('html')}
              readOnly={!canEdit}
              rows={12}
              describedBy="template-issues"
            />
          </div>
          <div>
            <span class="label">Plain text (optional)</span>
            <CodeArea
              id="text"
              label="Plain text"
              value={draft.text ?? ''}
              onInput={(text) => setDraft({ ...draft, text: text === '' ? null : text })}
              marks={marks('text')}
              readOnly={!canEdit}
              rows={5}
              describedBy="template-issues"
            />
          </div>
          <ul id="template-issues" class="issues" aria-live="polite">
            {issues.map((i, n) => (
              <li key={n} data-testid="template-issue">
                <span class="where">
                  {i.field}
                  {i.line !== null && `, line ${i.line}, column ${i.column}`}
                </span>{' '}
                {i.message}
              </li>
            ))}
          </ul>
          {canEdit && (
            <div class="actions">
              <button
                type="button"
                class="primary"
                disabled={!changed || saving.busy}
                onClick={save}
              >
                {saved ? 'Save' : 'Create template'}
              </button>
            </div>
          )}
          {saving.error && <ErrorBox error={saving.error} />}
          {saving.warnings && saving.warnings.length === 0 && !changed && (
            <p class="good small" role="status">
              Saved.
            </p>
          )}
          {canEdit && saved && <SendTest templateKey={templateKey} unsaved={changed} />}
        </section>
        <section class="qa" aria-labelledby="qa-title">
          <h2 id="qa-title">
            QA matrix {render.state === 'pending' && <span class="muted small">rendering…</span>}
          </h2>
          {!canEdit && <Empty>Rendering previews needs the editor role.</Empty>}
          {render.state === 'error' && issues.length === 0 && <ErrorBox error={render.error} />}
          {issues.length > 0 && (
            <p class="notice small">
              The template does not parse; the matrix shows the last rendering.
            </p>
          )}
          <Matrix value={'data' in render ? render.data : undefined} />
        </section>
      </div>
    </>
  )
}

function Matrix({ value }: { value: Preview | undefined }) {
  if (value === undefined) return <Loading what="Rendering" />
  return (
    <>
      {value.warnings.length > 0 && (
        <ul class="warnings" data-testid="template-warnings">
          {value.warnings.map((w) => (
            <li key={w}>{w}</li>
          ))}
        </ul>
      )}
      {value.previews.length === 0 ? (
        <Empty>No segments yet: the matrix has one rendering per segment.</Empty>
      ) : (
        <div class="matrix">
          {value.previews.map((row) => (
            <Cell key={row.segment ?? ''} row={row} />
          ))}
        </div>
      )}
    </>
  )
}

function Cell({ row }: { row: PreviewRow }) {
  const who = row.profile ? (row.profile.email ?? row.profile.userId ?? row.profile.id) : null
  return (
    <article class="card cell" data-testid="qa-cell" data-segment={row.segment ?? ''}>
      <header>
        <strong>{row.segment}</strong>
        {who && (
          <span class="muted small">
            {' '}
            · for <Link href={`/people/${encodeURIComponent(row.profile!.id)}`}>{who}</Link>
            {row.recipientSegment !== row.segment && row.recipientSegment && (
              <> (recipient.segment {row.recipientSegment})</>
            )}
          </span>
        )}
      </header>
      {row.error ? (
        <p class="muted">{row.error}</p>
      ) : (
        <>
          <p class="subject" data-testid="qa-subject">
            {row.subject}
          </p>
          <EmailFrame
            key={row.html ?? ''}
            name={`qa-${row.segment ?? 'person'}`}
            html={row.html ?? ''}
            title={`The email as ${who ?? 'a member'} of ${row.segment} would see it`}
          />
          {row.text && (
            <details>
              <summary>Plain text</summary>
              <pre>{row.text}</pre>
            </details>
          )}
        </>
      )}
    </article>
  )
}

/**
 * A rendered email in an iframe sandboxed to nothing. Not `srcdoc`: that document would
 * inherit the dashboard's policy, which refuses the inline styles and remote images emails
 * are made of. A form posts the HTML to /ui/frame, which answers it as a document of its own
 * (sandboxed, no scripts; src/http/preview-frame.ts), into the iframe. Each rendering gets a
 * new iframe (the caller keys it by the HTML): a fresh iframe's first navigation replaces its
 * blank document, so live renders add nothing to the page's history (Back leaves the page).
 */
function EmailFrame({ name, html, title }: { name: string; html: string; title: string }) {
  const form = useRef<HTMLFormElement>(null)
  useEffect(() => {
    form.current?.submit()
  }, [])
  return (
    <>
      <iframe name={name} sandbox="" title={title} />
      <form ref={form} method="post" action="/ui/frame" target={name} hidden>
        <input type="hidden" name="html" value={html} />
      </form>
    </>
  )
}

function SendTest({ templateKey, unsaved }: { templateKey: string; unsaved: boolean }) {
  const [profile, setProfile] = useState('')
  const [open, setOpen] = useState(false)
  const [state, setState] = useState<{ busy?: boolean; outcome?: SendOutcome; error?: ApiError }>(
    {},
  )
  const send = async () => {
    setState({ busy: true })
    try {
      const outcome = await sendTest(templateKey, profile.trim())
      setState({ outcome })
    } catch (e) {
      setState({ error: e instanceof ApiError ? e : new ApiError(0, 'client', String(e)) })
    }
    setOpen(false)
  }
  return (
    <form
      class="send-test"
      onSubmit={(e) => {
        e.preventDefault()
        if (profile.trim() !== '') setOpen(true)
      }}
    >
      <h3>Send a test</h3>
      <div class="toolbar">
        <label>
          To (userId or email of a person)
          <input
            value={profile}
            onInput={(e) => setProfile((e.target as HTMLInputElement).value)}
          />
        </label>
        <button type="submit" disabled={profile.trim() === ''}>
          Send a test…
        </button>
      </div>
      {unsaved && <p class="muted small">A test sends the saved version.</p>}
      {state.outcome && (
        <p role="status" class={state.outcome.status === 'sent' ? 'good' : 'muted'}>
          {state.outcome.status === 'sent'
            ? `Sent (message ${state.outcome.messageId}).`
            : `Not sent: ${state.outcome.reason}.`}
        </p>
      )}
      {state.error && <ErrorBox error={state.error} />}
      <Confirm
        open={open}
        title="Send a test email?"
        confirmLabel="Send"
        busy={state.busy}
        onConfirm={send}
        onCancel={() => setOpen(false)}
      >
        <p>
          The saved version of <code>{templateKey}</code> goes to {profile.trim()}'s address now, as
          a real email.
        </p>
      </Confirm>
    </form>
  )
}
