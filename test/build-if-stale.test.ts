/**
 * `npm start` builds dist/ only when its sources changed (scripts/build-if-stale.mjs, its
 * `prestart`). The staleness check on a temporary tree, then the script itself on a tiny
 * project: a fresh clone builds, a restart does not, a changed source rebuilds.
 */
import { spawnSync } from 'node:child_process'
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import {
  ENTRY,
  hasUi,
  inputs,
  staleness,
  UI_ENTRY,
  UI_STAMP,
  uiInputs,
  uiStaleness,
  writeStamp,
  writeUiStamp,
} from '../scripts/build-if-stale.mjs'

const REPO = fileURLToPath(new URL('..', import.meta.url))
const dirs: string[] = []

afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'segflow-build-'))
  dirs.push(root)
  for (const [path, text] of Object.entries(files)) write(root, path, text)
  return root
}

function write(root: string, path: string, text: string): void {
  mkdirSync(join(root, path, '..'), { recursive: true })
  writeFileSync(join(root, path), text)
}

const SOURCES = {
  'tsconfig.json': '{"compilerOptions": {"strict": true}, "include": ["src"]}\n',
  'tsconfig.build.json': '{"extends": "./tsconfig.json", "compilerOptions": {"outDir": "dist"}}\n',
  'src/cli/main.ts': 'export const greeting: string = "hello"\n',
  'src/shared/time.ts': 'export const second = 1000\n',
}

/** A tree as the last build left it: dist/ and a stamp of the current sources. */
function built(): string {
  const root = tree({ ...SOURCES, [ENTRY]: 'export const greeting = "hello"\n' })
  writeStamp(root, inputs(root))
  return root
}

describe('staleness of dist/', () => {
  it('is stale on a fresh clone (no dist/) and when only the stamp is missing', () => {
    const root = tree(SOURCES)
    expect(staleness(root)).toEqual({ stale: true, reason: 'dist/cli/main.js does not exist' })
    write(root, ENTRY, 'export {}\n')
    expect(staleness(root)).toEqual({ stale: true, reason: 'dist/.build-stamp does not exist' })
  })

  it('is fresh right after a build, and when a file is rewritten unchanged with a new mtime', () => {
    const root = built()
    expect(staleness(root)).toEqual({ stale: false, reason: 'dist/ is up to date' })
    write(root, 'src/cli/main.ts', SOURCES['src/cli/main.ts'])
    const later = new Date(Date.UTC(2030, 0, 1))
    utimesSync(join(root, 'src/cli/main.ts'), later, later)
    expect(staleness(root).stale).toBe(false)
  })

  it('is stale when a source changes, even with its old mtime kept', () => {
    const root = built()
    const old = new Date(Date.UTC(2001, 0, 1))
    utimesSync(join(root, 'src/shared/time.ts'), old, old)
    write(root, 'src/shared/time.ts', 'export const second = 1001\n')
    utimesSync(join(root, 'src/shared/time.ts'), old, old)
    expect(staleness(root)).toEqual({ stale: true, reason: 'src/shared/time.ts changed' })
  })

  it('is stale when a source is added or removed, or a tsconfig changes', () => {
    const added = built()
    write(added, 'src/http/app.ts', 'export {}\n')
    expect(staleness(added)).toEqual({ stale: true, reason: 'src/http/app.ts is new' })

    const removed = built()
    rmSync(join(removed, 'src/shared/time.ts'))
    expect(staleness(removed)).toEqual({ stale: true, reason: 'src/shared/time.ts was removed' })

    const config = built()
    write(config, 'tsconfig.build.json', '{"compilerOptions": {"outDir": "out"}}\n')
    expect(staleness(config)).toEqual({ stale: true, reason: 'tsconfig.build.json changed' })
  })

  it('is stale when the TypeScript version differs from the one that built dist/', () => {
    const root = built()
    const stamp = JSON.parse(readFileSync(join(root, 'dist/.build-stamp'), 'utf8'))
    writeFileSync(join(root, 'dist/.build-stamp'), JSON.stringify({ ...stamp, typescript: '1.0' }))
    expect(staleness(root).reason).toMatch(/^TypeScript 1\.0 → /)
  })
})

