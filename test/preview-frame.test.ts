/**
 * `POST /ui/frame`: the dashboard's template previews as sandboxed documents of their own,
 * for the dashboard's pages only (Sec-Fetch-Site), with a policy allowing styles and images
 * and nothing else.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { FRAME_CONTENT_SECURITY_POLICY } from '../src/http/preview-frame.js'
import { CONTENT_SECURITY_POLICY } from '../src/http/ui-routes.js'
import { ManualClock } from '../src/shared/clock.js'
import { newTestApp } from './helpers/runtime.js'
import type { TestApp } from './helpers/runtime.js'

describe('the preview frame', () => {
  let t: TestApp
  beforeEach(async () => {
    t = await newTestApp('sqlite', { clock: new ManualClock(Date.now()) })
  })
  afterEach(async () => {
    await t.close()
  })
  const html = '<p style="color: red">Hi <img src="https://example.com/x.png"></p>'
  const post = (headers: Record<string, string>) =>
    t.app.inject({
      method: 'POST',
      url: '/ui/frame',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      payload: new URLSearchParams({ html }).toString(),
    })

  it('answers the HTML a dashboard page posts, sandboxed, styles and images only', async () => {
    const res = await post({ 'sec-fetch-site': 'same-origin', 'sec-fetch-dest': 'iframe' })
    expect(res.statusCode).toBe(200)
    expect(res.body).toBe(html)
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8')
    const csp = String(res.headers['content-security-policy'])
    expect(csp).toBe(FRAME_CONTENT_SECURITY_POLICY)
    expect(csp.split('; ')).toEqual(
      expect.arrayContaining(['sandbox', "default-src 'none'", "style-src 'unsafe-inline'"]),
    )
    expect(csp).not.toMatch(/script-src|allow-/)
    expect(res.headers['cache-control']).toBe('no-store')
    // The dashboard may frame its own documents, and only those.
    expect(CONTENT_SECURITY_POLICY).toContain("frame-src 'self'")
  })

  it('refuses other sites, other destinations and clients that do not say where they are', async () => {
    for (const headers of <Record<string, string>[]>[
      { 'sec-fetch-site': 'cross-site', 'sec-fetch-dest': 'iframe' },
      { 'sec-fetch-site': 'same-site', 'sec-fetch-dest': 'iframe' },
      { 'sec-fetch-site': 'same-origin', 'sec-fetch-dest': 'document' },
      {},
    ]) {
      const res = await post(headers)
      expect(res.statusCode, JSON.stringify(headers)).toBe(403)
      expect(res.body).not.toContain('<p')
      expect(res.json().error.code).toBe('forbidden')
    }
  })
})
