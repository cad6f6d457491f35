import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseInstant } from '../src/shared/time.js'
import { newTestStore, testStoreKinds } from './helpers/stores.js'
import type { TestStore } from './helpers/stores.js'

const two = (n: number) => String(n).padStart(2, '0')

/** ISO-8601-like strings: mostly near-valid, with every part sometimes out of range. */
const isoLike = fc
  .record({
    y: fc.oneof(fc.integer({ min: 0, max: 9999 }), fc.constantFrom(1970, 2000, 2024, 2100)),
    mo: fc.integer({ min: 0, max: 13 }),
    d: fc.integer({ min: 0, max: 32 }),
    time: fc.option(
      fc.record({
        sep: fc.constantFrom('T', 't', ' '),
        h: fc.integer({ min: 0, max: 25 }),
        mi: fc.integer({ min: 0, max: 60 }),
        s: fc.option(fc.integer({ min: 0, max: 60 })),
        frac: fc.option(fc.stringMatching(/^[0-9]{1,7}$/)),
        zone: fc.option(
          fc.constantFrom('Z', 'z', '+01', '-05', '+0530', '-03:30', '+24:00', '+01:60', '+00'),
        ),
      }),
    ),
  })
  .map(({ y, mo, d, time }) => {
    let s = `${String(y).padStart(4, '0')}-${two(mo)}-${two(d)}`
    if (time) {
      s += `${time.sep}${two(time.h)}:${two(time.mi)}`
      if (time.s !== null) s += `:${two(time.s)}${time.frac !== null ? `.${time.frac}` : ''}`
      if (time.zone !== null) s += time.zone
    }
    return s
  })

describe.each(testStoreKinds())(
  'segflow_instant on %s reads dates as parseInstant does',
  (kind) => {
    let t: TestStore
    beforeAll(async () => {
      t = await newTestStore(kind)
    })
    afterAll(async () => {
      await t.cleanup()
    })

    it('agrees on generated and hand-picked strings', async () => {
      const picked = [
        '2024-02-29',
        '2023-02-29',
        '2026-01-01T24:00:00Z',
        '0001-01-01T00:00:00Z',
        'garbage',
        '',
        ' 2026-01-01',
        '2026-1-1',
      ]
      const check = async (s: string) => {
        const [row] = await t.store.query(
          `SELECT segflow_instant(${kind === 'postgres' ? '?::text' : '?'}) AS v`,
          [s],
        )
        const sql = row!.v === null ? null : Number(row!.v)
        expect({ s, sql }).toEqual({ s, sql: parseInstant(s) })
      }
      for (const s of picked) await check(s)
      await fc.assert(fc.asyncProperty(isoLike, check), { numRuns: 500 })
    })
  },
)
