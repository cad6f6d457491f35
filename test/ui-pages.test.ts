/**
 * The dashboard's operations pages in Debian's Chromium against a real segflow server on
 * 127.0.0.1: automations and their runs, webhooks with deliveries to a real receiver and
 * replay, the lifecycle distribution, privacy requests and the audit log, settings, users, and
 * what a viewer may not do. Each page is checked against what the API holds, with axe-core;
 * SEGFLOW_SCREENSHOTS=1 also writes docs/screenshots/<page>.png.
 */
import type { Browser, Page } from 'playwright-core'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { ManualClock } from '../src/shared/clock.js'
import {
  axeViolations,
  launch,
  logIn,
  newPage,
  PHONE,
  screenshot,
  serve,
} from './helpers/browser.js'
import type { Served } from './helpers/browser.js'
import { basic } from './helpers/runtime.js'
import { Receiver } from './helpers/receiver.js'
import { testStoreKinds } from './helpers/stores.js'

const NOW = Date.parse('2026-06-01T12:00:00Z')
const HOUR = 3_600_000
const DAY = 24 * HOUR
/** A browser test does a lot; PostgreSQL and a busy machine make it slower. */
const SLOW = 120_000

let browser: Browser
beforeAll(async () => {
  browser = await launch()
}, 60_000)
afterAll(async () => {
  await browser?.close()
})

/** The text of every cell of a table's body, row by row. */
async function rows(page: Page, testId: string): Promise<string[][]> {
  return page
    .getByTestId(testId)
    .locator('tbody tr')
    .evaluateAll((trs) =>
      trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent?.trim() ?? '')),
    )
}

/** Elements reaching past `width` that are not inside a scrolling table (tag.class right). */
async function sticksOut(page: Page, width: number): Promise<string[]> {
  return page.evaluate<string[]>(
    `[...document.querySelectorAll('body *')]
      .filter((e) => !e.parentElement?.closest('.table-wrap') && e.getBoundingClientRect().right > ${width + 1})
      .slice(0, 6)
      .map((e) => e.tagName.toLowerCase() + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))`,
  )
}

/** A link of the main navigation. */
const nav = (page: Page, name: string) =>
  page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name, exact: true })

/** Fails on axe-core's serious and critical violations; writes the screenshot when asked. */
async function check(page: Page, name: string): Promise<void> {
  expect(await axeViolations(page), name).toEqual([])
  await screenshot(page, name)
}

