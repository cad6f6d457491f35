/**
 * B8 — rendering personalised emails: segflow's path (the render pool: worker threads with a
 * deadline, each template parsed once per worker and cached) against LiquidJS parsing the same
 * template for every email, and Handlebars (compiled once) with an equivalent template.
 * segflow's rate is for renders asked for together (a preview matrix, many sends at once); the
 * rate one at a time (each awaited before the next) and LiquidJS's cached render on the main
 * thread (segflow's path before renders moved to workers) are reported beside it. Alternating
 * rounds over the same contexts; the outputs are compared.
 */
import Handlebars from 'handlebars'
import { Liquid } from 'liquidjs'
import { templateContext } from '../src/content/context.js'
import { createEngines, parseWith, renderWith } from '../src/content/liquid-engine.js'
import { RenderPool } from '../src/content/render-pool.js'
import type { JsonObject } from '../src/shared/json.js'
import type { ProfileRecord } from '../src/store/store.js'
import { rng, traitsOf, T0 } from './gen.js'

export interface B8Options {
  readonly renders: number
  readonly profiles: number
  readonly rounds: number
}

export interface B8Figures {
  readonly renders: number
  readonly segflowPerSecond: number
  readonly segflowOneAtATimePerSecond: number
  readonly mainThreadPerSecond: number
  readonly liquidReparsePerSecond: number
  readonly handlebarsPerSecond: number
  readonly ratioVsReparse: number
  readonly ratioVsHandlebars: number
  readonly identicalToReparse: boolean
  readonly identicalToHandlebars: boolean
}

const SUBJECT = `{{ traits.name }}, {% if recipient.segment == 'vip' %}your VIP offer is here{% else %}news picked for you{% endif %}`
const HTML = `<h1>Hi {{ traits.name }}</h1>
{% if segments contains 'at-risk' %}<p>We miss you in {{ traits.city }}. Here is 20% off.</p>{% elsif recipient.segment == 'vip' %}<p>Your lifetime value: {{ traits.lifetime_value }} USD</p>{% else %}<p>Welcome back to the {{ traits.plan }} plan.</p>{% endif %}
<ul>{% for t in traits.tags %}<li>{{ t }}</li>{% endfor %}</ul>
<p>{{ traits.orders }} orders · {{ traits.country }} · {{ traits.language }}</p>
<a href="{{ unsubscribe_url }}">Unsubscribe</a>`

const HB_SUBJECT = `{{traits.name}}, {{#if (eq recipient.segment "vip")}}your VIP offer is here{{else}}news picked for you{{/if}}`
const HB_HTML = `<h1>Hi {{traits.name}}</h1>
{{#if (contains segments "at-risk")}}<p>We miss you in {{traits.city}}. Here is 20% off.</p>{{else if (eq recipient.segment "vip")}}<p>Your lifetime value: {{traits.lifetime_value}} USD</p>{{else}}<p>Welcome back to the {{traits.plan}} plan.</p>{{/if}}
<ul>{{#each traits.tags}}<li>{{this}}</li>{{/each}}</ul>
<p>{{traits.orders}} orders · {{traits.country}} · {{traits.language}}</p>
<a href="{{unsubscribe_url}}">Unsubscribe</a>`

/** Contexts for `n` people, built the way the mailer builds them. */
function contexts(n: number): JsonObject[] {
  const random = rng(8)
  const priority = new Map([
    ['vip', 10],
    ['at-risk', 5],
    ['newsletter', 1],
  ])
  return Array.from({ length: n }, (_, i) => {
    const traits = traitsOf(i, random) as JsonObject
    const memberships = ['vip', 'at-risk', 'newsletter'].filter(() => random() < 0.3)
    const profile = {
      id: `prf_${i}`,
      userId: `u${i}`,
      traits,
      firstSeen: T0,
      lastSeen: T0,
    } as unknown as ProfileRecord
    return templateContext(profile, memberships, priority, {
      now: T0,
      unsubscribeUrl: `https://mail.example.com/e/u/token${i}`,
      email: `user${i}@example.com`,
    })
  })
}

/** Renders asked for at once, as a preview matrix or a burst of sends asks for them. */
const GROUP = 1_000

