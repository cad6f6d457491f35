/**
 * `GET /api/segments/:key/members`: keyset pages (one query each), the CSV streamed in keyset
 * batches, `reachable=true` (the segment's reachable size, in both consent modes), and query
 * parameters that are refused by name rather than ignored.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ManualClock } from '../src/shared/clock.js'
import type { Store } from '../src/store/store.js'
import { ADMIN_KEY, newTestApp } from './helpers/runtime.js'
import type { TestApp } from './helpers/runtime.js'
import { testStoreKinds } from './helpers/stores.js'

const NOW = Date.parse('2026-06-01T12:00:00Z')

interface Member {
  id: string
  userId: string | null
  email: string | null
  enteredAt: string
}

/** Counts the statements the store's reads run (SqlStore's reader and its read facets). */
function countReads(store: Store): { readonly n: number } {
  const counter = { n: 0 }
  const s = store as unknown as { reader: () => { all: (...a: unknown[]) => Promise<unknown> } }
  const reader = s.reader.bind(store)
  s.reader = () => {
    const conn = reader()
    return new Proxy(conn, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver) as unknown
        if (prop === 'all' && typeof v === 'function')
          return (...a: unknown[]) => {
            counter.n++
            return (v as (...x: unknown[]) => unknown).apply(target, a)
          }
        return typeof v === 'function' ? (v as () => unknown).bind(target) : v
      },
    })
  }
  return counter
}

