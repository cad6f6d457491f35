import { useState } from 'preact/hooks'
import { Empty, Link, Show, useAsync, useCanEdit, useTitle, when } from '../../components.js'
import { navigate } from '../../navigation.js'
import type { PageProps } from '../../router.js'
import { listTemplates } from './model.js'

const TEMPLATE_KEY = /^[a-z0-9][a-z0-9_-]{0,63}$/

/** `/templates`: every email template, and a new one by key. */
export function Templates(_: PageProps) {
  useTitle('Templates')
  const canEdit = useCanEdit()
  const templates = useAsync(listTemplates, [])
  const [key, setKey] = useState('')
  const bad = key !== '' && !TEMPLATE_KEY.test(key)
  return (
    <>
      <div class="head">
        <h1>Templates</h1>
        {canEdit && (
          <form
            class="toolbar"
            onSubmit={(e) => {
              e.preventDefault()
              if (TEMPLATE_KEY.test(key)) navigate(`/templates/${encodeURIComponent(key)}`)
            }}
          >
            <label>
              New template key
              <input
                value={key}
                onInput={(e) => setKey((e.target as HTMLInputElement).value)}
                placeholder="welcome"
                aria-invalid={bad}
                aria-describedby="new-key-help"
              />
            </label>
            <button type="submit" class="primary" disabled={!TEMPLATE_KEY.test(key)}>
              New template
            </button>
            {bad && (
              <p id="new-key-help" class="field-error small">
                lower-case letters, digits, - and _
              </p>
            )}
          </form>
        )}
      </div>
      <Show value={templates} what="Loading the templates">
        {(data) =>
          data.items.length === 0 ? (
            <Empty>No templates yet. {canEdit && 'Name one above to write it.'}</Empty>
          ) : (
            <div class="table-wrap">
              <table>
                <thead>
                  <tr>
                    <th scope="col">Key</th>
                    <th scope="col">Subject</th>
                    <th scope="col" class="hide-narrow">
                      Updated
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {data.items.map((t) => (
                    <tr key={t.key} data-testid="template-row">
                      <td>
                        <Link href={`/templates/${encodeURIComponent(t.key)}`}>{t.key}</Link>
                      </td>
                      <td class="wrap">{t.subject}</td>
                      <td class="hide-narrow muted">{when(t.updatedAt)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )
        }
      </Show>
    </>
  )
}
