/**
 * How segflow serves the dashboard (src/http/ui-routes.ts): index.html for the app's pages
 * with a strict CSP, immutable hashed assets, a 503 before the first build, the API never
 * shadowed; and the first load's size. Store-independent: run on SQLite only.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildApp } from '../src/http/app.js'
import { CONTENT_SECURITY_POLICY, DEFAULT_UI_DIR } from '../src/http/ui-routes.js'
import { ensureUiBuilt } from './helpers/browser.js'
import { newTestApp } from './helpers/runtime.js'
import type { TestApp } from './helpers/runtime.js'

describe('the dashboard as served', () => {
  let t: TestApp
  beforeAll(async () => {
    ensureUiBuilt()
    t = await newTestApp('sqlite')
  }, 60_000)
  afterAll(async () => {
    await t.close()
  })
  const get = (url: string, headers: Record<string, string> = {}) =>
    t.app.inject({ method: 'GET', url, headers })

  it('answers index.html for / and every page of the app, with a strict CSP and no-cache', async () => {
    for (const url of [
      '/',
      '/segments',
      '/segments/pro',
      '/people',
      '/people/prf_1',
      '/login?next=%2Fsegments',
      '/set-password?token=abc',
      '/logout',
    ]) {
      const res = await get(url)
      expect(res.statusCode, url).toBe(200)
      expect(res.headers['content-type']).toBe('text/html; charset=utf-8')
      expect(res.headers['cache-control']).toBe('no-cache')
      expect(res.headers['content-security-policy']).toBe(CONTENT_SECURITY_POLICY)
      expect(res.body).toContain('<div id="app"></div>')
    }
    expect(CONTENT_SECURITY_POLICY).toMatch(
      /^default-src 'self'; script-src 'self'; style-src 'self'/,
    )
    const html = (await get('/')).body
    // Every script is a file of ours: no inline script, nothing from another origin.
    const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)]
    expect(scripts.length).toBeGreaterThan(0)
    for (const [, attrs, body] of scripts) {
      expect(body!.trim()).toBe('')
      expect(attrs).toMatch(/src="\/ui\/assets\/[\w-]+\.js"/)
    }
    expect(html).not.toMatch(/<style|style="|https?:\/\//)
  })

  it('serves hashed assets immutable (gzipped when asked), and nothing else from there', async () => {
    const html = (await get('/')).body
    const js = /src="(\/ui\/assets\/[^"]+\.js)"/.exec(html)![1]!
    const plain = await get(js)
    expect(plain.statusCode).toBe(200)
    expect(plain.headers['content-type']).toBe('text/javascript; charset=utf-8')
    expect(plain.headers['cache-control']).toBe('public, max-age=31536000, immutable')
    expect(plain.headers['content-encoding']).toBeUndefined()
    const zipped = await get(js, { 'accept-encoding': 'gzip, br' })
    expect(zipped.headers['content-encoding']).toBe('gzip')
    expect(zipped.rawPayload.length).toBeLessThan(plain.rawPayload.length / 2)
    for (const url of [
      '/ui/assets/nope-123.js',
      '/ui/assets/..%2F..%2Fpackage.json',
      '/ui/assets/index.html',
      '/ui/index.html',
    ]) {
      const res = await get(url)
      expect(res.statusCode, url).toBe(404)
      expect(res.json().error.code).toBe('not_found')
    }
  })

  it('shadows nothing: the API, tracking, auth and health answer as before', async () => {
    const api = await get('/api/segments')
    expect(api.statusCode).toBe(401)
    expect(api.json().error.code).toBe('missing_key')
    expect((await get('/auth/session')).statusCode).toBe(401)
    expect((await get('/healthz')).json()).toMatchObject({ status: 'ok' })
    expect((await get('/openapi.json')).json().openapi).toBe('3.1.0')
    const v1 = await get('/v1/track')
    expect(v1.statusCode).toBe(404)
    expect(v1.json().error.code).toBe('not_found')
    expect((await get('/nowhere')).statusCode).toBe(404)
  })

  it('answers 503 saying how to build before the dashboard was built', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'segflow-ui-'))
    const app = await buildApp({ ...t.rt, uiDir: empty })
    try {
      const res = await app.inject({ method: 'GET', url: '/segments' })
      expect(res.statusCode).toBe(503)
      expect(res.headers['content-type']).toBe('text/html; charset=utf-8')
      expect(res.body).toContain('Run <code>npm run build</code>')
      expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200)
    } finally {
      await app.close()
      rmSync(empty, { recursive: true, force: true })
    }
  })

  it('loads in under 200 KB gzipped', () => {
    const html = readFileSync(join(DEFAULT_UI_DIR, 'index.html'))
    const referenced = [...html.toString().matchAll(/(?:src|href)="\/ui\/assets\/([^"]+)"/g)].map(
      (m) => m[1]!,
    )
    // The entry may import chunks of its own; everything in assets/ is counted to be safe.
    const files = readdirSync(join(DEFAULT_UI_DIR, 'assets'))
    expect(files).toEqual(expect.arrayContaining(referenced))
    const sizes = files.map((f) => {
      const raw = readFileSync(join(DEFAULT_UI_DIR, 'assets', f))
      return { f, raw: raw.length, gzip: gzipSync(raw, { level: 9 }).length }
    })
    const total = gzipSync(html, { level: 9 }).length + sizes.reduce((n, s) => n + s.gzip, 0)
    const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`
    console.log(
      `dashboard first load: ${kb(total)} gzipped (${sizes.map((s) => `${s.f} ${kb(s.raw)} → ${kb(s.gzip)}`).join(', ')})`,
    )
    expect(total).toBeLessThan(200 * 1024)
  })
})
