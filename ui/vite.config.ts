import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vite'

const here = fileURLToPath(new URL('.', import.meta.url))

/**
 * The dashboard's build: ui/ → dist/ui, index.html at its root and content-hashed files under
 * /ui/assets/ (served immutable by src/http/ui-routes.ts). No plugins: Vite's own JSX
 * transform with Preact's automatic runtime is all Preact needs.
 */
export default defineConfig({
  root: here,
  base: '/ui/',
  publicDir: false,
  logLevel: 'warn',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: fileURLToPath(new URL('../dist/ui', import.meta.url)),
    emptyOutDir: true,
    assetsDir: 'assets',
    target: 'es2022',
    // No inline <script>/<style>: the Content-Security-Policy allows only 'self'.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    reportCompressedSize: false,
  },
})
