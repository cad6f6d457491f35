import { buildProgram } from '../../src/cli/main.js'
import type { Output } from '../../src/cli/commands.js'

/** Runs a segflow command in-process and returns what it printed. */
export async function cli(args: string[], env: Record<string, string>) {
  const out: string[] = []
  const err: string[] = []
  const output: Output = { out: (l) => out.push(l), err: (l) => err.push(l), interactive: false }
  await buildProgram(output, env).parseAsync(['node', 'segflow', ...args])
  return { out: out.join('\n'), err: err.join('\n') }
}
