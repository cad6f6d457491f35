import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { newTestApp } from './helpers/runtime.js'
import type { TestApp } from './helpers/runtime.js'
import { testStoreKinds } from './helpers/stores.js'

/** Messages that are nearly right: real field names with values of any JSON type. */
const field = fc.oneof(
  fc.constantFrom(
    'type',
    'userId',
    'anonymousId',
    'event',
    'name',
    'properties',
    'traits',
    'context',
    'timestamp',
    'sentAt',
    'messageId',
    'groupId',
    'previousId',
    'integrations',
  ),
  fc.string(),
)
const value = fc.oneof(
  fc.jsonValue(),
  fc.constantFrom(
    'track',
    'identify',
    'page',
    'alias',
    'group',
    '2026-01-01T00:00:00Z',
    'x\u0000y',
    '\ud800',
    '__proto__',
  ),
  fc.string({ unit: 'binary' }),
)
const message = fc.dictionary(field, value, { maxKeys: 8 })

/** Consent as messages carry it, nearly right: purposes and categories with any values. */
const purpose = fc.constantFrom(
  'email_marketing',
  'analytics',
  'personalization',
  'sale_sharing',
  'purposes',
  'Advertising',
  'newsletter',
)
const consentMessage = fc.record({
  type: fc.constantFrom('track', 'page', 'identify'),
  userId: fc.constantFrom('u1', 'u2'),
  event: fc.constantFrom('Consent Updated', 'Viewed'),
  properties: fc.oneof(
    fc.dictionary(purpose, fc.oneof(value, fc.dictionary(purpose, value)), { maxKeys: 4 }),
    fc.jsonValue(),
  ),
  context: fc.oneof(
    fc.record({
      consent: fc.oneof(
        fc.record({ categoryPreferences: fc.dictionary(purpose, value, { maxKeys: 4 }) }),
        fc.jsonValue(),
      ),
    }),
    fc.jsonValue(),
  ),
})

describe.each(testStoreKinds())('ingestion under arbitrary input on %s', (kind) => {
  let t: TestApp
  beforeAll(async () => {
    t = await newTestApp(kind)
  })
  afterAll(async () => {
    await t.close()
  })

  it('never answers 5xx, and every 4xx names its problem', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.record({
            url: fc.constantFrom('/v1/track', '/v1/identify', '/v1/page', '/v1/alias', '/v1/group'),
            body: fc.oneof(message, consentMessage, fc.jsonValue()),
          }),
          fc.record({
            url: fc.constant('/v1/batch'),
            body: fc.oneof(
              fc.record({
                batch: fc.array(fc.oneof(message, consentMessage, fc.jsonValue()), {
                  maxLength: 5,
                }),
              }),
              fc.jsonValue(),
            ),
          }),
        ),
        async ({ url, body }) => {
          const res = await t.track(url, JSON.stringify(body))
          expect(res.statusCode).toBeLessThan(500)
          if (res.statusCode >= 400) {
            const { error } = res.json()
            expect(typeof error.code).toBe('string')
            expect(error.message.length).toBeGreaterThan(10)
          }
        },
      ),
      { numRuns: 300 },
    )
  })
})
