/**
 * The dashboard in Debian's Chromium (playwright-core) against a real segflow server on
 * 127.0.0.1: what a person sees on each page, checked against the API, with axe-core on
 * every page. SEGFLOW_SCREENSHOTS=1 also writes docs/screenshots/*.png.
 */
import type { Browser } from 'playwright-core'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { ManualClock } from '../src/shared/clock.js'
import { axeViolations, launch, logIn, newPage, screenshot, serve } from './helpers/browser.js'
import type { Served } from './helpers/browser.js'
import { testStoreKinds } from './helpers/stores.js'

let browser: Browser
beforeAll(async () => {
  browser = await launch()
}, 60_000)
afterAll(async () => {
  await browser?.close()
})

describe.each(testStoreKinds())('the dashboard on %s', (kind) => {
  let s: Served
  let clock: ManualClock
  beforeEach(async () => {
    clock = new ManualClock(Date.now())
    s = await serve(kind, clock)
  }, 60_000)
  afterEach(async () => {
    await s.close()
  })

  it('logs in through the form and shows the overview with the numbers the API answers', async () => {
    const email = await s.user('ann@example.com', 'editor')
    await s.t.admin('PUT', '/api/segments/pro', {
      name: 'Pro plan',
      rule: { trait: 'plan', eq: 'pro' },
    })
    const { context, page, problems } = await newPage(browser)
    try {
      await logIn(page, s.url, email)
      expect(new URL(page.url()).pathname).toBe('/')
      await expect.poll(() => page.getByTestId('user-email').textContent()).toBe(email)
      expect(await page.getByTestId('user-role').textContent()).toBe('editor')
      await page.locator('[data-stat="segments"] .stat-value').waitFor()
      const shown = async (id: string) =>
        page.locator(`[data-stat="${id}"] .stat-value`).textContent()
      const overview = await s.t.admin('GET', '/api/overview')
      if (overview.statusCode === 200) {
        const o = overview.json()
        for (const id of ['profiles', 'reachable', 'segments', 'eventsLastHour'])
          expect(await shown(id)).toBe(o[id].toLocaleString('en-US'))
      } else {
        expect(await shown('segments')).toBe('1')
      }
      expect(await axeViolations(page)).toEqual([])
      await screenshot(page, 'overview')
      expect(problems).toEqual([])
    } finally {
      await context.close()
    }
  })
})
