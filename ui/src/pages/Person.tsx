import type { PageProps } from '../router.js'

export function Person(_: PageProps) {
  return <h1>Person</h1>
}
