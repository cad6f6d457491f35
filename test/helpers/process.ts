import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const BIN = fileURLToPath(new URL('./segflow-bin.ts', import.meta.url))
const ROOT = fileURLToPath(new URL('../..', import.meta.url))
// tsx by path, so a command run from another folder (a README example's) still finds it.
const TSX = fileURLToPath(new URL('../../node_modules/tsx/dist/loader.mjs', import.meta.url))

export interface SegflowProcess {
  readonly child: ChildProcess
  readonly url: string
  /** Everything the process wrote so far. */
  output(): string
  /** Resolves with the exit code (or signal) once the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

/** The shell command that runs `segflow <args>` from source (for `script` and the like). */
export function segflowCommandLine(args: string[]): string {
  const quote = (a: string) => `'${a.replaceAll("'", `'\\''`)}'`
  return [process.execPath, '--import', TSX, BIN, ...args].map(quote).join(' ')
}

/** Runs `segflow <args>` from source in a child process. */
export function runSegflow(args: string[], env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', BIN, ...args], {
    cwd: ROOT,
    env: { ...process.env, SEGFLOW_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
}

/** Starts `segflow serve` on a free port and waits until it listens. */
export async function startSegflowProcess(env: Record<string, string>): Promise<SegflowProcess> {
  const child = runSegflow(['serve'], { SEGFLOW_PORT: '0', ...env })
  let text = ''
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  )
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`segflow did not start:\n${text}`)), 20_000)
    const onData = (chunk: Buffer) => {
      text += chunk.toString()
      const m = /"url":"(http:\/\/[^"]+)".*segflow is listening/.exec(text)
      if (m) {
        clearTimeout(timer)
        resolve(m[1]!)
      }
    }
    child.stdout!.on('data', onData)
    child.stderr!.on('data', onData)
    void exited.then(() => {
      clearTimeout(timer)
      reject(new Error(`segflow exited before listening:\n${text}`))
    })
  })
  return { child, url, output: () => text, exited }
}
