import { foldCase, micro, toMicro } from '../evaluate/values.js'
import { MAX_HALVINGS, microPoints } from '../scoring/points.js'
import { formatPath } from '../rules/parse.js'
import type {
  AggregateFn,
  CoreRule,
  EventFilter,
  NumberTest,
  Path,
  Scalar,
  ScoreCriterion,
  ScoreModel,
  TimeTest,
  ValueTest,
} from '../rules/types.js'
import { MAX_INSTANT } from '../shared/time.js'
import { join, param, raw, render, sql } from './fragment.js'
import type { CompiledSql, ParamType, Frag } from './fragment.js'

/** The SQL type a JSON value is tested for. */
export type JsonKind = 'string' | 'number' | 'boolean' | 'array'

/** Resolves a referenced segment to its (desugared) rule, for inlining. */
export type SqlSegmentResolver = (key: string) => CoreRule | undefined

/** Accessors for one element of a JSON array, inside anyElement. */
export interface ElementAccess {
  isKind(kind: Exclude<JsonKind, 'array'>): Frag
  readonly text: Frag
  readonly number: Frag
  isBoolean(b: boolean): Frag
}

/**
 * The places where SQLite and PostgreSQL differ; everything else is the compiler's. `json`
 * is a JSON column expression (`p.traits`, `e.properties`) and `path` a bound path.
 */
export abstract class Dialect {
  abstract readonly name: 'sqlite' | 'postgres'
  abstract readonly false: string
  /** The placeholder for the index-th parameter (1-based), cast as the dialect needs. */
  abstract placeholder(type: ParamType, index: number): string
  /** How a value is bound (a path as a JSON path string or a text array). */
  abstract encode(value: unknown, type: ParamType): unknown
  /** True when the JSON value at `path` is of `kind`. */
  abstract isKind(json: string, path: Frag, kind: JsonKind): Frag
  /** True when the JSON value at `path` is present and not null. */
  abstract present(json: string, path: Frag): Frag
  /** The value as text when it is a string, else NULL. */
  abstract text(json: string, path: Frag): Frag
  /** The value as a double when it is a number, else NULL. */
  abstract number(json: string, path: Frag): Frag
  /** True when the value is the JSON boolean `b`. */
  abstract isBoolean(json: string, path: Frag, b: boolean): Frag
  /** ASCII lower case (the language's ignore_case). */
  abstract fold(expr: Frag): Frag
  /** 1-based position of `needle` in `hay`, 0 when absent. */
  abstract position(hay: Frag, needle: Frag): Frag
  /** The last `n` characters of `s`. */
  abstract right(s: Frag, n: Frag): Frag
  /** Whether some element of the array at `path` passes `test`; false for non-arrays. */
  abstract anyElement(json: string, path: Frag, test: (e: ElementAccess) => Frag): Frag
  /** An epoch-ms double truncated to an integer. */
  abstract truncate(expr: Frag): Frag
  /** Exact sum of integer-valued amounts. */
  abstract sum(expr: Frag): Frag
  /** The smaller / larger of two numbers. */
  abstract least(a: Frag, b: Frag): Frag
  abstract greatest(a: Frag, b: Frag): Frag
  /** A bound number as a 64-bit integer (SQLite binds JavaScript numbers as REAL). */
  abstract int(expr: Frag): Frag
  /** 2^k as a 64-bit integer, for 0 ≤ k < 63. */
  abstract pow2(k: Frag): Frag
}

const SQL_OP = { eq: '=', neq: '<>', gt: '>', gte: '>=', lt: '<', lte: '<=' } as const

/**
 * Compiles rules to SQL over the `profiles` (alias p) and `events` tables, one query per
 * dialect from one compiler. Every value a rule holds is a bound parameter. Every leaf is
 * wrapped so it is exactly true or false, never NULL, so that `not` means what it says.
 * @example
 * const q = new RuleCompiler(sqliteDialect).members(rule, { workspaceId: 'default', now })
 * const rows = await store.query(q.sql, q.params)
 */