describe('staleness of dist/ui (the dashboard)', () => {
  const UI = {
    'ui/vite.config.ts': 'export default {}\n',
    'ui/index.html': '<div id="app"></div>\n',
    'ui/src/main.tsx': 'export {}\n',
  }
  const builtUi = () => {
    const root = tree({ ...SOURCES, ...UI, [UI_ENTRY]: '<html></html>\n' })
    writeUiStamp(root, uiInputs(root))
    return root
  }

  it('is stale until built, fresh after, and stale again when a file under ui/ changes', () => {
    expect(hasUi(tree(SOURCES))).toBe(false)
    const fresh = tree({ ...SOURCES, ...UI })
    expect(hasUi(fresh)).toBe(true)
    expect(uiStaleness(fresh)).toEqual({ stale: true, reason: `${UI_ENTRY} does not exist` })
    const root = builtUi()
    expect(uiStaleness(root)).toEqual({ stale: false, reason: 'dist/ui is up to date' })
    // A server source does not touch the dashboard, nor the other way round.
    write(root, 'src/shared/time.ts', 'export const second = 1001\n')
    expect(uiStaleness(root).stale).toBe(false)
    write(root, 'ui/src/main.tsx', 'export const x = 1\n')
    expect(uiStaleness(root)).toEqual({ stale: true, reason: 'ui/src/main.tsx changed' })
    const added = builtUi()
    write(added, 'ui/src/pages/Overview.tsx', 'export {}\n')
    expect(uiStaleness(added)).toEqual({ stale: true, reason: 'ui/src/pages/Overview.tsx is new' })
  })

  it('is stale when Vite, Preact or uPlot is another version than the one that built it', () => {
    const root = builtUi()
    const stamp = JSON.parse(readFileSync(join(root, UI_STAMP), 'utf8'))
    writeFileSync(
      join(root, UI_STAMP),
      JSON.stringify({ ...stamp, packages: { ...stamp.packages, preact: '9.0.0' } }),
    )
    expect(uiStaleness(root).reason).toMatch(/^preact 9\.0\.0 → /)
  })
})

describe('scripts/build-if-stale.mjs', () => {
  it('builds a fresh clone, skips the build on restart, rebuilds when a source changed', () => {
    const root = tree({
      'tsconfig.json':
        '{"compilerOptions": {"module": "NodeNext", "target": "ES2023", "strict": true, "types": []}, "include": ["src"]}\n',
      'tsconfig.build.json':
        '{"extends": "./tsconfig.json", "compilerOptions": {"rootDir": "src", "outDir": "dist", "incremental": true, "tsBuildInfoFile": "dist/.tsbuildinfo"}, "include": ["src"]}\n',
      'package.json': '{"type": "module"}\n',
      'src/cli/main.ts': 'export const version: number = 1\n',
    })
    mkdirSync(join(root, 'scripts'))
    copyFileSync(join(REPO, 'scripts/build-if-stale.mjs'), join(root, 'scripts/build-if-stale.mjs'))
    symlinkSync(join(REPO, 'node_modules'), join(root, 'node_modules'), 'dir')
    const run = (...args: string[]) =>
      spawnSync(process.execPath, ['scripts/build-if-stale.mjs', ...args], {
        cwd: root,
        encoding: 'utf8',
      })
    const output = () => readFileSync(join(root, ENTRY), 'utf8')

    const first = run()
    expect(first.status).toBe(0)
    expect(first.stdout).toContain('building dist/ (dist/cli/main.js does not exist)')
    expect(output()).toContain('export const version = 1')

    const restart = run()
    expect(restart.status).toBe(0)
    expect(restart.stdout).toBe('')
    expect(run('--check')).toMatchObject({ status: 0, stdout: 'segflow: dist/ is up to date\n' })

    write(root, 'src/cli/main.ts', 'export const version: number = 2\n')
    expect(run('--check')).toMatchObject({
      status: 1,
      stdout: 'segflow: build is stale: src/cli/main.ts changed\n',
    })
    const rebuild = run()
    expect(rebuild.status).toBe(0)
    expect(rebuild.stdout).toContain('building dist/ (src/cli/main.ts changed)')
    expect(output()).toContain('export const version = 2')
    expect(run().stdout).toBe('')
  })

  it('stops with tsc’s status and writes no stamp when the build fails', () => {
    const root = tree({
      'tsconfig.json': '{"compilerOptions": {"strict": true, "types": []}, "include": ["src"]}\n',
      'tsconfig.build.json':
        '{"extends": "./tsconfig.json", "compilerOptions": {"rootDir": "src", "outDir": "dist"}}\n',
      'src/cli/main.ts': 'export const version: number = "one"\n',
    })
    mkdirSync(join(root, 'scripts'))
    copyFileSync(join(REPO, 'scripts/build-if-stale.mjs'), join(root, 'scripts/build-if-stale.mjs'))
    symlinkSync(join(REPO, 'node_modules'), join(root, 'node_modules'), 'dir')
    const failed = spawnSync(process.execPath, ['scripts/build-if-stale.mjs'], {
      cwd: root,
      encoding: 'utf8',
    })
    expect(failed.status).not.toBe(0)
    expect(failed.stderr).toContain('the TypeScript build failed')
    expect(staleness(root).stale).toBe(true)
  })
})
