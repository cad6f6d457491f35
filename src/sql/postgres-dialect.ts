import { Dialect } from './compiler.js'
import type { ElementAccess, JsonKind } from './compiler.js'
import { raw, sql } from './fragment.js'
import type { Frag, ParamType } from './fragment.js'

const CASTS: Record<ParamType, string> = {
  text: '::text',
  int: '::bigint',
  float: '::float8',
  path: '::text[]',
  numeric: '::numeric',
  length: '::int',
}

/** PostgreSQL: JSONB columns read with #> / #>> and a text[] path parameter. */
export class PostgresDialect extends Dialect {
  readonly name = 'postgres' as const
  readonly false = 'FALSE'

  placeholder(type: ParamType, index: number): string {
    // Untyped parameters in length($1) and the like are ambiguous to PostgreSQL.
    return `$${index}${CASTS[type]}`
  }

  encode(value: unknown): unknown {
    return value
  }

  isKind(json: string, path: Frag, kind: JsonKind): Frag {
    return sql`jsonb_typeof(${raw(json)} #> ${path}) = ${raw(`'${kind}'`)}`
  }

  present(json: string, path: Frag): Frag {
    return sql`COALESCE(jsonb_typeof(${raw(json)} #> ${path}), 'null') <> 'null'`
  }

  text(json: string, path: Frag): Frag {
    return sql`(CASE WHEN jsonb_typeof(${raw(json)} #> ${path}) = 'string' THEN ${raw(json)} #>> ${path} END)`
  }

  number(json: string, path: Frag): Frag {
    // The cast sits inside the CASE: PostgreSQL does not promise to evaluate an AND's guard first.
    return sql`(CASE WHEN jsonb_typeof(${raw(json)} #> ${path}) = 'number' THEN (${raw(json)} #>> ${path})::float8 END)`
  }

  isBoolean(json: string, path: Frag, b: boolean): Frag {
    return sql`(${raw(json)} #> ${path}) = ${raw(`'${b}'::jsonb`)}`
  }

  fold(expr: Frag): Frag {
    // lower() would fold non-ASCII letters too, by locale; the language folds ASCII only.
    return sql`translate(${expr}, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')`
  }

  position(hay: Frag, needle: Frag): Frag {
    return sql`strpos(${hay}, ${needle})`
  }

  right(s: Frag, n: Frag): Frag {
    return sql`right(${s}, ${n})`
  }

  anyElement(json: string, path: Frag, test: (e: ElementAccess) => Frag): Frag {
    const e: ElementAccess = {
      isKind: (kind) => raw(`jsonb_typeof(j.v) = '${kind}'`),
      text: raw(`(CASE WHEN jsonb_typeof(j.v) = 'string' THEN j.v #>> '{}' END)`),
      number: raw(`(CASE WHEN jsonb_typeof(j.v) = 'number' THEN (j.v #>> '{}')::float8 END)`),
      isBoolean: (b) => raw(`j.v = '${b}'::jsonb`),
    }
    // jsonb_array_elements fails on anything but an array; the CASE keeps others away.
    return sql`(CASE WHEN jsonb_typeof(${raw(json)} #> ${path}) = 'array' THEN EXISTS (SELECT 1 FROM jsonb_array_elements(${raw(json)} #> ${path}) j(v) WHERE ${test(e)}) ELSE FALSE END)`
  }

  truncate(expr: Frag): Frag {
    return sql`trunc(${expr})::bigint`
  }

  sum(expr: Frag): Frag {
    return sql`sum((${expr})::bigint)`
  }

  least(a: Frag, b: Frag): Frag {
    return sql`LEAST(${a}, ${b})`
  }

  greatest(a: Frag, b: Frag): Frag {
    return sql`GREATEST(${a}, ${b})`
  }

  int(expr: Frag): Frag {
    return expr
  }

  pow2(k: Frag): Frag {
    return sql`(1::bigint << (${k})::int)`
  }
}

export const postgresDialect = new PostgresDialect()
