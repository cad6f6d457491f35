import { Link } from '../components.js'

export function NotFound() {
  return (
    <div class="state empty">
      <h1>Page not found</h1>
      <p>
        There is no page at <code>{location.pathname}</code>.{' '}
        <Link href="/">Go to the overview</Link>.
      </p>
    </div>
  )
}
