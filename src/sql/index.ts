export { RuleCompiler, Dialect } from './compiler.js'
export type { ElementAccess, JsonKind, SqlSegmentResolver } from './compiler.js'
export { Frag, join, param, raw, render, sql } from './fragment.js'
export type { CompiledSql, ParamType } from './fragment.js'
export { SqliteDialect, sqliteDialect } from './sqlite-dialect.js'
export { PostgresDialect, postgresDialect } from './postgres-dialect.js'

import type { Dialect } from './compiler.js'
import { postgresDialect } from './postgres-dialect.js'
import { sqliteDialect } from './sqlite-dialect.js'

/** The dialect of a store kind. */
export function dialectFor(kind: 'sqlite' | 'postgres'): Dialect {
  return kind === 'sqlite' ? sqliteDialect : postgresDialect
}
export { profileValues, COMPUTED_COLUMNS } from './values.js'
