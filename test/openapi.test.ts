import { Ajv } from 'ajv'
import type { ValidateFunction } from 'ajv'
import addFormats from 'ajv-formats'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildApp } from '../src/http/app.js'
import { isUiRoute } from '../src/http/ui-routes.js'
import { lintOpenApi } from '../scripts/lint-openapi.js'
import { newTestApp } from './helpers/runtime.js'
import type { TestApp } from './helpers/runtime.js'

interface Operation {
  operationId?: string
  summary?: string
  tags?: string[]
  security?: Record<string, string[]>[]
  parameters?: { name: string; in: string }[]
  responses: Record<string, { content?: Record<string, { schema: unknown }> }>
}
interface Document {
  openapi: string
  info: { version: string }
  servers: { url: string }[]
  paths: Record<string, Record<string, Operation>>
  components: { schemas: Record<string, unknown>; securitySchemes: Record<string, unknown> }
}

/** Routes anyone may call: health, this document, logging in, email links, analytics.js settings. */
const PUBLIC = [
  /^GET \/(healthz|readyz|livez|metrics|openapi\.json)$/,
  /^POST \/auth\/(login|set-password)$/,
  /^(GET|POST) \/e\//,
  /^GET \/v1\/projects\//,
]

describe('the generated OpenAPI document', () => {
  let t: TestApp
  let doc: Document
  let text: string
  const routes = new Set<string>()

  beforeAll(async () => {
    t = await newTestApp('sqlite')
    // The same app, built again with a hook that sees every route as fastify registers it.
    const app = await buildApp({
      ...t.rt,
      onRoute: (method, url) => {
        // The dashboard's pages and files (ui-routes.ts) are not part of the API.
        if (method !== 'HEAD' && method !== 'OPTIONS' && !isUiRoute(url))
          routes.add(`${method} ${url.replace(/:(\w+)/g, '{$1}')}`)
      },
    })
    await app.close()
    const res = await t.app.inject({ method: 'GET', url: '/openapi.json' })
    expect(res.statusCode).toBe(200)
    text = res.body
    doc = res.json()
  })
  afterAll(async () => {
    await t.close()
  })

  const operations = () =>
    Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.entries(ops).map(([method, op]) => ({ id: `${method.toUpperCase()} ${path}`, op })),
    )

  it('holds every route fastify registered, and nothing else', () => {
    expect(routes.size).toBeGreaterThan(80)
    expect(
      operations()
        .map((o) => o.id)
        .sort(),
    ).toEqual([...routes].sort())
    expect(doc.openapi).toBe('3.1.0')
    expect(doc.info.version).toBe('0.1.0')
    expect(doc.servers[0]?.url).toMatch(/^http:\/\//)
  })

  it('declares security on every operation: none on public ones, a key or a session on the rest', () => {
    for (const { id, op } of operations()) {
      expect(op.security, id).toBeDefined()
      const isPublic = PUBLIC.some((p) => p.test(id))
      expect(op.security!.length === 0, id).toBe(isPublic)
      if (id.includes(' /api/')) {
        const changes = !id.startsWith('GET ')
        expect(op.security, id).toEqual([
          { adminKey: [] },
          changes ? { session: [], csrf: [] } : { session: [] },
        ])
        for (const code of ['400', '401', '403', '404'])
          expect(
            op.responses[code]?.content?.['application/json']?.schema,
            `${id} ${code}`,
          ).toEqual({ $ref: '#/components/schemas/Error' })
      }
      if (/^POST \/v1\//.test(id)) expect(op.security, id).toEqual([{ writeKey: [] }, {}])
    }
    expect(Object.keys(doc.components.securitySchemes).sort()).toEqual([
      'adminKey',
      'csrf',
      'session',
      'writeKey',
    ])
  })

  it('gives every operation a unique id, a summary, a tag and a success answer', () => {
    const ids = operations().map(({ op }) => op.operationId)
    expect(new Set(ids).size).toBe(ids.length)
    for (const { id, op } of operations()) {
      expect(op.summary, id).toBeTruthy()
      expect(op.tags?.length, id).toBe(1)
      expect(
        Object.keys(op.responses).some((c) => /^[23]/.test(c)),
        id,
      ).toBe(true)
      for (const p of id.match(/\{\w+\}/g) ?? [])
        expect(
          op.parameters?.some((x) => x.in === 'path' && `{${x.name}}` === p),
          `${id} ${p}`,
        ).toBe(true)
    }
  })

  it('lints clean with the recommended rules and security-defined', async () => {
    const { errors } = await lintOpenApi(text)
    expect(errors.map((e) => `${e.ruleId}: ${e.message} ${e.location[0]?.pointer ?? ''}`)).toEqual(
      [],
    )
  })

  describe('answers match the schemas it declares', () => {
    const validators = new Map<string, ValidateFunction>()
    /** The validator of an operation's answer, its refs resolved against the document. */
    function schemaOf(method: string, path: string, status: number): ValidateFunction {
      const key = `${method} ${path} ${status}`
      let v = validators.get(key)
      if (!v) {
        const schema = doc.paths[path]?.[method.toLowerCase()]?.responses[String(status)]
          ?.content?.['application/json']?.schema as Record<string, unknown> | undefined
        expect(schema, key).toBeDefined()
        const ajv = new Ajv({ strict: false, allErrors: true })
        addFormats.default(ajv)
        v = ajv.compile({ ...schema, components: doc.components })
        validators.set(key, v)
      }
      return v
    }
    async function check(
      method: 'GET' | 'PUT' | 'POST',
      url: string,
      path: string,
      body?: unknown,
    ) {
      const res = await t.admin(method, url, body)
      const v = schemaOf(method, path, res.statusCode)
      const data: unknown = res.json()
      expect(v(data), `${method} ${url} ${res.statusCode}: ${JSON.stringify(v.errors)}`).toBe(true)
      return data as Record<string, unknown>
    }

    beforeAll(async () => {
      await t.track('/v1/identify', {
        userId: 'ann',
        traits: { plan: 'pro', email: 'ann@x.io' },
      })
      await t.track('/v1/track', { userId: 'ann', event: 'Viewed Pricing' })
    })

    it('for segments, their members and explanations', async () => {
      const put = await check('PUT', '/api/segments/pro', '/api/segments/{key}', {
        name: 'Pro',
        rule: { trait: 'plan', eq: 'pro' },
      })
      expect(put.key).toBe('pro')
      await t.rt.segments.settled('default', 'pro')
      // The schemas do check: a segment without its fields is not one.
      expect(schemaOf('GET', '/api/segments/{key}', 200)({ key: 'pro', size: '1' })).toBe(false)
      const seg = await check('GET', '/api/segments/pro', '/api/segments/{key}')
      expect(seg).toMatchObject({ key: 'pro', size: 1, status: 'live', rule: { trait: 'plan' } })
      await check('GET', '/api/segments', '/api/segments')
      const members = await check('GET', '/api/segments/pro/members', '/api/segments/{key}/members')
      expect(members.items).toHaveLength(1)
      await check('GET', '/api/segments/pro/sizes', '/api/segments/{key}/sizes')
      await check('GET', '/api/segments/pro/history', '/api/segments/{key}/history')
      await check('GET', '/api/profiles/ann/explain/pro', '/api/profiles/{id}/explain/{key}')
      await check('POST', '/api/segments/preview', '/api/segments/preview', {
        rule: { trait: 'plan', eq: 'pro' },
      })
    })

    it('for profiles and their events', async () => {
      const p = await check('GET', '/api/profiles/ann', '/api/profiles/{id}')
      expect(p).toMatchObject({ userId: 'ann', traits: { plan: 'pro' } })
      await check('GET', '/api/profiles/ann/events', '/api/profiles/{id}/events')
      await check('POST', '/api/profiles/bob', '/api/profiles/{id}', { traits: { plan: 'free' } })
    })

    it('for webhooks, templates, automations, scores, users, privacy and settings', async () => {
      await check('PUT', '/api/webhooks/crm', '/api/webhooks/{id}', { url: 'http://127.0.0.1:9/x' })
      await check('GET', '/api/webhooks', '/api/webhooks')
      await check('GET', '/api/webhooks/crm/deliveries', '/api/webhooks/{id}/deliveries')
      await check('PUT', '/api/templates/welcome', '/api/templates/{key}', {
        subject: 'Hi {{ traits.name }}',
        html: '<p>Hello</p>',
      })
      await check('GET', '/api/templates', '/api/templates')
      await check('PUT', '/api/automations/welcome', '/api/automations/{key}', {
        trigger: { segment: 'pro', on: 'entered' },
        actions: [{ type: 'send_email', template: 'welcome' }],
      })
      await check('GET', '/api/automations', '/api/automations')
      await check('GET', '/api/automations/welcome/runs', '/api/automations/{key}/runs')
      await check('PUT', '/api/scores/engagement', '/api/scores/{key}', { preset: 'engagement' })
      await check('GET', '/api/scores/presets', '/api/scores/presets')
      await check('GET', '/api/profiles/ann/scores/engagement', '/api/profiles/{id}/scores/{key}')
      await check('PUT', '/api/users/eve@x.io', '/api/users/{email}', { role: 'viewer' })
      await check('GET', '/api/users', '/api/users')
      await check('GET', '/api/email/settings', '/api/email/settings')
      await check('GET', '/api/email/status/ann', '/api/email/status/{id}')
      await check('GET', '/api/email/sends', '/api/email/sends')
      await check('GET', '/api/lifecycle', '/api/lifecycle')
      await check('GET', '/api/schema', '/api/schema')
      await check('GET', '/api/audit', '/api/audit')
      await check('POST', '/api/privacy/requests', '/api/privacy/requests', {
        type: 'export',
        profile: 'ann',
      })
      await check('GET', '/api/privacy/requests', '/api/privacy/requests')
    })

    it('for errors, which keep their shape', async () => {
      const bad = await check(
        'GET',
        '/api/segments/pro/members?reachabel=true',
        '/api/segments/{key}/members',
      )
      expect(bad.error).toMatchObject({
        code: 'invalid_request',
        parameter: 'reachabel',
        suggestion: 'reachable',
      })
      // A route that takes no query parameters refuses them the same way.
      const none = await check('GET', '/api/segments/pro?x=1', '/api/segments/{key}')
      expect((none.error as { message: string }).message).toBe(
        'unknown query parameter "x" (this route takes none)',
      )
      const missing = await check('GET', '/api/segments/nope', '/api/segments/{key}')
      expect((missing.error as { code: string }).code).toBe('segment_not_found')
      // A body the service parses keeps its {field, reason} issues.
      const role = await check('PUT', '/api/users/eve@x.io', '/api/users/{email}', [1])
      expect(role.error).toMatchObject({
        code: 'invalid_request',
        issues: [{ field: '', reason: 'must be an object with a role' }],
      })
      // A rule keeps its own parser: the path inside the rule, not an ajv message.
      const rule = await check('PUT', '/api/segments/bad', '/api/segments/{key}', {
        rule: { all: [{ trait: 'plan', eqq: 'pro' }] },
      })
      expect(rule.error).toMatchObject({
        code: 'invalid_rule',
        issues: [{ path: 'all[0].eqq', message: expect.stringMatching(/did you mean eq\?/) }, {}],
      })
    })
  })
})
