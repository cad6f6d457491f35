import { afterEach, describe, it } from 'vitest'
import { Scenario } from './helpers/scenario.js'
import { testStoreKinds } from './helpers/stores.js'

describe.each(testStoreKinds())('segment engine scenarios on %s', (kind) => {
  let sc: Scenario
  afterEach(async () => {
    await sc?.close()
  })

  it('exits exactly at t + D when a windowed event expires', async () => {
    sc = await Scenario.open(kind)
    await sc.run([
      { publish: { key: 'high-intent', rule: { event: 'Viewed Pricing', within: '7d' } } },
      { ingest: [{ userId: 'u1', event: 'Viewed Pricing', at: '-1d' }] },
      { expect: { u1: { 'high-intent': true } }, transitions: ['u1 entered high-intent at +0 (event)'] },
      { advance: '6d' },
      { expect: { u1: { 'high-intent': false } }, transitions: ['u1 exited high-intent at +6d (time)'] },
    ])
  })
})