export class RuleCompiler {
  /**
   * With `resolve`, referenced segments are inlined (their rules evaluated here); without it,
   * a `segment` condition reads the stored memberships, as the live engine keeps them.
   */
  constructor(
    readonly dialect: Dialect,
    private readonly resolve?: SqlSegmentResolver,
  ) {}

  /** Ids of the workspace's profiles that match at `now`, in id order, optionally paged. */
  members(
    rule: CoreRule,
    o: {
      workspaceId: string
      now: number
      limit?: number
      after?: string
      ids?: readonly string[]
    },
  ): CompiledSql {
    const page = o.after === undefined ? raw('') : sql` AND p.id > ${param(o.after, 'text')}`
    const limit = o.limit === undefined ? raw('') : sql` LIMIT ${param(o.limit, 'int')}`
    return this.render(
      sql`SELECT p.id AS id FROM profiles p WHERE ${this.where(rule, o)}${page} ORDER BY p.id${limit}`,
    )
  }

  /** How many of the workspace's profiles match at `now`. */
  count(rule: CoreRule, o: { workspaceId: string; now: number }): CompiledSql {
    return this.render(sql`SELECT COUNT(*) AS n FROM profiles p WHERE ${this.where(rule, o)}`)
  }

  /** The rule as a boolean expression over a profile aliased `p`, at `now`. */
  expression(rule: CoreRule, now: number): Frag {
    return this.rule(rule, now, [], 0)
  }

  render(frag: Frag): CompiledSql {
    return render(
      frag,
      (type, i) => this.dialect.placeholder(type, i),
      (v, type) => this.dialect.encode(v, type),
    )
  }

  private where(
    rule: CoreRule,
    o: { workspaceId: string; now: number; ids?: readonly string[] },
  ): Frag {
    const ids =
      o.ids === undefined
        ? raw('')
        : o.ids.length === 0
          ? raw(' AND 1 = 0')
          : sql` AND p.id IN (${join(
              o.ids.map((id) => param(id, 'text')),
              ', ',
            )})`
    return sql`p.workspace_id = ${param(o.workspaceId, 'text')} AND p.merged_into IS NULL${ids} AND ${this.expression(rule, o.now)}`
  }

  private bool(expr: Frag): Frag {
    return sql`COALESCE((${expr}), ${raw(this.dialect.false)})`
  }

