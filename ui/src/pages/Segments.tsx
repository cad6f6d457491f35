import type { PageProps } from '../router.js'

export function Segments(_: PageProps) {
  return <h1>Segments</h1>
}
