/**
 * The dashboard in a real browser: a segflow app listening on 127.0.0.1 (a fresh store, known
 * keys) and Debian's Chromium driven by playwright-core, with axe-core at hand.
 */
import { mkdirSync, readFileSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { launchChromium } from './chromium.js'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { expect } from 'vitest'
import { buildUi, uiInputs, uiStaleness, writeUiStamp } from '../../scripts/build-if-stale.mjs'
import type { Clock } from '../../src/shared/clock.js'
import type { StoreKind } from '../../src/store/store.js'
import { newTestApp } from './runtime.js'
import type { TestApp } from './runtime.js'

export const REPO = fileURLToPath(new URL('../..', import.meta.url))
export { CHROMIUM } from './chromium.js'
export const PASSWORD = 'correct horse battery'

/**
 * Builds dist/ui when ui/ changed since the last build (as `npm start` would). Test files run
 * in parallel processes: a lock directory keeps two from building (and emptying dist/ui) at
 * once; the one that waited finds the build fresh.
 */
export function ensureUiBuilt(): void {
  const lock = join(REPO, 'dist', '.ui-build-lock')
  const deadline = Date.now() + 120_000
  for (;;) {
    if (!uiStaleness(REPO).stale) return
    try {
      mkdirSync(join(REPO, 'dist'), { recursive: true })
      mkdirSync(lock)
      break
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
      if (Date.now() > deadline) throw new Error(`${lock} held for 2 minutes; remove it if stale`)
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200)
    }
  }
  try {
    const current = uiInputs(REPO)
    if (!uiStaleness(REPO, current).stale) return
    const status = buildUi(REPO)
    if (status !== 0) throw new Error(`vite build failed with status ${status}`)
    writeUiStamp(REPO, current)
  } finally {
    rmSync(lock, { recursive: true, force: true })
  }
}

export interface Served {
  readonly t: TestApp
  readonly url: string
  /** Makes a user with a password; returns their email. */
  user(email: string, role: 'viewer' | 'editor' | 'admin'): Promise<string>
  close(): Promise<void>
}

/**
 * The app of a fresh test runtime, listening on a free port of 127.0.0.1; `options` as for
 * newTestApp (env, delivery).
 */
export async function serve(
  kind: StoreKind,
  clock: Clock,
  options: Omit<NonNullable<Parameters<typeof newTestApp>[1]>, 'clock'> = {},
): Promise<Served> {
  ensureUiBuilt()
  const t = await newTestApp(kind, { ...options, clock })
  const address = await t.app.listen({ port: 0, host: '127.0.0.1' })
  return {
    t,
    url: address,
    user: async (email, role) => {
      const res = await t.admin('PUT', `/api/users/${email}`, { role })
      expect(res.statusCode, res.body).toBe(201)
      const token = new URL(res.json().setPasswordUrl).searchParams.get('token')
      const set = await t.app.inject({
        method: 'POST',
        url: '/auth/set-password',
        headers: { 'content-type': 'application/json' },
        payload: JSON.stringify({ token, password: PASSWORD }),
      })
      expect(set.statusCode, set.body).toBe(200)
      return email
    },
    close: () => t.close(),
  }
}

export const launch = launchChromium

export const DESKTOP = { width: 1280, height: 800 }
export const PHONE = { width: 390, height: 844 }

/** A new browser context (its own cookies) with a page that fails the test on CSP errors. */
export async function newPage(
  browser: Browser,
  viewport = DESKTOP,
): Promise<{ context: BrowserContext; page: Page; problems: string[] }> {
  const context = await browser.newContext({ viewport })
  const page = await context.newPage()
  const problems: string[] = []
  page.on('console', (m) => {
    // A refused request (401, 403, 404) is logged by the browser; that is not a page problem.
    if (m.type() === 'error' && !/status of 4\d\d/.test(m.text())) problems.push(m.text())
  })
  page.on('pageerror', (e) => problems.push(e.message))
  return { context, page, problems }
}

/** Logs in through the form, as a person would. */
export async function logIn(page: Page, base: string, email: string): Promise<void> {
  await page.goto(`${base}/`)
  await page.waitForURL(/\/login/)
  await page.getByLabel('Email').fill(email)
  await page.getByLabel('Password').fill(PASSWORD)
  await page.getByRole('button', { name: 'Log in' }).click()
  await page.getByTestId('user-email').waitFor()
}

const AXE = readFileSync(
  join(createRequire(import.meta.url).resolve('axe-core'), '..', 'axe.min.js'),
  'utf8',
)

/** axe-core's serious and critical violations on the page as it is now ([] when none). */
export async function axeViolations(page: Page): Promise<string[]> {
  // Injected through the DevTools protocol path (addScriptTag with content would be an inline
  // script, which the page's CSP refuses): evaluate runs outside the page's CSP.
  await page.evaluate(AXE)
  const result = (await page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run: (o: unknown) => Promise<unknown> } }).axe
    return axe.run({ resultTypes: ['violations'] })
  })) as {
    violations: { id: string; impact: string; help: string; nodes: { target: string[] }[] }[]
  }
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map(
      (v) =>
        `${v.impact} ${v.id}: ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`,
    )
}

/** Writes docs/screenshots/<name>.png when SEGFLOW_SCREENSHOTS=1 (normal runs write nothing). */
export async function screenshot(page: Page, name: string, fullPage = true): Promise<void> {
  if (process.env.SEGFLOW_SCREENSHOTS !== '1') return
  await page.screenshot({ path: join(REPO, 'docs', 'screenshots', `${name}.png`), fullPage })
}
