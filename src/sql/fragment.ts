/**
 * SQL built from fragments that carry their own parameters, so a fragment can be placed
 * anywhere, or twice, and its values still bind to the right placeholders. Rendering numbers
 * the placeholders for the dialect.
 */

export type ParamType = 'text' | 'int' | 'float' | 'path' | 'numeric' | 'length'

export interface Param {
  readonly value: unknown
  readonly type: ParamType
}

export class Frag {
  constructor(readonly parts: readonly (string | Param)[]) {}
}

/** A bound value. */
export function param(value: unknown, type: ParamType): Frag {
  return new Frag([{ value, type }])
}

/** Literal SQL text (never user input). */
export function raw(text: string): Frag {
  return new Frag([text])
}

/**
 * Template tag: text is SQL, `${}` holes take fragments.
 * @example sql`${column} = ${param('pro', 'text')}`
 */
export function sql(strings: TemplateStringsArray, ...holes: readonly Frag[]): Frag {
  const parts: (string | Param)[] = []
  strings.forEach((s, i) => {
    if (s !== '') parts.push(s)
    const h = holes[i]
    if (h) parts.push(...h.parts)
  })
  return new Frag(parts)
}

export function join(frags: readonly Frag[], separator: string): Frag {
  const parts: (string | Param)[] = []
  frags.forEach((f, i) => {
    if (i > 0) parts.push(separator)
    parts.push(...f.parts)
  })
  return new Frag(parts)
}

/** A statement with its parameters, bound in order. */
export interface CompiledSql {
  readonly sql: string
  readonly params: readonly unknown[]
}

export function render(
  frag: Frag,
  placeholder: (type: ParamType, index: number) => string,
  encode: (value: unknown, type: ParamType) => unknown,
): CompiledSql {
  let text = ''
  const params: unknown[] = []
  for (const p of frag.parts) {
    if (typeof p === 'string') text += p
    else {
      params.push(encode(p.value, p.type))
      text += placeholder(p.type, params.length)
    }
  }
  return { sql: text, params }
}
