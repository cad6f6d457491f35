/**
 * The one seeded data and rule generator every benchmark uses (BENCHMARKS.md): profiles with
 * ~20 traits, Zipf-skewed activity, an event mix of ~60 % page, 20 % track, 10 % identify and
 * 10 % email engagement of ~500 bytes each, and segment sets of 40 % trait-only rules, 40 %
 * count-in-window rules and 20 % with NOT or nested segments. Same seed, same data.
 */

export const DAY = 86_400_000
export const T0 = Date.parse('2026-01-01T00:00:00Z')

/** mulberry32: small, fast, seeded. */
export function rng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Samples ranks 0..n-1 with P(k) ∝ 1/(k+1)^s, by binary search over the cumulative weights. */
export function zipf(n: number, s: number, random: () => number): () => number {
  const cdf = new Float64Array(n)
  let total = 0
  for (let k = 0; k < n; k++) {
    total += 1 / (k + 1) ** s
    cdf[k] = total
  }
  return () => {
    const u = random() * total
    let lo = 0
    let hi = n - 1
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (cdf[mid]! < u) lo = mid + 1
      else hi = mid
    }
    return lo
  }
}

const PLANS = ['free', 'starter', 'pro', 'team', 'enterprise']
const COUNTRIES = ['US', 'DE', 'FR', 'GB', 'CA', 'NL', 'SE', 'BR', 'IN', 'JP']
const INDUSTRIES = ['retail', 'saas', 'media', 'finance', 'health', 'education']
const SOURCES = ['ads', 'organic', 'referral', 'partner', 'email']
const DEVICES = ['desktop', 'mobile', 'tablet']
const LANGS = ['en', 'de', 'fr', 'es', 'pt', 'ja']
const TAGS = ['beta', 'vip', 'newsletter', 'webinar', 'trial', 'churn-risk']
export const TRACK_EVENTS = [
  'Product Viewed',
  'Product Added',
  'Order Completed',
  'Viewed Pricing',
  'Signed Up',
]
export const PAGES = ['Home', 'Pricing', 'Docs', 'Blog', 'Checkout']
export const EMAIL_EVENTS = ['Email Opened', 'Email Clicked']

export function pick<T>(random: () => number, xs: readonly T[]): T {
  return xs[Math.floor(random() * xs.length)]!
}

/** ~20 traits of one profile. */
export function traitsOf(i: number, random: () => number): Record<string, unknown> {
  return {
    email: `user${i}@example.com`,
    name: `User ${i}`,
    plan: pick(random, PLANS),
    country: pick(random, COUNTRIES),
    city: `City ${Math.floor(random() * 500)}`,
    age: 18 + Math.floor(random() * 60),
    signup_at: new Date(T0 - Math.floor(random() * 700) * DAY).toISOString(),
    company_size: Math.floor(random() * 5000),
    industry: pick(random, INDUSTRIES),
    vip: random() < 0.1,
    newsletter: random() < 0.6,
    lifetime_value: Math.round(random() * 500000) / 100,
    orders: Math.floor(random() * 40),
    language: pick(random, LANGS),
    timezone: 'Europe/Berlin',
    device: pick(random, DEVICES),
    source: pick(random, SOURCES),
    tags: TAGS.filter(() => random() < 0.2),
    nps: Math.floor(random() * 11),
    trial: random() < 0.15,
  }
}

/** One generated Segment message, with what the evaluators read. */
export interface GenMessage {
  readonly type: 'page' | 'track' | 'identify'
  readonly userId: string
  readonly name: string | null
  readonly timestamp: number
  readonly properties: Record<string, unknown> | null
  readonly traits: Record<string, unknown> | null
}

export interface DataOptions {
  readonly seed: number
  readonly profiles: number
  readonly events: number
  /** First and last instant events fall between. */
  readonly from?: number
  readonly to?: number
}

/**
 * A stream of messages in time order: each profile introduced by an identify, then activity
 * skewed by Zipf(1.1) over profiles.
 */
