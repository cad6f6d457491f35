import { Link, useTitle } from '../components.js'
import type { PageProps } from '../router.js'
import { RuleEditor } from './segment/RuleEditor.js'

/** `/segments/new`: a key, a name and a rule, checked and counted as you type. */
export function NewSegment(_: PageProps) {
  useTitle('New segment')
  return (
    <>
      <p class="small">
        <Link href="/segments">← Segments</Link>
      </p>
      <h1>New segment</h1>
      <RuleEditor segmentKey={null} />
    </>
  )
}
