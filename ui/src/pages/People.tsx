import type { PageProps } from '../router.js'

export function People(_: PageProps) {
  return <h1>People</h1>
}