  private rule(r: CoreRule, now: number, at: (string | number)[], depth: number): Frag {
    if (depth > 64)
      throw new Error(`segment references nest too deep at ${formatPath(at)}; is there a cycle?`)
    switch (r.kind) {
      case 'all':
      case 'any': {
        const parts = r.rules.map((c, i) => this.rule(c, now, [...at, r.kind, i], depth + 1))
        return sql`(${join(parts, r.kind === 'all' ? ' AND ' : ' OR ')})`
      }
      case 'not':
        return sql`(NOT ${this.rule(r.rule, now, [...at, 'not'], depth + 1)})`
      case 'segment': {
        if (!this.resolve) {
          return sql`EXISTS (SELECT 1 FROM memberships m WHERE m.workspace_id = p.workspace_id AND m.segment_key = ${param(r.key, 'text')} AND m.profile_id = p.id)`
        }
        const ref = this.resolve(r.key)
        return ref ? this.rule(ref, now, [...at, 'segment'], depth + 1) : raw(this.dialect.false)
      }
      case 'score': {
        if (!r.definition) return raw(this.dialect.false)
        return this.bool(
          this.numberTest(this.score(r.definition, now, at, depth), toMicro(r.test), 'int'),
        )
      }
      case 'trait':
        return this.bool(this.valueTest('p.traits', r.path, r.test, now))
      // As the segment's reachable count reads them (store: segmentCounts).
      case 'consent':
        return sql`EXISTS (SELECT 1 FROM consents c WHERE c.workspace_id = p.workspace_id AND c.profile_id = p.id AND c.purpose = ${param(r.purpose, 'text')} AND c.state = ${param(r.state, 'text')})`
      case 'email_status':
        // No row is `subscribed`.
        return r.status === 'subscribed'
          ? sql`NOT EXISTS (SELECT 1 FROM email_status s WHERE s.workspace_id = p.workspace_id AND s.profile_id = p.id AND s.status <> 'subscribed')`
          : sql`EXISTS (SELECT 1 FROM email_status s WHERE s.workspace_id = p.workspace_id AND s.profile_id = p.id AND s.status = ${param(r.status, 'text')})`
      case 'has_email':
        return raw(
          `EXISTS (SELECT 1 FROM identities i WHERE i.workspace_id = p.workspace_id AND i.profile_id = p.id AND i.kind = 'email')`,
        )
      case 'seen':
        return this.bool(
          this.timeTest(raw(r.which === 'first' ? 'p.first_seen' : 'p.last_seen'), r.test, now),
        )
      case 'event': {
        const count = sql`(SELECT COUNT(*) FROM events e WHERE ${this.eventsOf('e', r.filter, now)}${this.window('e', r.within, now)})`
        return this.bool(this.numberTest(count, r.count, 'int'))
      }
      case 'aggregate':
        return this.bool(this.aggregate(r.fn, r.filter, r.property, r.within, r.test, now))
      case 'sequence': {
        const older =
          r.olderThan === null ? raw('') : sql` AND a.ts <= ${param(now - r.olderThan, 'int')}`
        // The latest `first` event, old enough and young enough, with no follow-up after it.
        const latest = sql`NOT EXISTS (SELECT 1 FROM events a2 WHERE ${this.eventsOf('a2', r.first, now)} AND a2.ts > a.ts)`
        const unfollowed = sql`NOT EXISTS (SELECT 1 FROM events b WHERE ${this.eventsOf('b', r.notFollowedBy, now)} AND b.ts > a.ts)`
        return this.bool(
          sql`EXISTS (SELECT 1 FROM events a WHERE ${this.eventsOf('a', r.first, now)}${older}${this.window('a', r.within, now)} AND ${latest} AND ${unfollowed})`,
        )
      }
    }
  }

  /**
   * A model's score at `now` in millionths: the sum of its criteria, each an integer, as
   * scoring/points.ts defines them.
   */
  score(model: ScoreModel, now: number, at: (string | number)[] = [], depth = 0): Frag {
    const parts = model.criteria.map((c, i) =>
      this.criterion(model, c, now, [...at, 'criteria', i], depth),
    )
    return parts.length === 0 ? raw('0') : sql`(${join(parts, ' + ')})`
  }

  /** One criterion's points at `now`, in millionths. */
  criterion(
    model: ScoreModel,
    c: ScoreCriterion,
    now: number,
    at: (string | number)[],
    depth: number,
  ): Frag {
    const d = this.dialect
    const mp = microPoints(c.points)
    if (c.kind === 'rule')
      return sql`(CASE WHEN ${this.rule(c.rule, now, at, depth + 1)} THEN ${d.int(param(mp, 'int'))} ELSE 0 END)`
    const from = sql`FROM events e WHERE ${this.eventsOf('e', c.filter, now)}${this.window('e', c.within, now)}`
    let total: Frag
    if (c.within === null && model.halfLife === null) {
      total = sql`(SELECT COUNT(*) * ${d.int(param(mp, 'int'))} ${from})`
    } else if (model.halfLife === null) {
      total = sql`(SELECT COALESCE(${d.sum(sql`${d.int(param(mp, 'int'))}`)}, 0) ${from})`
    } else {
      // Points halve at each full half-life: ⌊age / H⌋ halvings, truncated toward zero.
      const k = sql`((${d.int(param(now, 'int'))} - e.ts) / ${d.int(param(model.halfLife, 'int'))})`
      const each = sql`CASE WHEN ${k} >= ${raw(String(MAX_HALVINGS))} THEN 0 ELSE ${d.int(param(mp, 'int'))} / ${d.pow2(k)} END`
      total = sql`(SELECT COALESCE(${d.sum(each)}, 0) ${from})`
    }
    if (c.cap === null) return total
    const cap = microPoints(c.cap)
    return mp >= 0 ? d.least(total, param(cap, 'int')) : d.greatest(total, param(-cap, 'int'))
  }

