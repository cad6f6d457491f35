#!/usr/bin/env node
/**
 * Builds dist/ only when what it is compiled from changed, so `npm start` (its `prestart`)
 * restarts in well under a second instead of waiting ~20 s for tsc every time.
 *
 *   node scripts/build-if-stale.mjs            build if stale (npm start)
 *   node scripts/build-if-stale.mjs --force    build always (npm run build)
 *   node scripts/build-if-stale.mjs --check    exit 1 and say why if stale; build nothing
 *
 * The build is stale when dist/.build-stamp is missing (fresh clone, dist/ deleted), when the
 * entry point dist/cli/main.js is missing, or when a file under src/, tsconfig.json,
 * tsconfig.build.json or the TypeScript version differs from what the stamp recorded. Content
 * hashes, not mtimes: a checkout that rewrites files without changing them does not rebuild,
 * and a change that keeps the mtime (tar, cp -p) still does. With `isolatedModules` and
 * `verbatimModuleSyntax` tsc's output depends only on those inputs. The stamp is written only
 * after tsc succeeded, from the hashes read before it ran: an edit made during the build
 * rebuilds next time. tsc itself runs incrementally (tsconfig.build.json's tsBuildInfoFile),
 * so a rebuild after a small change takes a few seconds.
 *
 * The dashboard (ui/, bundled by Vite into dist/ui) is a second part with its own stamp,
 * dist/.ui-build-stamp: it is rebuilt when a file under ui/ or the version of Vite, Preact or
 * uPlot changed, or dist/ui/index.html is missing; a server-only change does not rebuild it,
 * nor the other way round. A tree without ui/ has no dashboard to build.
 */
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'

export const STAMP = 'dist/.build-stamp'
export const ENTRY = 'dist/cli/main.js'
export const UI_STAMP = 'dist/.ui-build-stamp'
export const UI_ENTRY = 'dist/ui/index.html'
/** The packages whose version changes the bundle. */
const UI_PACKAGES = ['vite', 'preact', 'uplot']
const BUILD_INFO = 'dist/.tsbuildinfo'
const CONFIGS = ['tsconfig.json', 'tsconfig.build.json']

const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex')

function walk(dir, out) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) walk(path, out)
    else if (entry.isFile()) out.push(path)
  }
  return out
}

function packageVersion(root, name) {
  try {
    const require = createRequire(join(root, 'package.json'))
    return JSON.parse(readFileSync(require.resolve(`${name}/package.json`), 'utf8')).version
  } catch {
    return 'none'
  }
}
const typescriptVersion = (root) => packageVersion(root, 'typescript')

/**
 * What the build is made from: `{ typescript, files: { 'src/a.ts': sha256, … } }`, paths
 * relative to root with `/` separators, sorted.
 * @example inputs('/work/segflow').files['src/cli/main.ts'] // 'a3f…'
 */
export function inputs(root) {
  const paths = [...walk(join(root, 'src'), []), ...CONFIGS.map((c) => join(root, c))]
  const files = {}
  for (const path of paths.map((p) => relative(root, p).split(sep).join('/')).sort()) {
    files[path] = existsSync(join(root, path)) ? sha256(readFileSync(join(root, path))) : 'missing'
  }
  return { typescript: typescriptVersion(root), files }
}

/**
 * Whether dist/ must be rebuilt, and why in words (the first difference found).
 * @example staleness('/work/segflow') // { stale: true, reason: 'src/http/app.ts changed' }
 */
export function staleness(root, current = inputs(root)) {
  if (!existsSync(join(root, ENTRY))) return { stale: true, reason: `${ENTRY} does not exist` }
  let stamp
  try {
    stamp = JSON.parse(readFileSync(join(root, STAMP), 'utf8'))
  } catch {
    return { stale: true, reason: `${STAMP} does not exist` }
  }
  if (stamp.typescript !== current.typescript) {
    return { stale: true, reason: `TypeScript ${stamp.typescript} → ${current.typescript}` }
  }
  const before = stamp.files ?? {}
  for (const [path, hash] of Object.entries(current.files)) {
    if (!(path in before)) return { stale: true, reason: `${path} is new` }
    if (before[path] !== hash) return { stale: true, reason: `${path} changed` }
  }
  for (const path of Object.keys(before)) {
    if (!(path in current.files)) return { stale: true, reason: `${path} was removed` }
  }
  return { stale: false, reason: 'dist/ is up to date' }
}

/** Records `built` (what inputs() returned before tsc ran) as what dist/ was built from. */
export function writeStamp(root, built) {
  mkdirSync(join(root, 'dist'), { recursive: true })
  writeFileSync(join(root, STAMP), `${JSON.stringify(built)}\n`)
}

/** Whether the tree has a dashboard to build (ui/ with its Vite config). */
export const hasUi = (root) => existsSync(join(root, 'ui', 'vite.config.ts'))

