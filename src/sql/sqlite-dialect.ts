import type { Path } from '../rules/types.js'
import { Dialect } from './compiler.js'
import type { ElementAccess, JsonKind } from './compiler.js'
import { raw, sql } from './fragment.js'
import type { Frag, ParamType } from './fragment.js'

const KINDS: Record<JsonKind, string> = {
  string: "= 'text'",
  number: "IN ('integer', 'real')",
  boolean: "IN ('true', 'false')",
  array: "= 'array'",
}

/** SQLite: JSON text columns read with json_type / json_extract and a JSON path parameter. */
export class SqliteDialect extends Dialect {
  readonly name = 'sqlite' as const
  readonly false = '0'

  placeholder(): string {
    return '?'
  }

  encode(value: unknown, type: ParamType): unknown {
    // Path keys hold no quote or backslash (rules/parse.ts), so quoting each is enough.
    if (type === 'path') return `$${(value as Path).map((k) => `."${k}"`).join('')}`
    return value
  }

  isKind(json: string, path: Frag, kind: JsonKind): Frag {
    return sql`json_type(${raw(json)}, ${path}) ${raw(KINDS[kind])}`
  }

  present(json: string, path: Frag): Frag {
    return sql`COALESCE(json_type(${raw(json)}, ${path}), 'null') <> 'null'`
  }

  text(json: string, path: Frag): Frag {
    return sql`(CASE WHEN json_type(${raw(json)}, ${path}) = 'text' THEN json_extract(${raw(json)}, ${path}) END)`
  }

  number(json: string, path: Frag): Frag {
    return sql`(CASE WHEN json_type(${raw(json)}, ${path}) IN ('integer', 'real') THEN json_extract(${raw(json)}, ${path}) END)`
  }

  isBoolean(json: string, path: Frag, b: boolean): Frag {
    return sql`json_type(${raw(json)}, ${path}) = ${raw(b ? "'true'" : "'false'")}`
  }

  fold(expr: Frag): Frag {
    // The built-in lower() folds ASCII letters only: exactly the language's ignore_case.
    return sql`lower(${expr})`
  }

  position(hay: Frag, needle: Frag): Frag {
    return sql`instr(${hay}, ${needle})`
  }

  right(s: Frag, n: Frag): Frag {
    return sql`substr(${s}, -${n})`
  }

  anyElement(json: string, path: Frag, test: (e: ElementAccess) => Frag): Frag {
    const e: ElementAccess = {
      isKind: (kind) => sql`j.type ${raw(KINDS[kind])}`,
      text: raw(`(CASE WHEN j.type = 'text' THEN j.value END)`),
      number: raw(`(CASE WHEN j.type IN ('integer', 'real') THEN j.value END)`),
      isBoolean: (b) => raw(`j.type = '${b ? 'true' : 'false'}'`),
    }
    // json_each walks objects and scalars too: only an array counts.
    return sql`(json_type(${raw(json)}, ${path}) = 'array' AND EXISTS (SELECT 1 FROM json_each(${raw(json)}, ${path}) j WHERE ${test(e)}))`
  }

  truncate(expr: Frag): Frag {
    return sql`CAST(${expr} AS INTEGER)`
  }

  sum(expr: Frag): Frag {
    // total() is a double that never overflows; it is exact while sums stay under 2^53.
    return sql`total(${expr})`
  }

  least(a: Frag, b: Frag): Frag {
    return sql`min(${a}, ${b})`
  }

  greatest(a: Frag, b: Frag): Frag {
    return sql`max(${a}, ${b})`
  }

  int(expr: Frag): Frag {
    return sql`CAST(${expr} AS INTEGER)`
  }

  pow2(k: Frag): Frag {
    return sql`(1 << ${k})`
  }
}

export const sqliteDialect = new SqliteDialect()