  /** `AND e.ts > now − within`, the lower edge of a window (the upper is in eventsOf). */
  window(e: string, within: number | null, now: number): Frag {
    return within === null ? raw('') : sql` AND ${raw(e)}.ts > ${param(now - within, 'int')}`
  }

  /** The profile's events (alias `e`) matching `filter`, up to `now`. */
  eventsOf(e: string, f: EventFilter, now: number): Frag {
    const a = raw(e)
    const parts = [
      sql`${a}.workspace_id = p.workspace_id`,
      sql`${a}.profile_id = p.id`,
      sql`${a}.type = ${param(f.type, 'text')}`,
      sql`${a}.ts <= ${param(now, 'int')}`,
    ]
    if (f.name !== null) parts.push(sql`${a}.name = ${param(f.name, 'text')}`)
    for (const w of f.where)
      parts.push(this.bool(this.valueTest(`${e}.properties`, w.path, w.test, 0)))
    return join(parts, ' AND ')
  }

  private aggregate(
    fn: AggregateFn,
    f: EventFilter,
    property: Path,
    within: number | null,
    t: NumberTest,
    now: number,
  ): Frag {
    const d = this.dialect
    // Millionths, rounded half up: the same IEEE operations as the other evaluators.
    const m = sql`floor(${d.number('e.properties', param(property, 'path'))} * 1000000 + 0.5)`
    const from = sql`FROM events e WHERE ${this.eventsOf('e', f, now)}${this.window('e', within, now)}`
    const test = (expr: Frag, scale: Frag = raw('')) =>
      t.op === 'between'
        ? sql`${expr} >= ${param(micro(t.low), 'numeric')}${scale} AND ${expr} <= ${param(micro(t.high), 'numeric')}${scale}`
        : sql`${expr} ${raw(SQL_OP[t.op])} ${param(micro(t.value), 'numeric')}${scale}`
    switch (fn) {
      case 'sum':
        return sql`(SELECT ${test(sql`COALESCE(${d.sum(m)}, 0)`)} ${from})`
      case 'min':
      case 'max':
        return sql`(SELECT ${test(sql`${raw(fn)}(${m})`)} ${from})`
      case 'avg':
        // avg op x ⇔ sum op x·n, in integers.
        return sql`(SELECT COUNT(${m}) > 0 AND ${test(d.sum(m), sql` * COUNT(${m})`)} ${from})`
    }
  }

  private numberTest(expr: Frag, t: NumberTest, type: ParamType): Frag {
    if (t.op === 'between')
      return sql`${expr} >= ${param(t.low, type)} AND ${expr} <= ${param(t.high, type)}`
    return sql`${expr} ${raw(SQL_OP[t.op])} ${param(t.value, type)}`
  }

  private timeTest(expr: Frag, t: TimeTest, now: number): Frag {
    switch (t.op) {
      case 'older_than':
        return sql`${expr} <= ${param(now - t.duration, 'int')}`
      case 'within_last':
        return sql`${expr} > ${param(now - t.duration, 'int')} AND ${expr} <= ${param(now, 'int')}`
      case 'before':
        return sql`${expr} < ${param(t.instant, 'int')}`
      case 'after':
        return sql`${expr} > ${param(t.instant, 'int')}`
    }
  }

