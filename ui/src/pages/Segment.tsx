import type { PageProps } from '../router.js'

export function Segment(_: PageProps) {
  return <h1>Segment</h1>
}
