/**
 * The rule editor and the templates pages in Debian's Chromium against a real segflow server:
 * an error pointing at its line, the live count, the diff, publishing, versions with their
 * diff, explain, the template QA matrix in sandboxed iframes, and a viewer refused. What the
 * page shows is checked against what the API answers; axe-core runs on every page.
 * SEGFLOW_SCREENSHOTS=1 writes docs/screenshots/segment-editor*.png and template-qa*.png.
 */
import type { Browser, Page } from 'playwright-core'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { join } from 'node:path'
import { ManualClock } from '../src/shared/clock.js'
import {
  axeViolations,
  launch,
  logIn,
  newPage,
  PHONE,
  REPO,
  screenshot,
  serve,
} from './helpers/browser.js'
import type { Served } from './helpers/browser.js'
import { SmtpSink } from './helpers/smtp.js'
import { testStoreKinds } from './helpers/stores.js'

const DAY = 86_400_000

let browser: Browser
beforeAll(async () => {
  browser = await launch()
}, 60_000)
afterAll(async () => {
  await browser?.close()
})

/** Replaces the editor's text the way typing would (an input event per change). */
async function typeRule(page: Page, text: string): Promise<void> {
  await page.locator('#rule').fill(text)
}

describe.each(testStoreKinds())('the rule editor and templates on %s', (kind) => {
  let s: Served
  let clock: ManualClock
  let smtp: SmtpSink
  const settle = (key: string) => s.t.rt.segments.settled('default', key)
  beforeEach(async () => {
    clock = new ManualClock(Date.now())
    // Webhooks here point at a closed local port: they are listed, never delivered to.
    smtp = await new SmtpSink().start()
    s = await serve(kind, clock, {
      env: { SEGFLOW_WEBHOOK_ALLOW_PRIVATE: 'true', SEGFLOW_SMTP_URL: smtp.url },
    })
    const at = (ago: number) => new Date(clock.now() - ago).toISOString()
    const res = await s.t.track('/v1/batch', {
      batch: [
        {
          type: 'identify',
          userId: 'ann',
          traits: { plan: 'pro', first_name: 'Ann', email: 'ann@example.com' },
        },
        {
          type: 'identify',
          userId: 'cy',
          traits: { plan: 'pro', first_name: 'Cyrus', email: 'cy@example.com' },
        },
        {
          type: 'identify',
          userId: 'bob',
          traits: { plan: 'free', first_name: 'Bob', email: 'bob@example.com' },
        },
        { type: 'track', userId: 'ann', event: 'Viewed Pricing', timestamp: at(DAY) },
        { type: 'track', userId: 'cy', event: 'Viewed Pricing', timestamp: at(10 * DAY) },
        { type: 'track', userId: 'bob', event: 'Viewed Pricing', timestamp: at(DAY) },
      ],
    })
    expect(res.statusCode, res.body).toBe(200)
  }, 60_000)
  afterEach(async () => {
    await s.close()
    await smtp.stop()
  })

  it('creates a segment with an error pointing at its line, a live count, the diff, publish, versions and explain', async () => {
    const email = await s.user('ed@example.com', 'editor')
    const { context, page, problems } = await newPage(browser)
    try {
      await logIn(page, s.url, email)
      await page.goto(`${s.url}/segments/new`)
      await page.getByRole('heading', { name: 'New segment' }).waitFor()
      await page.getByLabel('Key').fill('buyers')
      await page.getByLabel('Name').fill('Buyers')

      // An error on line 5: the editor says so and marks that line of the gutter.
      await typeRule(
        page,
        'all:\n  - trait: plan\n    eq: pro\n  - event: Viewed Pricing\n    within: 7 days\n',
      )
      const issue = page.getByTestId('rule-issue').first()
      await issue.waitFor()
      expect(await issue.getAttribute('data-line')).toBe('5')
      expect(await issue.textContent()).toMatch(/^Line 5, column 13 all\[1\]\.within .*duration/)
      expect(await page.locator('.code-gutter .bad').allTextContents()).toEqual(['5'])
      expect(await page.getByTestId('rule-state').textContent()).toBe('✗ Not valid')
      expect(await axeViolations(page)).toEqual([])

      // Fixed: the live count is the API's preview count for the same rule.
      const v1 = {
        all: [
          { trait: 'plan', eq: 'pro' },
          { event: 'Viewed Pricing', within: '7d' },
        ],
      }
      await typeRule(
        page,
        'all:\n  - trait: plan\n    eq: pro\n  - event: Viewed Pricing\n    within: 7d\n',
      )
      await expect.poll(() => page.getByTestId('rule-state').textContent()).toBe('✓ Valid rule')
      expect(await page.getByTestId('rule-issue').count()).toBe(0)
      const preview1 = (await s.t.admin('POST', '/api/segments/preview', { rule: v1 })).json()
      expect(preview1.count).toBe(1)
      await expect
        .poll(() => page.getByTestId('live-count').textContent())
        .toBe(String(preview1.count))

      // JSON and back: the server writes each from the valid rule.
      await page.getByRole('button', { name: 'JSON' }).click()
      expect(JSON.parse(await page.locator('#rule').inputValue())).toEqual(v1)
      await page.getByRole('button', { name: 'YAML' }).click()
      expect(await page.locator('#rule').inputValue()).toBe(
        'all:\n  - trait: plan\n    eq: pro\n  - event: Viewed Pricing\n    within: 7d\n',
      )

      // A key in use is refused before anything is published over it.
      await s.t.admin('PUT', '/api/segments/taken', { rule: { trait: 'plan', eq: 'free' } })
      await page.getByLabel('Key').fill('taken')
      await page.getByRole('button', { name: 'Review and create' }).click()
      await page.getByRole('dialog').getByText('exists already').waitFor()
      expect(await page.getByRole('button', { name: 'Create segment' }).isDisabled()).toBe(true)
      await page.getByRole('button', { name: 'Cancel' }).click()
      await page.getByRole('dialog').waitFor({ state: 'hidden' })
      expect((await s.t.admin('GET', '/api/segments/taken')).json().version).toBe(1)
      await page.getByLabel('Key').fill('buyers')

      await page.getByRole('button', { name: 'Review and create' }).click()
      await page.getByTestId('diff-entering').waitFor()
      expect(await page.getByTestId('diff-entering').textContent()).toBe('1')
      await page.getByRole('button', { name: 'Create segment' }).click()
      await page.waitForURL(/\/segments\/buyers$/)
      await settle('buyers')
      const created = (await s.t.admin('GET', '/api/segments/buyers')).json()
      expect(created).toMatchObject({ name: 'Buyers', version: 1, rule: v1 })

      // A new version: 30 days instead of 7. The diff is the API's diff.
      await page.getByRole('tab', { name: 'Rule' }).click()
      await page.locator('#rule').waitFor()
      expect(await page.locator('#rule').inputValue()).toContain('within: 7d')
      const v2 = {
        all: [
          { trait: 'plan', eq: 'pro' },
          { event: 'Viewed Pricing', within: '30d' },
        ],
      }
      await typeRule(
        page,
        'all:\n  - trait: plan\n    eq: pro\n  - event: Viewed Pricing\n    within: 30d\n',
      )
      const preview2 = (await s.t.admin('POST', '/api/segments/preview', { rule: v2 })).json()
      expect(preview2.count).toBe(2)
      await expect.poll(() => page.getByTestId('live-count').textContent()).toBe('2')
      expect(await axeViolations(page)).toEqual([])
      await screenshot(page, 'segment-editor')
      const diff = (await s.t.admin('POST', '/api/segments/buyers/diff', { rule: v2 })).json()
      expect(diff.entering.count).toBe(1)
      await page.getByRole('button', { name: 'Review and publish' }).click()
      await page.getByTestId('diff-entering').waitFor()
      expect(await page.getByTestId('diff-entering').textContent()).toBe(
        String(diff.entering.count),
      )
      expect(await page.getByTestId('diff-exiting').textContent()).toBe(String(diff.exiting.count))
      expect(await page.getByTestId('diff').textContent()).toContain('cy')
      expect(await axeViolations(page)).toEqual([])
      await screenshot(page, 'segment-editor-diff')
      await page.getByRole('button', { name: 'Publish', exact: true }).click()
      await expect
        .poll(() => page.getByTestId('publish-status').textContent(), { timeout: 15_000 })
        .toMatch(/Version 2 is live: 2 members/)
      // The editor starts afresh from version 2 (nothing to publish), the status stays.
      await expect
        .poll(() => page.getByRole('button', { name: 'Review and publish' }).isDisabled())
        .toBe(true)
      expect(await page.locator('#rule').inputValue()).toContain('within: 30d')
      expect(await page.getByTestId('publish-status').textContent()).toMatch(/Version 2 is live/)
      const published = (await s.t.admin('GET', '/api/segments/buyers')).json()
      expect(published).toMatchObject({ version: 2, liveVersion: 2, rule: v2, size: 2 })

      // The versions, newest first, with the line that changed.
      await page.getByRole('tab', { name: 'Versions' }).click()
      await page.getByTestId('version').first().waitFor()
      expect(
        await page.getByTestId('version').evaluateAll((els) => els.map((e) => e.dataset.version)),
      ).toEqual(['2', '1'])
      const latest = page.getByTestId('version').first()
      expect(await latest.locator('.diff .del').allTextContents()).toEqual([
        '−removed:     within: 7d',
      ])
      expect(await latest.locator('.diff .add').allTextContents()).toEqual([
        '+added:     within: 30d',
      ])
      expect(await axeViolations(page)).toEqual([])
      await screenshot(page, 'segment-versions')

      // Explain for Cyrus, found by email: each node's result as the API answers it.
      await page.getByRole('tab', { name: 'Explain' }).click()
      await page.getByLabel('userId, anonymousId or email').fill('cy@example.com')
      await page.getByRole('button', { name: 'Explain', exact: true }).click()
      await page.getByTestId('explanation').waitFor()
      expect(await page.getByTestId('explanation').textContent()).toContain('is a member')
      const api = (await s.t.admin('GET', '/api/profiles/cy/explain/buyers')).json()
      const flat = (n: { path: string; result: boolean; children: unknown[] }): string[] => [
        `${n.path}=${n.result}`,
        ...(n.children as (typeof n)[]).flatMap(flat),
      ]
      expect(flat(api.explanation)).toEqual(['=true', 'all[0]=true', 'all[1]=true'])
      expect(
        await page
          .getByTestId('explain-node')
          .evaluateAll((els) => els.map((e) => `${e.dataset.path}=${e.dataset.result}`)),
      ).toEqual(flat(api.explanation))
      expect(await page.getByTestId('explain-node').nth(1).textContent()).toContain('pro')
      expect(await axeViolations(page)).toEqual([])
      await screenshot(page, 'segment-explain')

      // Used by: a webhook for this segment (not one for another), an automation it triggers.
      for (const [id, segments] of [
        ['crm', ['buyers']],
        ['other', ['nobody']],
      ] as const) {
        if (id === 'other')
          await s.t.admin('PUT', '/api/segments/nobody', { rule: { trait: 'plan', eq: 'x' } })
        const hook = await s.t.admin('PUT', `/api/webhooks/${id}`, {
          url: `http://127.0.0.1:9/${id}`,
          segments,
        })
        expect(hook.statusCode, hook.body).toBe(201)
      }
      const auto = await s.t.admin('PUT', '/api/automations/tag-buyers', {
        name: 'Tag buyers',
        trigger: { segment: 'buyers', on: 'entered', delay: '1d' },
        actions: [{ type: 'add_tag', tag: 'buyer' }],
      })
      expect(auto.statusCode, auto.body).toBe(201)
      await page.getByRole('tab', { name: 'Used by' }).click()
      await page.getByTestId('used-by-webhooks').locator('li').first().waitFor()
      expect(await page.getByTestId('used-by-webhooks').locator('li').allTextContents()).toEqual([
        'crm http://127.0.0.1:9/crm · this segment',
      ])
      expect(await page.getByTestId('used-by-automations').locator('li').allTextContents()).toEqual(
        ['Tag buyers when someone enters, after 1d'],
      )
      expect(await axeViolations(page)).toEqual([])
      expect(problems).toEqual([])
    } finally {
      await context.close()
    }
    if (process.env.SEGFLOW_SCREENSHOTS === '1') {
      const phone = await newPage(browser, PHONE)
      try {
        await logIn(phone.page, s.url, email)
        await phone.page.goto(`${s.url}/segments/buyers?tab=rule`)
        await phone.page.locator('#rule').waitFor()
        await typeRule(
          phone.page,
          'all:\n  - trait: plan\n    eq: pro\n  - event: Viewed\n    within: 30\n',
        )
        await phone.page.getByTestId('rule-issue').first().waitFor()
        await screenshot(phone.page, 'segment-editor-phone')
      } finally {
        await phone.context.close()
      }
    }
  }, 120_000)

  it('renders the template QA matrix: one sandboxed iframe per segment with the person in it', async () => {
    for (const [key, plan] of [
      ['pro', 'pro'],
      ['free', 'free'],
    ] as const) {
      const put = await s.t.admin('PUT', `/api/segments/${key}`, {
        name: `${plan} plan`,
        rule: { trait: 'plan', eq: plan },
      })
      expect(put.statusCode, put.body).toBe(201)
      await settle(key)
    }
    const saved = await s.t.admin('PUT', '/api/templates/welcome', {
      subject: 'Hi {{ traits.first_name }}',
      // Inline styles, as emails are written: the preview must show them.
      html: '<style>p { color: rgb(0, 90, 0) }</style><p style="font-size: 21px">Hello {{ traits.first_name }}, you are on {{ traits.plan }}.</p>',
    })
    expect(saved.statusCode, saved.body).toBe(201)
    const from = await s.t.admin('PUT', '/api/email/settings', { from: 'Shop <news@shop.example>' })
    expect(from.statusCode, from.body).toBe(200)
    const email = await s.user('ed@example.com', 'editor')
    const { context, page, problems } = await newPage(browser)
    try {
      await logIn(page, s.url, email)
      await page.getByRole('link', { name: 'Templates' }).click()
      await page.getByTestId('template-row').first().waitFor()
      expect(await page.getByTestId('template-row').allTextContents()).toEqual([
        expect.stringContaining('welcomeHi {{ traits.first_name }}'),
      ])
      expect(await axeViolations(page)).toEqual([])
      await page.getByRole('link', { name: 'welcome' }).click()
      await page.waitForURL(/\/templates\/welcome$/)

      // One cell per segment, each an iframe sandboxed to nothing, rendered for its member.
      const api = (await s.t.admin('POST', '/api/templates/welcome/preview', {})).json()
      expect(api.previews.map((p: { segment: string }) => p.segment).sort()).toEqual([
        'free',
        'pro',
      ])
      await expect.poll(() => page.locator('[data-testid="qa-cell"] iframe').count()).toBe(2)
      expect(
        await page
          .locator('[data-testid="qa-cell"] iframe')
          .evaluateAll((els) => els.map((e) => e.getAttribute('sandbox'))),
      ).toEqual(['', ''])
      const frameText = async (segment: string) => {
        const handle = await page
          .locator(`[data-testid="qa-cell"][data-segment="${segment}"] iframe`)
          .elementHandle()
        const frame = await handle!.contentFrame()
        return (await frame!.locator('body').textContent())?.trim()
      }
      for (const row of api.previews as {
        segment: string
        profile: { userId: string }
        subject: string
      }[]) {
        const name =
          row.profile.userId === 'bob' ? 'Bob' : row.profile.userId === 'ann' ? 'Ann' : 'Cyrus'
        await expect
          .poll(() => frameText(row.segment))
          .toBe(`Hello ${name}, you are on ${row.segment}.`)
        expect(
          await page
            .locator(
              `[data-testid="qa-cell"][data-segment="${row.segment}"] [data-testid="qa-subject"]`,
            )
            .textContent(),
        ).toBe(row.subject)
      }

      const style = await (await page
        .locator('[data-testid="qa-cell"] iframe')
        .first()
        .elementHandle())!
        .contentFrame()
        .then((f) =>
          f!.evaluate<string>(
            "(() => { const c = getComputedStyle(document.querySelector('p')); return c.color + ' ' + c.fontSize })()",
          ),
        )
      expect(style).toBe('rgb(0, 90, 0) 21px')

      const historyBefore = await page.evaluate<number>('history.length')

      // Live: the unsaved draft is what the matrix shows.
      await page.locator('#html').fill('<p>Welcome back, {{ traits.first_name }}!</p>\n')
      await expect.poll(() => frameText('free')).toBe('Welcome back, Bob!')
      // A syntax error points at its field and line; the warnings come from the server.
      await page.locator('#html').fill('<p>Hi</p>\n{% if traits.plan %}\n<p>{{ nosuch }}</p>\n')
      await page.getByTestId('template-issue').first().waitFor()
      expect(await page.getByTestId('template-issue').first().textContent()).toMatch(
        /^html, line 2, column \d+/,
      )
      expect(
        await page.locator('[data-testid="html-code"] .code-gutter .bad').allTextContents(),
      ).toEqual(['2'])
      await page
        .locator('#html')
        .fill(
          '<h2 style="color: #0b5cad; font-family: sans-serif">Hi {{ traits.first_name }}</h2>\n{% if traits.plan %}\n<p style="font-family: sans-serif">You are on <b>{{ traits.plan }}</b>.{{ nosuch }}</p>\n{% endif %}\n',
        )
      await page.getByTestId('template-warnings').waitFor()
      expect(await page.getByTestId('template-warnings').textContent()).toContain('nosuch')
      expect(await page.getByTestId('template-issue').count()).toBe(0)
      expect(await axeViolations(page)).toEqual([])
      // Each rendering replaced its frame: Back still leaves the page.
      expect(await page.evaluate<number>('history.length')).toBe(historyBefore)
      await screenshot(page, 'template-qa')

      // Send a test: nothing goes before the confirmation.
      await page.getByLabel('To (userId or email of a person)').fill('ann')
      await page.getByRole('button', { name: 'Send a test…' }).click()
      await page.getByRole('dialog').getByText('goes to ann').waitFor()
      await page.getByRole('button', { name: 'Cancel' }).click()
      expect((await s.t.admin('GET', '/api/email/sends')).json().items).toEqual([])
      expect(smtp.received).toEqual([])
      // Confirmed, the saved version goes to Ann's address.
      await page.getByRole('button', { name: 'Send a test…' }).click()
      await page.getByRole('dialog').getByRole('button', { name: 'Send' }).click()
      await page.getByText(/^Sent \(message /).waitFor()
      expect(smtp.received.map((m) => [m.envelopeTo, m.mail.subject])).toEqual([
        [['ann@example.com'], 'Hi Ann'],
      ])
      expect(problems).toEqual([])
    } finally {
      await context.close()
    }
    if (process.env.SEGFLOW_SCREENSHOTS === '1') {
      const phone = await newPage(browser, PHONE)
      try {
        await logIn(phone.page, s.url, email)
        await phone.page.goto(`${s.url}/templates/welcome`)
        await phone.page.locator('[data-testid="qa-cell"] iframe').first().waitFor()
        for (const handle of await phone.page
          .locator('[data-testid="qa-cell"] iframe')
          .elementHandles()) {
          const frame = await handle.contentFrame()
          await expect.poll(() => frame!.locator('body').textContent()).toContain('Hello')
        }
        // The matrix as a phone shows it, scrolled to: a full-page capture does not paint
        // sandboxed (out-of-process) frames below the first screen.
        await phone.page.locator('#qa-title').scrollIntoViewIfNeeded()
        await phone.page.evaluate<void>("document.getElementById('qa-title').scrollIntoView()")
        await phone.page.screenshot({
          path: join(REPO, 'docs', 'screenshots', 'template-qa-phone.png'),
        })
      } finally {
        await phone.context.close()
      }
    }
  }, 120_000)

  it('shows a viewer the rule read-only, without Publish, and the API refuses their PUT', async () => {
    await s.t.admin('PUT', '/api/segments/pro', { name: 'Pro', rule: { trait: 'plan', eq: 'pro' } })
    await settle('pro')
    const email = await s.user('vic@example.com', 'viewer')
    const { context, page, problems } = await newPage(browser)
    try {
      await logIn(page, s.url, email)
      await page.goto(`${s.url}/segments/pro?tab=rule`)
      await page.getByTestId('read-only').waitFor()
      expect(await page.locator('#rule').inputValue()).toBe('trait: plan\neq: pro\n')
      expect(await page.locator('#rule').getAttribute('readonly')).not.toBeNull()
      expect(await page.getByRole('button', { name: /publish/i }).count()).toBe(0)
      await page.getByRole('button', { name: 'JSON' }).click()
      expect(JSON.parse(await page.locator('#rule').inputValue())).toEqual({
        trait: 'plan',
        eq: 'pro',
      })
      expect(await axeViolations(page)).toEqual([])
      // The API, with the viewer's own session and csrf token, refuses the change.
      const refused = await page.evaluate(async () => {
        const session = (await (await fetch('/auth/session')).json()) as { csrfToken: string }
        const res = await fetch('/api/segments/pro', {
          method: 'PUT',
          headers: { 'content-type': 'application/json', 'x-csrf-token': session.csrfToken },
          body: JSON.stringify({ name: 'Pro', rule: { trait: 'plan', eq: 'free' } }),
        })
        return {
          status: res.status,
          body: (await res.json()) as { error: { code: string } },
        }
      })
      expect(refused.status).toBe(403)
      expect(refused.body.error.code).toBe('forbidden')
      expect((await s.t.admin('GET', '/api/segments/pro')).json()).toMatchObject({
        version: 1,
        rule: { trait: 'plan', eq: 'pro' },
      })
      expect(problems).toEqual([])
    } finally {
      await context.close()
    }
  }, 60_000)
})
