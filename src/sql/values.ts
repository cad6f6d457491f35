import type { EventFilter, ScoreModel } from '../rules/types.js'
import { EMAIL_EVENTS } from '../rules/types.js'
import type { RuleCompiler } from './compiler.js'
import { join, param, raw, sql } from './fragment.js'
import type { CompiledSql, Frag } from './fragment.js'

const WEEK = 7 * 86_400_000
const PURCHASE: EventFilter = { type: 'track', name: 'Order Completed', where: [] }
const track = (name: string): EventFilter => ({ type: 'track', name, where: [] })
const ENGAGEMENT: readonly EventFilter[] = (['track', 'page', 'screen'] as const).map((type) => ({
  type,
  name: null,
  where: [],
}))

/** Column names of the computed fields in `profileValues`. */
export const COMPUTED_COLUMNS = [
  'last_purchase_at',
  'purchase_count',
  'total_revenue_micro',
  'first_seen',
  'last_email_opened_at',
  'last_email_clicked_at',
  'engaged_this_week',
  'engaged_last_week',
] as const

/**
 * One row per profile with its computed fields and, for each model, the points of each
 * criterion (columns `score_<model>_<criterion>`, in millionths; the score is their sum), at
 * `now`, from everything stored. The meaning is the
 * rule language's: a purchase is an `Order Completed` track event, revenue its `revenue`
 * property, engagement any track, page or screen event.
 */
export function profileValues(
  c: RuleCompiler,
  models: readonly ScoreModel[],
  o: { workspaceId: string; ids: readonly string[]; now: number },
): CompiledSql {
  const d = c.dialect
  const now = o.now
  const of = (f: EventFilter, within: number | null) =>
    sql`FROM events e WHERE ${c.eventsOf('e', f, now)}${c.window('e', within, now)}`
  const latest = (f: EventFilter) => sql`(SELECT MAX(e.ts) ${of(f, null)})`
  const count = (filters: readonly EventFilter[], within: number | null) =>
    sql`(${join(
      filters.map((f) => sql`(SELECT COUNT(*) ${of(f, within)})`),
      ' + ',
    )})`
  const revenue = sql`floor(${d.number('e.properties', param(['revenue'], 'path'))} * 1000000 + 0.5)`
  const columns: Frag[] = [
    sql`${latest(PURCHASE)} AS last_purchase_at`,
    sql`${count([PURCHASE], null)} AS purchase_count`,
    sql`(SELECT COALESCE(${d.sum(revenue)}, 0) ${of(PURCHASE, null)}) AS total_revenue_micro`,
    sql`p.first_seen AS first_seen`,
    sql`${latest(track(EMAIL_EVENTS.opened))} AS last_email_opened_at`,
    sql`${latest(track(EMAIL_EVENTS.clicked))} AS last_email_clicked_at`,
    sql`${count(ENGAGEMENT, WEEK)} AS engaged_this_week`,
    sql`(${count(ENGAGEMENT, 2 * WEEK)} - ${count(ENGAGEMENT, WEEK)}) AS engaged_last_week`,
    ...models.flatMap((m, i) =>
      m.criteria.map(
        (cr, j) => sql`${c.criterion(m, cr, now, [], 0)} AS ${raw(`score_${i}_${j}`)}`,
      ),
    ),
  ]
  const ids =
    o.ids.length === 0
      ? raw('1 = 0')
      : sql`p.id IN (${join(
          o.ids.map((id) => param(id, 'text')),
          ', ',
        )})`
  return c.render(
    sql`SELECT p.id AS id, ${join(columns, ', ')} FROM profiles p WHERE p.workspace_id = ${param(o.workspaceId, 'text')} AND ${ids}`,
  )
}