  /** A value test on the JSON value at `path` of `json` (traits or properties). */
  private valueTest(json: string, path: Path, t: ValueTest, now: number): Frag {
    const d = this.dialect
    const at = param(path, 'path')
    const scalar = sql`(${d.isKind(json, at, 'string')} OR ${d.isKind(json, at, 'number')} OR ${d.isKind(json, at, 'boolean')})`
    const anyOf = (values: readonly Scalar[], ignoreCase: boolean) =>
      sql`(${join(
        values.map((v) => this.bool(this.equals(json, at, v, ignoreCase))),
        ' OR ',
      )})`
    switch (t.op) {
      case 'exists':
        return t.value ? d.present(json, at) : sql`NOT (${d.present(json, at)})`
      case 'eq':
        return this.equals(json, at, t.value, t.ignoreCase)
      case 'neq':
        return sql`${scalar} AND NOT ${this.bool(this.equals(json, at, t.value, t.ignoreCase))}`
      case 'in':
        return anyOf(t.values, t.ignoreCase)
      case 'nin':
        return sql`${scalar} AND NOT ${anyOf(t.values, t.ignoreCase)}`
      case 'contains':
      case 'not_contains': {
        const found = this.bool(this.contains(json, at, t.value, t.ignoreCase))
        if (t.op === 'contains') return found
        return sql`(${d.isKind(json, at, 'string')} OR ${d.isKind(json, at, 'array')}) AND NOT ${found}`
      }
      case 'starts_with':
      case 'ends_with': {
        const text = t.ignoreCase ? d.fold(d.text(json, at)) : d.text(json, at)
        const x = param(t.ignoreCase ? foldCase(t.value) : t.value, 'text')
        // Lengths in code points, as SQL counts characters.
        const n = param([...t.value].length, 'length')
        if (t.op === 'starts_with') return sql`substr(${text}, 1, ${n}) = ${x}`
        return sql`length(${text}) >= ${n} AND ${d.right(text, n)} = ${x}`
      }
      case 'gt':
      case 'gte':
      case 'lt':
      case 'lte':
        return sql`${d.number(json, at)} ${raw(SQL_OP[t.op])} ${param(t.value, 'float')}`
      case 'between':
        return sql`${d.number(json, at)} >= ${param(t.low, 'float')} AND ${d.number(json, at)} <= ${param(t.high, 'float')}`
      case 'older_than':
      case 'within_last':
      case 'before':
      case 'after':
        return this.timeTest(this.instant(json, at), t, now)
    }
  }

  /** The value as an instant: epoch ms numbers (truncated) or ISO-8601 text, else NULL. */
  private instant(json: string, at: Frag): Frag {
    const d = this.dialect
    const num = d.number(json, at)
    return sql`(CASE WHEN ${d.isKind(json, at, 'number')} AND abs(${num}) < ${raw(String(MAX_INSTANT))} THEN ${d.truncate(num)} WHEN ${d.isKind(json, at, 'string')} THEN segflow_instant(${d.text(json, at)}) END)`
  }

  private equals(json: string, at: Frag, v: Scalar, ignoreCase: boolean): Frag {
    const d = this.dialect
    if (typeof v === 'boolean') return d.isBoolean(json, at, v)
    if (typeof v === 'number') return sql`${d.number(json, at)} = ${param(v, 'float')}`
    return ignoreCase
      ? sql`${d.fold(d.text(json, at))} = ${param(foldCase(v), 'text')}`
      : sql`${d.text(json, at)} = ${param(v, 'text')}`
  }

  private contains(json: string, at: Frag, v: Scalar, ignoreCase: boolean): Frag {
    const d = this.dialect
    const inArray = d.anyElement(json, at, (e) => {
      if (typeof v === 'boolean') return e.isBoolean(v)
      if (typeof v === 'number') return sql`${e.number} = ${param(v, 'float')}`
      return ignoreCase
        ? sql`${d.fold(e.text)} = ${param(foldCase(v), 'text')}`
        : sql`${e.text} = ${param(v, 'text')}`
    })
    if (typeof v !== 'string') return inArray
    const text = ignoreCase ? d.fold(d.text(json, at)) : d.text(json, at)
    const needle = param(ignoreCase ? foldCase(v) : v, 'text')
    return sql`(${d.position(text, needle)} > 0 OR ${this.bool(inArray)})`
  }
}

export type { CompiledSql, ParamType }