export function* messages(o: DataOptions): Generator<GenMessage> {
  const random = rng(o.seed)
  const who = zipf(o.profiles, 1.1, random)
  const from = o.from ?? T0
  const to = o.to ?? T0 + 30 * DAY
  for (let i = 0; i < o.profiles; i++) {
    yield {
      type: 'identify',
      userId: `u${i}`,
      name: null,
      timestamp: from,
      properties: null,
      traits: traitsOf(i, random),
    }
  }
  // A random permutation of ranks, so that the busiest profiles are not u0, u1, …
  const perm = Array.from({ length: o.profiles }, (_, i) => i)
  for (let i = perm.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[perm[i], perm[j]] = [perm[j]!, perm[i]!]
  }
  const step = (to - from) / Math.max(1, o.events)
  for (let n = 0; n < o.events; n++) {
    const userId = `u${perm[who()]}`
    const timestamp = Math.floor(from + n * step)
    const r = random()
    if (r < 0.6) {
      const page = pick(random, PAGES)
      yield {
        type: 'page',
        userId,
        name: page,
        timestamp,
        properties: {
          path: `/${page.toLowerCase()}`,
          url: `https://shop.example.com/${page.toLowerCase()}?utm_source=${pick(random, SOURCES)}`,
          referrer: 'https://www.google.com/',
          title: `${page} — Example Shop`,
          search: '',
        },
        traits: null,
      }
    } else if (r < 0.8) {
      const name = pick(random, TRACK_EVENTS)
      yield {
        type: 'track',
        userId,
        name,
        timestamp,
        properties: {
          product_id: `p${Math.floor(random() * 1000)}`,
          sku: `SKU-${Math.floor(random() * 100000)}`,
          category: pick(random, INDUSTRIES),
          price: Math.round(random() * 20000) / 100,
          revenue: Math.round(random() * 50000) / 100,
          currency: 'USD',
          quantity: 1 + Math.floor(random() * 3),
        },
        traits: null,
      }
    } else if (r < 0.9) {
      yield {
        type: 'identify',
        userId,
        name: null,
        timestamp,
        properties: null,
        traits: {
          plan: pick(random, PLANS),
          vip: random() < 0.1,
          orders: Math.floor(random() * 40),
          nps: Math.floor(random() * 11),
        },
      }
    } else {
      yield {
        type: 'track',
        userId,
        name: random() < 0.7 ? EMAIL_EVENTS[0]! : EMAIL_EVENTS[1]!,
        timestamp,
        properties: {
          campaign_id: `c${Math.floor(random() * 50)}`,
          campaign_name: 'Spring sale',
          email_subject: 'Our spring sale starts today',
          link_url: 'https://shop.example.com/sale',
        },
        traits: null,
      }
    }
  }
}

/** A message as the Segment HTTP API takes it (with context, for realistic sizes). */
export function segmentJson(m: GenMessage, messageId: string): Record<string, unknown> {
  return {
    type: m.type,
    messageId,
    userId: m.userId,
    timestamp: new Date(m.timestamp).toISOString(),
    ...(m.type === 'track' ? { event: m.name } : m.type === 'page' ? { name: m.name } : {}),
    ...(m.properties ? { properties: m.properties } : {}),
    ...(m.traits ? { traits: m.traits } : {}),
    context: {
      library: { name: 'analytics.js', version: '5.2.0' },
      ip: '203.0.113.7',
      userAgent: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36',
      locale: 'en-US',
    },
  }
}

const WINDOWS = ['1d', '7d', '14d', '30d']

/**
 * `n` segments (`s0`, `s1`, …): 40 % on traits only, 40 % counting an event in a window, 20 %
 * with NOT or referring to an earlier segment. Rules are in the rule language's JSON.
 */
export function segments(n: number, seed: number): { key: string; rule: unknown }[] {
  const random = rng(seed)
  const out: { key: string; rule: unknown }[] = []
  const trait = (): unknown => {
    switch (Math.floor(random() * 5)) {
      case 0:
        return { trait: 'plan', eq: pick(random, PLANS) }
      case 1:
        return { trait: 'country', in: [pick(random, COUNTRIES), pick(random, COUNTRIES)] }
      case 2:
        return { trait: 'age', gte: 18 + Math.floor(random() * 50) }
      case 3:
        return { trait: 'vip', eq: true }
      default:
        return { trait: 'orders', gt: Math.floor(random() * 20) }
    }
  }
  const counted = (): unknown => {
    const page = random() < 0.4
    return {
      ...(page
        ? { type: 'page', event: pick(random, PAGES) }
        : { event: pick(random, [...TRACK_EVENTS, ...EMAIL_EVENTS]) }),
      within: pick(random, WINDOWS),
      count: { gte: 1 + Math.floor(random() * 3) },
    }
  }
  for (let i = 0; i < n; i++) {
    const r = random()
    let rule: unknown
    if (r < 0.4) rule = random() < 0.5 ? trait() : { all: [trait(), trait()] }
    else if (r < 0.8) rule = random() < 0.5 ? counted() : { all: [counted(), trait()] }
    else if (i > 0 && random() < 0.5)
      rule = { all: [{ segment: `s${Math.floor(random() * i)}` }, counted()] }
    else rule = { all: [trait(), { not: counted() }] }
    out.push({ key: `s${i}`, rule })
  }
  return out
}