export async function runB8(o: B8Options): Promise<B8Figures> {
  const source = { subject: SUBJECT, html: HTML, text: null }
  const engines = createEngines()
  const parsed = parseWith(engines, source)
  if (!parsed.ok) throw new Error('the benchmark template does not parse')
  const pool = new RenderPool()
  const reparse = {
    text: new Liquid({ cache: false }),
    html: new Liquid({ cache: false, outputEscape: 'escape' }),
  }
  const hb = Handlebars.create()
  hb.registerHelper('eq', (a: unknown, b: unknown) => a === b)
  hb.registerHelper(
    'contains',
    (list: unknown, x: unknown) => Array.isArray(list) && list.includes(x),
  )
  const hbSubject = hb.compile(HB_SUBJECT, { noEscape: true })
  const hbHtml = hb.compile(HB_HTML)
  const ctx = contexts(o.profiles)

  let identicalToReparse = true
  let identicalToHandlebars = true
  for (const c of ctx.slice(0, 200)) {
    const a = await pool.render(source, c)
    const b = {
      subject: (await reparse.text.parseAndRender(SUBJECT, c)).trim(),
      html: await reparse.html.parseAndRender(HTML, c),
    }
    const h = { subject: hbSubject(c).trim(), html: hbHtml(c) }
    if (a.subject !== b.subject || a.html !== b.html) identicalToReparse = false
    if (a.subject !== h.subject || a.html !== h.html) identicalToHandlebars = false
  }

  const per = Math.floor(o.renders / o.rounds)
  let segflowMs = 0
  let oneMs = 0
  let oneCount = 0
  let mainMs = 0
  let reparseMs = 0
  let hbMs = 0
  let reparseCount = 0
  let sink = 0
  for (let round = 0; round < o.rounds; round++) {
    let t0 = performance.now()
    for (let i = 0; i < per; i += GROUP) {
      const group = Array.from(
        { length: Math.min(GROUP, per - i) },
        (_, j) => ctx[(i + j) % ctx.length]!,
      )
      for (const r of await pool.renderMany(source, group)) {
        if (r instanceof Error) throw r
        sink += r.html.length
      }
    }
    segflowMs += performance.now() - t0
    // One at a time is a round trip per render: a tenth of the renders gives its rate.
    const few = Math.max(1, Math.floor(per / 10))
    t0 = performance.now()
    for (let i = 0; i < few; i++)
      sink += (await pool.render(source, ctx[i % ctx.length]!)).html.length
    oneMs += performance.now() - t0
    oneCount += few
    t0 = performance.now()
    for (let i = 0; i < per; i++)
      sink += renderWith(engines, parsed.parsed, ctx[i % ctx.length]!).html.length
    mainMs += performance.now() - t0
    // Re-parsing is an order slower: a tenth of the renders is plenty for its rate.
    t0 = performance.now()
    for (let i = 0; i < few; i++) {
      const c = ctx[i % ctx.length]!
      await reparse.text.parseAndRender(SUBJECT, c)
      sink += (await reparse.html.parseAndRender(HTML, c)).length
    }
    reparseMs += performance.now() - t0
    reparseCount += few
    t0 = performance.now()
    for (let i = 0; i < per; i++) {
      const c = ctx[i % ctx.length]!
      hbSubject(c)
      sink += hbHtml(c).length
    }
    hbMs += performance.now() - t0
  }
  await pool.close()
  if (sink === 0) throw new Error('nothing rendered')
  const rate = (n: number, ms: number) => Math.round((n / ms) * 1000)
  const segflow = rate(per * o.rounds, segflowMs)
  const reparseRate = rate(reparseCount, reparseMs)
  const hbRate = rate(per * o.rounds, hbMs)
  return {
    renders: per * o.rounds,
    segflowPerSecond: segflow,
    segflowOneAtATimePerSecond: rate(oneCount, oneMs),
    mainThreadPerSecond: rate(per * o.rounds, mainMs),
    liquidReparsePerSecond: reparseRate,
    handlebarsPerSecond: hbRate,
    ratioVsReparse: Number((segflow / reparseRate).toFixed(2)),
    ratioVsHandlebars: Number((segflow / hbRate).toFixed(2)),
    identicalToReparse,
    identicalToHandlebars,
  }
}