describe.each(testStoreKinds())('the operations pages on %s', (kind) => {
  let s: Served
  let clock: ManualClock
  let rx: Receiver
  beforeEach(async () => {
    clock = new ManualClock(NOW)
    s = await serve(kind, clock, {
      env: { SEGFLOW_WEBHOOK_ALLOW_PRIVATE: 'true' },
      delivery: { random: () => 0.5, timeoutMs: 2000 },
    })
    rx = await new Receiver().start()
  }, 60_000)
  afterEach(async () => {
    await rx.stop()
    await s.close()
  })

  const api = async (method: 'GET' | 'PUT' | 'POST' | 'DELETE', url: string, body?: unknown) => {
    const res = await s.t.admin(method, url, body)
    expect(res.statusCode, `${method} ${url}: ${res.body}`).toBeLessThan(300)
    return res.statusCode === 204 ? null : res.json()
  }
  const segment = async (key: string, rule: unknown) => {
    await api('PUT', `/api/segments/${key}`, { name: key, rule })
    await s.t.rt.segments.settled('default', key)
  }
  const identify = async (userId: string, traits: Record<string, unknown>, at = NOW) => {
    const res = await s.t.track('/v1/identify', {
      userId,
      traits,
      timestamp: new Date(at).toISOString(),
    })
    expect(res.statusCode, res.body).toBe(200)
  }

  it(
    'webhooks: failed deliveries to a real receiver with every attempt; replay after the fix delivers them',
    async () => {
      await segment('pro', { trait: 'plan', eq: 'pro' })
      await api('PUT', '/api/webhooks/crm', { url: rx.url, segments: ['pro'] })
      // The receiver is broken: 500 to everything, until the queue of answers runs out.
      for (let i = 0; i < 16; i++) rx.answer({ status: 500 })
      await identify('ann', { plan: 'pro', email: 'ann@x.io' })
      await identify('bob', { plan: 'pro', email: 'bob@x.io' })
      // The whole retry schedule (8 attempts over about 28 hours), before anyone logs in: the
      // session is judged on the same clock.
      for (let i = 0; i < 8; i++) {
        await s.t.rt.delivery.runDue()
        clock.advance(11 * HOUR)
      }
      expect(rx.received).toHaveLength(16)
      const before = (await api('GET', '/api/webhooks/crm/deliveries')).items as Array<{
        id: string
        status: string
        attempts: number
      }>
      expect(before.map((d) => [d.status, d.attempts])).toEqual([
        ['exhausted', 8],
        ['exhausted', 8],
      ])

      const email = await s.user('ed@example.com', 'editor')
      const { context, page, problems } = await newPage(browser)
      try {
        await logIn(page, s.url, email)
        await nav(page, 'Webhooks').click()
        await page.getByTestId('webhooks').waitFor()
        expect(await rows(page, 'webhooks')).toEqual([['crm', rx.url, 'pro · all types', 'active']])
        await check(page, 'webhooks')

        await page.getByRole('link', { name: 'crm' }).click()
        await page.getByTestId('deliveries').waitFor()
        const items = page.getByTestId('deliveries').locator(':scope > li')
        expect(await items.count()).toBe(2)
        expect(
          await items.evaluateAll((lis) => lis.map((li) => li.getAttribute('data-id'))),
        ).toEqual(before.map((d) => d.id))
        // Each shows its status, the person, and its 8 attempts, every one a 500.
        for (const li of await items.all()) {
          expect(await li.getAttribute('data-status')).toBe('exhausted')
          expect(await li.locator('.delivery-head').textContent()).toMatch(/8 attempts/)
        }
        expect(
          (await items.locator('.delivery-head').allTextContents())
            .map((t) => /segment\.entered(\w+) · pro/.exec(t)?.[1])
            .sort(),
        ).toEqual(['ann', 'bob'])
        await items.first().locator('summary').click()
        const attempts = items.first().locator('table.attempts tbody tr')
        expect(await attempts.count()).toBe(8)
        expect(await attempts.first().textContent()).toMatch(/HTTP 500/)
        // The filter asks the API: no pending ones, both exhausted.
        await page.getByLabel('Status').selectOption('succeeded')
        await page.getByText('No succeeded deliveries.').waitFor()
        await page.getByLabel('Status').selectOption('exhausted')
        await expect.poll(() => items.count()).toBe(2)
        await check(page, 'webhook')

        // Fixed: the receiver answers 200 from now on. Replay asks first.
        expect(rx.received).toHaveLength(16)
        await page.getByRole('button', { name: 'Replay all failed' }).click()
        const dialog = page.getByRole('dialog')
        await dialog.getByText('Replay every failed delivery?').waitFor()
        await dialog.getByRole('button', { name: 'Cancel' }).click()
        await dialog.waitFor({ state: 'hidden' })
        await page.getByRole('button', { name: 'Replay all failed' }).click()
        await dialog.getByRole('button', { name: 'Replay' }).click()
        await page.getByTestId('replay-notice').getByText('2 deliveries sent again.').waitFor()
        expect(await s.t.rt.delivery.runDue()).toBe(2)
        expect(rx.received).toHaveLength(18)
        await page.getByLabel('Status').selectOption('succeeded')
        await expect.poll(() => items.count()).toBe(2)
        for (const li of await items.all()) {
          expect(await li.getAttribute('data-status')).toBe('succeeded')
          expect(await li.locator('.delivery-head').textContent()).toMatch(/9 attempts/)
          await li.locator('summary').click()
          const answers = await li.locator('table.attempts tbody tr').allTextContents()
          expect(answers).toHaveLength(9)
          expect(answers.filter((a) => /HTTP 500/.test(a))).toHaveLength(8)
          expect(answers.filter((a) => /HTTP 200/.test(a))).toHaveLength(1)
        }
        // The same ids went out again (receivers deduplicate on them).
        expect(
          rx.received
            .slice(16)
            .map((r) => r.id)
            .sort(),
        ).toEqual(before.map((d) => d.id).sort())

        // Rotate the secret: asked first, shown once.
        await page.getByRole('button', { name: 'Rotate secret' }).click()
        await dialog.getByRole('button', { name: 'Rotate secret' }).click()
        const secret = await page.getByTestId('secret').inputValue()
        expect(secret).toMatch(/^whsec_/)
        const hook = await api('GET', '/api/webhooks/crm')
        expect(hook.secret).toBeUndefined()
        expect(hook.previousSecretsUntil).toHaveLength(1)

        // Edit: only entries now.
        await page.getByRole('button', { name: 'Edit' }).click()
        await page.getByLabel('segment.exited').uncheck()
        await page.getByRole('button', { name: 'Save' }).click()
        await page.getByRole('button', { name: 'Edit' }).waitFor()
        expect((await api('GET', '/api/webhooks/crm')).types).toEqual(['segment.entered'])

        // A new endpoint from the list; the server's refusal is shown where it happened.
        await nav(page, 'Webhooks').click()
        await page.getByRole('button', { name: 'New endpoint' }).click()
        await page.getByLabel('Id').fill('warehouse')
        await page.getByLabel('URL').fill(`${rx.url}/2`)
        await page.getByLabel('Segments').fill('pro, nope')
        await page.getByRole('button', { name: 'Create endpoint' }).click()
        await page.getByRole('alert').getByText(/nope/).waitFor()
        await page.getByLabel('Segments').fill('pro')
        await page.getByRole('button', { name: 'Create endpoint' }).click()
        expect(await page.getByTestId('secret').inputValue()).toMatch(/^whsec_/)
        await expect
          .poll(async () => (await rows(page, 'webhooks')).map((r) => r[0]))
          .toEqual(['crm', 'warehouse'])
        expect(problems).toEqual([])
      } finally {
        await context.close()
      }
    },
    SLOW,
  )

  it(
    'automations: the list, one with its runs, a server error shown in the editor, delete after a confirmation',
    async () => {
      await segment('pro', { trait: 'plan', eq: 'pro' })
      await api('PUT', '/api/automations/tag-pro', {
        name: 'Tag pros',
        trigger: { segment: 'pro', on: 'entered' },
        actions: [{ type: 'add_tag', tag: 'pro' }],
      })
      for (const u of ['ann', 'bob', 'cy']) await identify(u, { plan: 'pro' })
      expect(await s.t.rt.automationRunner.runDue()).toBe(3)
      const runs = (await api('GET', '/api/automations/tag-pro/runs')).items as Array<{
        profileId: string
        status: string
        detail: string
      }>
      expect(runs.map((r) => r.status)).toEqual(['done', 'done', 'done'])

      const email = await s.user('ed@example.com', 'editor')
      const { context, page, problems } = await newPage(browser)
      try {
        await logIn(page, s.url, email)
        await nav(page, 'Automations').click()
        await page.getByTestId('automations').waitFor()
        expect(await rows(page, 'automations')).toEqual([
          ['Tag prostag-pro', 'pro on entered', 'add tag pro', 'enabled'],
        ])
        await check(page, 'automations')

        await page.getByRole('link', { name: 'Tag pros' }).click()
        await page.getByTestId('runs').waitFor()
        const shown = await rows(page, 'runs')
        expect(shown.map((r) => [r[0], r[1], r[2], r[6]])).toEqual(
          runs.map((r) => [r.profileId, 'entered pro', 'done', r.detail]),
        )
        expect(shown[0]![6]).toBe('add_tag pro')
        await check(page, 'automation')

        // Editing: the server's validation error, with its path, under the editor.
        await page.getByRole('button', { name: 'Edit' }).click()
        const editor = page.getByLabel('Definition (JSON)')
        const def = JSON.parse(await editor.inputValue())
        expect(def).toMatchObject({ name: 'Tag pros', trigger: { segment: 'pro' } })
        await editor.fill(JSON.stringify({ ...def, trigger: { ...def.trigger, segment: 'nope' } }))
        await page.getByRole('button', { name: 'Save' }).click()
        await page
          .getByRole('alert')
          .getByText('trigger.segment: segment "nope" does not exist')
          .waitFor()
        await editor.fill('{"name": ')
        await page.getByText(/^Not valid JSON/).waitFor()
        expect(await page.getByRole('button', { name: 'Save' }).isDisabled()).toBe(true)
        await editor.fill(JSON.stringify({ ...def, name: 'Tag every pro' }))
        await page.getByRole('button', { name: 'Save' }).click()
        await page.getByRole('heading', { name: /Tag every pro/ }).waitFor()
        expect((await api('GET', '/api/automations/tag-pro')).name).toBe('Tag every pro')

        // Delete asks first; Cancel keeps it.
        await page.getByRole('button', { name: 'Delete' }).click()
        const dialog = page.getByRole('dialog')
        await dialog.getByRole('button', { name: 'Cancel' }).click()
        expect((await s.t.admin('GET', '/api/automations/tag-pro')).statusCode).toBe(200)
        // From the keyboard: Escape cancels too, and the focus goes back to the button.
        await page.getByRole('button', { name: 'Delete' }).focus()
        await page.keyboard.press('Enter')
        await dialog.waitFor()
        await page.keyboard.press('Escape')
        await dialog.waitFor({ state: 'hidden' })
        await expect
          .poll(() => page.evaluate<string>('document.activeElement.textContent'))
          .toBe('Delete')
        expect((await s.t.admin('GET', '/api/automations/tag-pro')).statusCode).toBe(200)
        await page.getByRole('button', { name: 'Delete' }).click()
        await dialog.getByRole('button', { name: 'Delete automation' }).click()
        await page.waitForURL(/\/automations$/)
        await page.getByText(/No automations yet/).waitFor()
        // Its address now: the API's 404, said on the page.
        await page.goto(`${s.url}/automations/tag-pro`)
        const gone = page.getByRole('alert')
        await gone.getByText('Not found').waitFor()
        expect(await gone.textContent()).toContain('no automation "tag-pro" in this workspace')
        expect((await s.t.admin('GET', '/api/automations/tag-pro')).statusCode).toBe(404)
        expect(problems).toEqual([])
      } finally {
        await context.close()
      }
    },
    SLOW,
  )

  it(
    'scores & lifecycle: models with their criteria; enabling the default stages shows the distribution of the stage segments',
    async () => {
      await api('PUT', '/api/scores/engagement', { preset: 'engagement' })
      // One person for each stage but "lapsing", two who are new.
      await identify('old', { plan: 'free' }, NOW - 40 * DAY)
      await identify('quiet', { plan: 'free' }, NOW - 20 * DAY)
      await identify('busy', { plan: 'free' }, NOW - 20 * DAY)
      const t = await s.t.track('/v1/track', {
        userId: 'busy',
        event: 'Viewed Pricing',
        timestamp: new Date(NOW - DAY).toISOString(),
      })
      expect(t.statusCode).toBe(200)
      await identify('new1', { plan: 'free' })
      await identify('new2', { plan: 'pro' })

      const email = await s.user('ed@example.com', 'editor')
      const { context, page, problems } = await newPage(browser)
      try {
        await logIn(page, s.url, email)
        await nav(page, 'Scores & lifecycle').click()
        await page.getByTestId('models').waitFor()
        expect(await rows(page, 'models')).toEqual([
          ['Engagementengagement', '14d', '6', '—', 'Criteria'],
        ])
        const criteria = await page
          .getByTestId('model-detail')
          .locator('tbody tr')
          .evaluateAll((trs) => trs.map((tr) => tr.textContent))
        expect(criteria).toEqual([
          'Opened an emailper event+220',
          'Clicked an emailper event+530',
          'Visited a pageper event+120',
          'Purchasedper event+1050',
          'Active in the last 7 dayswhile a rule holds+10—',
          'Active in the last 30 dayswhile a rule holds+5—',
        ])
        await page.getByText('Lifecycle stages are off.', { exact: false }).waitFor()

        await page.getByRole('button', { name: 'Enable the default stages' }).click()
        await page.getByTestId('distribution').waitFor()
        for (const stage of ['new', 'active', 'lapsing', 'at_risk', 'churned'])
          await s.t.rt.segments.settled('default', `lifecycle-${stage}`)
        await page.getByRole('button', { name: 'Refresh' }).click()
        const segments = (await api('GET', '/api/segments')).items as Array<{
          key: string
          size: number
        }>
        const expected = ['new', 'active', 'lapsing', 'at_risk', 'churned'].map((stage) => [
          stage,
          String(segments.find((x) => x.key === `lifecycle-${stage}`)!.size),
        ])
        expect(expected).toEqual([
          ['new', '2'],
          ['active', '1'],
          ['lapsing', '0'],
          ['at_risk', '1'],
          ['churned', '1'],
        ])
        const bars = page.getByTestId('distribution').locator('li')
        await expect
          .poll(() =>
            bars.evaluateAll((lis) =>
              lis.map((li) => [
                li.getAttribute('data-stage'),
                li.querySelector('[data-testid="stage-size"]')?.textContent,
              ]),
            ),
          )
          .toEqual(expected)
        // The bars are as long as the sizes: new (2) is the longest, lapsing (0) the shortest.
        const widths: number[] = []
        for (const fill of await bars.locator('.bar-fill').all())
          widths.push((await fill.boundingBox())?.width ?? 0)
        expect(widths[0]).toBeGreaterThan(widths[1]! * 1.8)
        expect(widths[2]).toBeLessThan(3)
        await expect.poll(() => page.getByText('5 people in a stage.').count()).toBe(1)
        await check(page, 'scores')
        expect(problems).toEqual([])
      } finally {
        await context.close()
      }
    },
    SLOW,
  )

  it(
    'privacy: an erasure asks for the typed id, then the request is listed; an export can be downloaded; the audit log names the user',
    async () => {
      await identify('ann', { plan: 'pro', email: 'ann@x.io' })
      await identify('bob', { plan: 'free', email: 'bob@x.io' })
      const email = await s.user('ada@example.com', 'admin')
      const { context, page, problems } = await newPage(browser)
      try {
        await logIn(page, s.url, email)
        await nav(page, 'Privacy').click()
        await page.getByText('No export or erasure requests yet.').waitFor()

        // An export: the answer's data, as a download.
        await page.getByLabel('Person', { exact: true }).fill('bob')
        await page.getByRole('button', { name: 'Export' }).click()
        await page
          .getByTestId('request-done')
          .getByText(/completed/)
          .waitFor()
        const [download] = await Promise.all([
          page.waitForEvent('download'),
          page.getByRole('link', { name: 'Download the export' }).click(),
        ])
        const exported = JSON.parse(
          await new Promise<string>((resolve, reject) => {
            void download.createReadStream().then((stream) => {
              const chunks: Buffer[] = []
              stream.on('data', (c: Buffer) => chunks.push(c))
              stream.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
              stream.on('error', reject)
            }, reject)
          }),
        )
        expect(exported.format).toBe('segflow.export.v1')
        expect(JSON.stringify(exported.tables.identities)).toContain('bob@x.io')

        // An erasure: the button only works once the id is typed.
        await page.getByLabel(/^Erasure/).check()
        await page.getByLabel('Person', { exact: true }).fill('ann')
        await page.getByRole('button', { name: 'Erase…' }).click()
        const dialog = page.getByRole('dialog')
        await dialog.getByText('Erase this person?').waitFor()
        const erase = dialog.getByRole('button', { name: 'Erase for good' })
        expect(await erase.isDisabled()).toBe(true)
        await dialog.getByLabel(/to confirm/).fill('an')
        expect(await erase.isDisabled()).toBe(true)
        expect((await s.t.admin('GET', '/api/profiles/ann')).statusCode).toBe(200)
        await dialog.getByLabel(/to confirm/).fill('ann')
        await erase.click()
        await page
          .getByTestId('request-done')
          .getByText(/Erasure .* completed/)
          .waitFor()
        expect((await s.t.admin('GET', '/api/profiles/ann')).statusCode).toBe(409)

        const requests = (await api('GET', '/api/privacy/requests')).items as Array<{
          id: string
          type: string
        }>
        expect(requests.map((r) => r.type).sort()).toEqual(['erasure', 'export'])
        await expect
          .poll(async () => (await rows(page, 'requests')).map((r) => [r[0], r[1], r[2], r[3]]))
          .toEqual(requests.map((r) => [r.id, r.type, 'GDPR', 'completed']))
        const erasure = (await rows(page, 'requests')).find((r) => r[1] === 'erasure')!
        expect(erasure[6]).toMatch(/^[1-9]\d* rows erased, [1-9]\d* identifiers? suppressed$/)

        // The audit log: newest first, the user's email as the actor.
        await page.getByRole('button', { name: 'Refresh' }).click()
        const audit = (await api('GET', '/api/audit?limit=50')).items as Array<{
          actor: string
          action: string
        }>
        // Keys are named under their ids (an admin may list them).
        const keyName = new Map(
          ((await api('GET', '/api/keys')).items as Array<{ id: string; name: string }>).map(
            (k) => [k.id, k.name],
          ),
        )
        expect([...keyName.values()]).toContain('SEGFLOW_ADMIN_KEY')
        const mine = audit.filter((e) => e.actor === 'user:ada@example.com')
        expect(mine.map((e) => e.action)).toContain('POST /api/privacy/requests')
        await expect
          .poll(async () => (await rows(page, 'audit')).map((r) => [r[1], r[2]]))
          .toEqual(
            audit.map((e) => [
              `${e.actor.replace(/^user:/, '')}${keyName.get(e.actor) ?? ''}`,
              e.action,
            ]),
          )
        expect((await rows(page, 'audit'))[0]![1]).toBe('ada@example.com')
        await check(page, 'privacy')

        // Older entries a page (50) at a time, through `before`.
        for (let i = 0; i < 45; i++)
          await api('PUT', '/api/email/settings', { from: `news${i}@shop.example` })
        const all = (await api('GET', '/api/audit?limit=1000')).items as Array<{ id: string }>
        expect(all.length).toBeGreaterThan(50)
        expect(all.length).toBeLessThanOrEqual(100)
        await page.getByRole('button', { name: 'Refresh' }).click()
        await expect.poll(async () => (await rows(page, 'audit')).length).toBe(50)
        await page.getByRole('button', { name: 'Load more entries' }).click()
        await expect.poll(async () => (await rows(page, 'audit')).length).toBe(all.length)
        expect(await page.getByRole('button', { name: 'Load more entries' }).count()).toBe(0)
        expect((await rows(page, 'audit')).at(-1)![2]).toBe('key.create write')
        expect(problems).toEqual([])
      } finally {
        await context.close()
      }
    },
    SLOW,
  )

  it(
    'settings: email settings save and survive a reload; the schema is edited as JSON; a write key is made and shown once',
    async () => {
      const email = await s.user('ada@example.com', 'admin')
      const { context, page, problems } = await newPage(browser)
      try {
        await logIn(page, s.url, email)
        await nav(page, 'Settings').click()
        const from = page.getByLabel('From address')
        expect(await from.inputValue()).toBe((await api('GET', '/api/email/settings')).from)
        // A wrong address: the server's message, where it happened.
        await from.fill('not an address')
        await page.getByRole('button', { name: 'Save email settings' }).click()
        await page
          .getByRole('alert')
          .getByText(/from must be an email address/)
          .waitFor()
        await from.fill('Shop News <news@shop.example>')
        await page.getByLabel('Marketing consent').selectOption('opt_out')
        await page.getByRole('button', { name: 'Add a cap' }).click()
        await page.getByLabel('At most').fill('2')
        await page.getByLabel('Within').fill('3d')
        await page.getByRole('button', { name: 'Save email settings' }).click()
        await page.getByText('Saved.').waitFor()
        expect(await api('GET', '/api/email/settings')).toMatchObject({
          from: 'Shop News <news@shop.example>',
          consent: { mode: 'opt_out' },
          caps: [{ category: 'marketing', max: 2, within: '3d' }],
        })
        await page.reload()
        await expect
          .poll(() => page.getByLabel('From address').inputValue())
          .toBe('Shop News <news@shop.example>')
        expect(await page.getByLabel('Marketing consent').inputValue()).toBe('opt_out')
        expect(await page.getByLabel('At most').inputValue()).toBe('2')
        expect(await page.getByLabel('Within').inputValue()).toBe('3d')
        await check(page, 'settings')

        // The data schema, as JSON.
        await page.getByRole('tab', { name: 'Data schema' }).click()
        await page.getByTestId('schema').waitFor()
        await page.getByRole('button', { name: 'Edit' }).click()
        await page
          .getByLabel('Schema (JSON)')
          .fill(JSON.stringify({ mode: 'drop', traits: { plan: { type: 'string' } }, events: {} }))
        await page.getByRole('button', { name: 'Save' }).click()
        await page.getByText('mode drop').waitFor()
        expect(await api('GET', '/api/schema')).toMatchObject({
          mode: 'drop',
          traits: { plan: { type: 'string' } },
        })
        await check(page, 'settings-schema')

        // Write keys: listed without the keys; a new one is shown once and ingests.
        await page.getByRole('tab', { name: 'API keys' }).click()
        await page.getByTestId('keys').waitFor()
        const listed = (await api('GET', '/api/keys')).items as Array<{
          id: string
          prefix: string
        }>
        expect((await rows(page, 'keys')).map((r) => r[0])).toEqual(
          listed.map((k) => `${k.prefix}…${k.id}`),
        )
        await page.getByLabel('Name of a new write key').fill('website')
        await page.getByRole('button', { name: 'Create write key' }).click()
        const key = await page.getByTestId('new-key').inputValue()
        expect(key).toMatch(/^sfw_/)
        await expect.poll(async () => (await rows(page, 'keys')).length).toBe(listed.length + 1)
        expect(await page.getByTestId('keys').textContent()).not.toContain(key)
        const tracked = await s.t.app.inject({
          method: 'POST',
          url: '/v1/identify',
          headers: { authorization: basic(key), 'content-type': 'application/json' },
          payload: JSON.stringify({ userId: 'ann', traits: { plan: 'pro' } }),
        })
        expect(tracked.statusCode, tracked.body).toBe(200)
        await check(page, 'settings-keys')
        expect(problems).toEqual([])
      } finally {
        await context.close()
      }
    },
    SLOW,
  )

  it(
    'users: an admin invites (the link is shown), changes a role and removes someone after a confirmation',
    async () => {
      const email = await s.user('ada@example.com', 'admin')
      await s.user('cy@example.com', 'editor')
      const { context, page, problems } = await newPage(browser)
      try {
        await logIn(page, s.url, email)
        await nav(page, 'Users').click()
        await page.getByTestId('users').waitFor()
        expect((await rows(page, 'users')).map((r) => [r[0], r[2]])).toEqual([
          ['ada@example.com (you)', 'active'],
          ['cy@example.com', 'active'],
        ])
        await page.getByLabel('Email', { exact: true }).fill('bob@example.com')
        await page.getByLabel('Role', { exact: true }).selectOption('viewer')
        await page.getByRole('button', { name: 'Invite' }).click()
        const link = new URL(await page.getByTestId('invite-link').inputValue())
        expect(link.pathname).toBe('/set-password')
        expect(link.searchParams.get('token')).toMatch(/^[A-Za-z0-9_-]{20,}$/)
        await expect
          .poll(async () => (await rows(page, 'users')).map((r) => r[0]))
          .toContain('bob@example.com')
        expect(await page.getByLabel('Role of bob@example.com').inputValue()).toBe('viewer')
        expect((await rows(page, 'users')).find((r) => r[0] === 'bob@example.com')![2]).toBe(
          'invited (no password yet)',
        )
        // The link works: bob sets a password with it.
        const set = await s.t.app.inject({
          method: 'POST',
          url: '/auth/set-password',
          headers: { 'content-type': 'application/json' },
          payload: JSON.stringify({
            token: link.searchParams.get('token'),
            password: 'another long password',
          }),
        })
        expect(set.statusCode, set.body).toBe(200)
        await check(page, 'users')

        await page.getByLabel('Role of cy@example.com').selectOption('admin')
        await expect
          .poll(async () => (await api('GET', '/api/users/cy@example.com')).role)
          .toBe('admin')
        const row = page.locator('tr[data-email="cy@example.com"]')
        await row.getByRole('button', { name: 'Remove' }).click()
        await page.getByRole('dialog').getByRole('button', { name: 'Remove user' }).click()
        await expect.poll(() => row.count()).toBe(0)
        expect((await s.t.admin('GET', '/api/users/cy@example.com')).statusCode).toBe(404)
        expect(problems).toEqual([])
      } finally {
        await context.close()
      }
    },
    SLOW,
  )

  it(
    'a viewer sees every page without edit buttons, and the API refuses their PUT with 403',
    async () => {
      await segment('pro', { trait: 'plan', eq: 'pro' })
      await api('PUT', '/api/webhooks/crm', { url: rx.url, segments: ['pro'] })
      await api('PUT', '/api/automations/tag-pro', {
        trigger: { segment: 'pro', on: 'entered' },
        actions: [{ type: 'add_tag', tag: 'pro' }],
      })
      const email = await s.user('vi@example.com', 'viewer')
      const { context, page, problems } = await newPage(browser)
      try {
        await logIn(page, s.url, email)
        expect(await page.getByRole('navigation', { name: 'Main' }).textContent()).not.toContain(
          'Users',
        )
        const editing =
          /^(New automation|New endpoint|Edit|Delete|Rotate secret|Replay.*|Enable the default stages|Save email settings|Add a cap|Create write key|Export|Erase…|Invite|Remove)$/
        const pages: Array<[string, string]> = [
          ['/automations', 'automations'],
          ['/automations/tag-pro', 'runs'],
          ['/webhooks', 'webhooks'],
          ['/webhooks/crm', 'deliveries'],
          ['/scores', 'scores'],
          ['/privacy', 'privacy'],
          ['/settings', 'settings'],
          ['/settings?tab=schema', 'schema'],
          ['/users', 'users'],
        ]
        for (const [path, what] of pages) {
          await page.goto(`${s.url}${path}`)
          await page.locator('h1').first().waitFor()
          await page.waitForLoadState('networkidle')
          const buttons = await page.getByRole('button').allTextContents()
          expect(
            buttons.filter((b) => editing.test(b.trim())),
            `${what}: ${buttons.join(', ')}`,
          ).toEqual([])
          expect(await axeViolations(page), path).toEqual([])
        }
        expect(await page.getByRole('alert').textContent()).toMatch(/Admins only/)
        await page.goto(`${s.url}/settings`)
        expect(await page.getByLabel('From address').isDisabled()).toBe(true)
        // The API refuses anyway: a PUT from this very session gets 403.
        const refused = await page.evaluate(async () => {
          const session = (await (await fetch('/auth/session')).json()) as { csrfToken: string }
          const res = await fetch('/api/email/settings', {
            method: 'PUT',
            headers: { 'content-type': 'application/json', 'x-csrf-token': session.csrfToken },
            body: JSON.stringify({ from: 'x@example.com' }),
          })
          return { status: res.status, body: (await res.json()) as { error: { code: string } } }
        })
        expect(refused.status).toBe(403)
        expect(refused.body.error.code).toBe('forbidden')
        expect(problems).toEqual([])
      } finally {
        await context.close()
      }
    },
    SLOW,
  )

  it(
    'every page fits a phone-sized window (390×844) without scrolling sideways',
    async () => {
      await segment('pro', { trait: 'plan', eq: 'pro' })
      await api('PUT', '/api/webhooks/crm', { url: rx.url, segments: ['pro'] })
      rx.answer({ status: 500 })
      await identify('ann', { plan: 'pro', email: 'ann@x.io' })
      await s.t.rt.delivery.runDue()
      await api('PUT', '/api/lifecycle', { preset: 'default' })
      const email = await s.user('ada@example.com', 'admin')
      const { context, page, problems } = await newPage(browser, PHONE)
      try {
        await logIn(page, s.url, email)
        for (const [path, name] of [
          ['/automations', 'automations-phone'],
          ['/webhooks/crm', 'webhook-phone'],
          ['/scores', 'scores-phone'],
          ['/privacy', 'privacy-phone'],
          ['/settings', 'settings-phone'],
          ['/users', 'users-phone'],
        ] as const) {
          await page.goto(`${s.url}${path}`)
          await page.locator('h1').first().waitFor()
          await page.waitForLoadState('networkidle')
          // Nothing sticks out (tables scroll inside their own box), so the page does not.
          expect(await sticksOut(page, PHONE.width), path).toEqual([])
          expect(
            await page.evaluate<number>('document.documentElement.scrollWidth'),
            path,
          ).toBeLessThanOrEqual(PHONE.width)
          await check(page, name)
        }
        expect(problems).toEqual([])
      } finally {
        await context.close()
      }
    },
    SLOW,
  )
})