/**
 * What the dashboard is made from: `{ packages: { vite: '8.3.8', … }, files: { 'ui/…': sha256 } }`.
 * @example uiInputs('/work/segflow').files['ui/src/app.tsx'] // 'b1c…'
 */
export function uiInputs(root) {
  const packages = Object.fromEntries(UI_PACKAGES.map((n) => [n, packageVersion(root, n)]))
  const files = {}
  const paths = walk(join(root, 'ui'), []).map((p) => relative(root, p).split(sep).join('/'))
  for (const path of paths.sort()) files[path] = sha256(readFileSync(join(root, path)))
  return { packages, files }
}

/** Whether dist/ui must be rebuilt, and why (the first difference found). */
export function uiStaleness(root, current = uiInputs(root)) {
  if (!existsSync(join(root, UI_ENTRY)))
    return { stale: true, reason: `${UI_ENTRY} does not exist` }
  let stamp
  try {
    stamp = JSON.parse(readFileSync(join(root, UI_STAMP), 'utf8'))
  } catch {
    return { stale: true, reason: `${UI_STAMP} does not exist` }
  }
  for (const [name, version] of Object.entries(current.packages)) {
    if (stamp.packages?.[name] !== version)
      return { stale: true, reason: `${name} ${stamp.packages?.[name]} → ${version}` }
  }
  const before = stamp.files ?? {}
  for (const [path, hash] of Object.entries(current.files)) {
    if (!(path in before)) return { stale: true, reason: `${path} is new` }
    if (before[path] !== hash) return { stale: true, reason: `${path} changed` }
  }
  for (const path of Object.keys(before)) {
    if (!(path in current.files)) return { stale: true, reason: `${path} was removed` }
  }
  return { stale: false, reason: 'dist/ui is up to date' }
}

/** Runs `vite build` with ui/vite.config.ts in root; returns its exit status. */
export function buildUi(root) {
  const bin = join(
    dirname(createRequire(join(root, 'package.json')).resolve('vite/package.json')),
    'bin',
    'vite.js',
  )
  const run = spawnSync(process.execPath, [bin, 'build', '--config', 'ui/vite.config.ts'], {
    cwd: root,
    stdio: 'inherit',
  })
  return run.status ?? 1
}

/** Records `built` (what uiInputs() returned before vite ran) as what dist/ui was built from. */
export function writeUiStamp(root, built) {
  mkdirSync(join(root, 'dist'), { recursive: true })
  writeFileSync(join(root, UI_STAMP), `${JSON.stringify(built)}\n`)
}

/** Runs tsc -p tsconfig.build.json in root; returns its exit status. */
function tsc(root, force) {
  if (force) rmSync(join(root, BUILD_INFO), { force: true })
  const bin = createRequire(join(root, 'package.json')).resolve('typescript/bin/tsc')
  const run = spawnSync(process.execPath, [bin, '-p', 'tsconfig.build.json'], {
    cwd: root,
    stdio: 'inherit',
  })
  return run.status ?? 1
}

function main(argv) {
  const root = resolve(join(fileURLToPath(import.meta.url), '..', '..'))
  const force = argv.includes('--force')
  const parts = [
    {
      what: 'dist/',
      prefix: '',
      current: inputs(root),
      check: staleness,
      build: () => tsc(root, force),
      failed: (status) => `the TypeScript build failed (tsc exited with ${status}); see above`,
      stamp: (built) => writeStamp(root, built),
    },
    ...(hasUi(root)
      ? [
          {
            what: 'dist/ui (the dashboard)',
            prefix: 'the dashboard ',
            current: uiInputs(root),
            check: uiStaleness,
            build: () => buildUi(root),
            failed: (status) =>
              `the dashboard build failed (vite exited with ${status}); see above`,
            stamp: (built) => writeUiStamp(root, built),
          },
        ]
      : []),
  ]
  let anyStale = false
  for (const part of parts) {
    const { stale, reason } = force
      ? { stale: true, reason: '--force' }
      : part.check(root, part.current)
    if (argv.includes('--check')) {
      console.log(`segflow: ${stale ? `${part.prefix}build is stale: ${reason}` : reason}`)
      anyStale ||= stale
      continue
    }
    if (!stale) continue
    if (!force) console.log(`segflow: building ${part.what} (${reason}) …`)
    const started = performance.now()
    const status = part.build()
    if (status !== 0) {
      console.error(`segflow: ${part.failed(status)}`)
      return status
    }
    part.stamp(part.current)
    const took = `${((performance.now() - started) / 1000).toFixed(1)} s`
    console.log(`segflow: built ${part.what} in ${took}`)
  }
  return anyStale ? 1 : 0
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = main(process.argv.slice(2))
}