describe.each(testStoreKinds())('segment members on %s', (kind) => {
  let t: TestApp
  const csv = (url: string) =>
    t.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${ADMIN_KEY}` } })

  /** Every member over JSON pages of `limit`, and the pages' sizes. */
  async function allPages(url: string, limit: number, from: string | null = null) {
    const items: Member[] = []
    const sizes: number[] = []
    let cursor: string | null = from
    for (let guard = 0; guard < 1000; guard++) {
      const sep = url.includes('?') ? '&' : '?'
      const res = await t.admin(
        'GET',
        `${url}${sep}limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
      )
      expect(res.statusCode, res.body).toBe(200)
      const page = res.json() as { items: Member[]; nextCursor: string | null }
      items.push(...page.items)
      sizes.push(page.items.length)
      cursor = page.nextCursor
      if (cursor === null) return { items, sizes }
    }
    throw new Error('pages never ended')
  }

  beforeEach(async () => {
    t = await newTestApp(kind, { clock: new ManualClock(NOW) })
    const consent = (email_marketing: boolean) => ({
      context: { consent: { categoryPreferences: { email_marketing } } },
    })
    const batch = [
      {
        type: 'identify',
        userId: 'ann',
        traits: { plan: 'trial', email: 'ann@x.io' },
        ...consent(true),
      },
      {
        type: 'identify',
        userId: 'bob',
        traits: { plan: 'trial', email: 'bob@x.io' },
        ...consent(false),
      },
      { type: 'identify', userId: 'cat', traits: { plan: 'trial', email: 'cat@x.io' } },
      { type: 'identify', userId: 'dan', traits: { plan: 'trial' }, ...consent(true) }, // no address
      {
        type: 'identify',
        userId: 'eve',
        traits: { plan: 'trial', email: 'eve@x.io' },
        ...consent(true),
      },
      {
        type: 'identify',
        userId: 'fay',
        traits: { plan: 'trial', email: 'fay@x.io' },
        ...consent(true),
      },
      // A userId and an address that need CSV quoting.
      { type: 'identify', userId: 'o"neil, jr', traits: { plan: 'trial', email: 'oj@x.io' } },
      ...Array.from({ length: 14 }, (_, i) => ({
        type: 'identify',
        userId: `u${String(i).padStart(2, '0')}`,
        traits: { plan: 'trial', email: `u${i}@x.io` },
        ...(i % 3 === 0 ? {} : consent(i % 3 === 1)),
      })),
      { type: 'identify', userId: 'zed', traits: { plan: 'free', email: 'zed@x.io' } },
    ]
    expect((await t.track('/v1/batch', { batch })).statusCode).toBe(200)
    expect(
      (await t.admin('PUT', '/api/email/status/eve', { status: 'unsubscribed' })).statusCode,
    ).toBe(200)
    // Bounced comes from the mail server; set it as the sender would.
    const fay = (await t.rt.store.resolveProfileId('default', 'fay'))!
    await t.rt.store.write((tx) =>
      tx.messaging.setEmailStatus('default', fay, 'bounced', 'test: 550 no such user', NOW),
    )
    await t.admin('PUT', '/api/segments/trial', { rule: { trait: 'plan', eq: 'trial' } })
    await t.rt.segments.settled('default', 'trial')
  })
  afterEach(async () => {
    await t.close()
  })

  it('pages every member exactly once, in id order, one store query per page', async () => {
    const { items, sizes } = await allPages('/api/segments/trial/members', 4)
    expect(items).toHaveLength(21)
    const ids = items.map((m) => m.id)
    expect(new Set(ids).size).toBe(21)
    expect(ids).toEqual([...ids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)))
    expect(sizes).toEqual([4, 4, 4, 4, 4, 1])
    expect(items.map((m) => m.userId).sort()).toContain('o"neil, jr')
    const ann = items.find((m) => m.userId === 'ann')!
    expect(ann).toEqual({
      id: expect.stringMatching(/^prf_/),
      userId: 'ann',
      email: 'ann@x.io',
      enteredAt: new Date(NOW).toISOString(),
    })
    expect(items.find((m) => m.userId === 'dan')!.email).toBeNull()

    // One statement per page, whatever its size (not one or two per member).
    const reads = countReads(t.rt.store)
    const page = await t.admin('GET', '/api/segments/trial/members?limit=20')
    expect(page.json().items).toHaveLength(20)
    expect(reads.n).toBe(1)
  })

  it('searches members by the start of their userId or email, or their profile id, and pages the matches', async () => {
    const find = async (q: string, extra = '') => {
      const res = await t.admin(
        'GET',
        `/api/segments/trial/members?q=${encodeURIComponent(q)}${extra}`,
      )
      expect(res.statusCode, res.body).toBe(200)
      return res.json() as { items: Member[]; nextCursor: string | null }
    }
    expect((await find('an')).items.map((m) => m.userId)).toEqual(['ann'])
    // Emails case-insensitively; zed is not a member, so not found.
    expect((await find('BOB@X')).items.map((m) => m.userId)).toEqual(['bob'])
    expect((await find('zed')).items).toEqual([])
    const u1 = await find('u1')
    expect(u1.items.map((m) => m.userId).sort()).toEqual(['u01', 'u10', 'u11', 'u12', 'u13']) // u01's email is u1@x.io
    // Pages of matches, with the cursor; no one twice.
    const { items, sizes } = await allPages('/api/segments/trial/members?q=u', 5)
    expect(sizes).toEqual([5, 5, 4])
    expect(new Set(items.map((m) => m.id)).size).toBe(14)
    const ann = (await find('ann')).items[0]!
    expect((await find(ann.id)).items.map((m) => m.userId)).toEqual(['ann'])
    // With reachable: the matches marketing email can reach (ann consented; bob did not).
    expect((await find('a', '&reachable=true')).items.map((m) => m.userId)).toEqual(['ann'])
    expect((await find('b', '&reachable=true')).items).toEqual([])
    const csvSearch = await t.admin('GET', '/api/segments/trial/members?format=csv&q=ann')
    expect(csvSearch.statusCode).toBe(400)
    expect(csvSearch.json().error.message).toMatch(/q searches the JSON listing/)
  })

  it('keeps each member once across pages while members enter and leave between pages', async () => {
    const first = (await t.admin('GET', '/api/segments/trial/members?limit=5')).json()
    // One listed member leaves and someone new enters before the next page is read.
    await t.track('/v1/identify', { userId: first.items[0].userId, traits: { plan: 'free' } })
    await t.track('/v1/identify', { userId: 'new', traits: { plan: 'trial' } })
    const rest = await allPages('/api/segments/trial/members', 5, first.nextCursor)
    const ids = [...first.items, ...rest.items].map((m: Member) => m.id)
    expect(new Set(ids).size).toBe(ids.length)
    for (const m of first.items as Member[]) expect(rest.items.map((r) => r.id)).not.toContain(m.id)
  })

  it('streams the whole list as CSV in keyset batches, with a header and every row', async () => {
    const { items } = await allPages('/api/segments/trial/members', 1000)
    const res = await csv('/api/segments/trial/members?format=csv')
    expect(res.statusCode).toBe(200)
    expect(res.headers['content-type']).toBe('text/csv; charset=utf-8')
    expect(res.headers['content-disposition']).toBe('attachment; filename="trial-members.csv"')
    // A stream: no length known up front.
    expect(res.headers['content-length']).toBeUndefined()
    const quote = (v: string | null) =>
      v === null ? '' : /[",\n\r]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v
    expect(res.body).toBe(
      'id,user_id,email,entered_at\n' +
        items
          .map((m) => [m.id, m.userId, m.email, m.enteredAt].map(quote).join(',') + '\n')
          .join(''),
    )
    expect(res.body).toContain(`,"o""neil, jr",oj@x.io,`)
    // Accept: text/csv asks for the same.
    const accept = await t.app.inject({
      method: 'GET',
      url: '/api/segments/trial/members',
      headers: { authorization: `Bearer ${ADMIN_KEY}`, accept: 'text/csv' },
    })
    expect(accept.body).toBe(res.body)

    // The batches: each one keyset query of `batch` rows, read only when the stream wants it.
    const reads = countReads(t.rt.store)
    const batches = await t.rt.segments.memberBatches('default', 'trial', {
      reachable: false,
      batch: 6,
    })
    const it = batches[Symbol.asyncIterator]()
    expect(reads.n).toBe(0)
    const one = await it.next()
    expect(one.value).toHaveLength(6)
    expect(reads.n).toBe(1)
    const sizes = [6]
    for (let r = await it.next(); !r.done; r = await it.next()) sizes.push(r.value.length)
    expect(sizes).toEqual([6, 6, 6, 3])
    expect(reads.n).toBe(4)
  })

  for (const mode of ['opt_in', 'opt_out'] as const) {
    it(`reachable=true lists exactly the segment's reachable members (${mode})`, async () => {
      const settings = await t.admin('PUT', '/api/email/settings', {
        from: 'news@shop.example',
        consent: { mode },
      })
      expect(settings.statusCode, settings.body).toBe(200)
      const seg = (await t.admin('GET', '/api/segments/trial')).json()
      expect(seg.size).toBe(21)
      const { items } = await allPages('/api/segments/trial/members?reachable=true', 3)
      expect(items).toHaveLength(seg.reachable)
      // opt_in: granted only (ann and u01, u04, …); opt_out: everyone who did not refuse.
      const consented = ['u01', 'u04', 'u07', 'u10', 'u13']
      const silent = ['o"neil, jr', 'cat', 'u00', 'u03', 'u06', 'u09', 'u12']
      const expected = mode === 'opt_in' ? ['ann', ...consented] : ['ann', ...consented, ...silent]
      expect(items.map((m) => m.userId).sort()).toEqual(expected.sort())
      expect(seg.reachable).toBe(expected.length)

      const body = (await csv('/api/segments/trial/members?format=csv&reachable=true')).body
      const rows = body.trim().split('\n')
      expect(rows[0]).toBe('id,user_id,email,entered_at')
      expect(rows).toHaveLength(expected.length + 1)
      // Unsubscribed, bounced, refused and address-less people are not in the export.
      for (const who of ['eve@x.io', 'fay@x.io', 'bob@x.io', ',dan,', 'zed@x.io'])
        expect(body).not.toContain(who)
      if (mode === 'opt_in') expect(body).not.toContain('cat@x.io')
      else expect(body).toContain('cat@x.io')
      // reachable=false is the whole list.
      expect(
        (await allPages('/api/segments/trial/members?reachable=false', 50)).items,
      ).toHaveLength(21)
    })
  }

  it('refuses unknown and malformed query parameters by name, with a suggestion', async () => {
    const bad = async (query: string) => {
      const res = await t.admin('GET', `/api/segments/trial/members?${query}`)
      expect(res.statusCode, query).toBe(400)
      expect(res.json().error.code).toBe('invalid_request')
      return res.json().error.message as string
    }
    expect(await bad('reachabel=true')).toBe(
      'unknown query parameter "reachabel"; did you mean reachable? (expected cursor, format, limit, q, reachable)',
    )
    expect(await bad('format=csv&reachabel=true')).toMatch(/did you mean reachable\?/)
    expect(await bad('limt=5')).toMatch(/unknown query parameter "limt"; did you mean limit\?/)
    expect(await bad('page=2')).toBe(
      'unknown query parameter "page" (expected cursor, format, limit, q, reachable)',
    )
    expect(await bad('reachable=yes')).toBe('reachable "yes" must be true or false')
    expect(await bad('reachable=')).toBe('reachable "" must be true or false')
    expect(await bad('limit=0')).toBe('limit "0" must be a whole number from 1 to 1000')
    expect(await bad('limit=1001')).toBe('limit "1001" must be a whole number from 1 to 1000')
    expect(await bad('limit=ten')).toBe('limit "ten" must be a whole number from 1 to 1000')
    expect(await bad('limit=2&limit=3')).toBe('limit is given 2 times; give it once')
    expect(await bad('format=xml')).toBe('format "xml" must be one of json, csv')
    expect(await bad('cursor=')).toMatch(/^cursor "" must be text of 1 to 512 characters/)
    expect(await bad('format=csv&cursor=abc')).toMatch(/cursor pages the JSON listing/)
    // The error names the parameter for programs too.
    const res = await t.admin('GET', '/api/segments/trial/members?reachabel=true')
    expect(res.json().error).toMatchObject({ parameter: 'reachabel', suggestion: 'reachable' })
    // Good ones still work; format=json overrides Accept: text/csv.
    expect(
      (await t.admin('GET', '/api/segments/trial/members?limit=2&reachable=false')).statusCode,
    ).toBe(200)
    const json = await t.app.inject({
      method: 'GET',
      url: '/api/segments/trial/members?format=json',
      headers: { authorization: `Bearer ${ADMIN_KEY}`, accept: 'text/csv' },
    })
    expect(json.json().items).toHaveLength(21)
    // An unknown segment is a 404 for both forms.
    expect((await t.admin('GET', '/api/segments/nope/members')).statusCode).toBe(404)
    expect((await csv('/api/segments/nope/members?format=csv')).statusCode).toBe(404)
  })

  it('refuses unknown query parameters on the other admin list routes too', async () => {
    const cases: [string, string][] = [
      [
        '/api/profiles/ann/events?limt=5',
        'unknown query parameter "limt"; did you mean limit? (expected cursor, limit)',
      ],
      [
        '/api/segments/trial/history?fromm=2026-05-01',
        'unknown query parameter "fromm"; did you mean from? (expected from, to)',
      ],
      [
        '/api/webhooks/crm/deliveries?stauts=failed',
        'unknown query parameter "stauts"; did you mean status? (expected cursor, limit, status)',
      ],
      [
        '/api/audit?befor=x',
        'unknown query parameter "befor"; did you mean before? (expected before, limit)',
      ],
      [
        '/api/privacy/requests?limits=5',
        'unknown query parameter "limits"; did you mean limit? (expected limit)',
      ],
      ['/api/profiles/ann/events?limit=0', 'limit "0" must be a whole number from 1 to 1000'],
      [
        '/api/webhooks/crm/deliveries?limit=501',
        'limit "501" must be a whole number from 1 to 500',
      ],
    ]
    for (const [url, message] of cases) {
      const res = await t.admin('GET', url)
      expect(res.statusCode, url).toBe(400)
      expect(res.json().error.message, url).toBe(message)
    }
    expect((await t.admin('GET', '/api/profiles/ann/events?limit=1')).json().items).toHaveLength(1)
    expect((await t.admin('GET', '/api/audit?limit=1')).statusCode).toBe(200)
  })
})
