import { execFile } from 'node:child_process'
import { chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)

/** PostgreSQL's own programs: Debian keeps them under the versioned directory. */
function bin(name: string): string {
  for (const dir of ['/usr/lib/postgresql/15/bin', '/usr/local/bin', '/usr/bin']) {
    const path = join(dir, name)
    if (existsSync(path)) return path
  }
  return name
}

/** PostgreSQL refuses to run as root: as root, run its programs as the postgres user. */
function asPostgres(file: string, args: string[]): [string, string[]] {
  if (process.getuid?.() === 0) return ['runuser', ['-u', 'postgres', '--', file, ...args]]
  return [file, args]
}

async function pgRun(name: string, args: string[]): Promise<string> {
  const [file, argv] = asPostgres(bin(name), args)
  try {
    const { stdout } = await run(file, argv, { timeout: 60_000 })
    return stdout
  } catch (e) {
    const err = e as { stderr?: string; message: string }
    throw new Error(`${name} ${args.join(' ')} failed: ${err.stderr ?? err.message}`)
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address()
      const port = typeof address === 'object' && address ? address.port : 0
      srv.close(() => resolve(port))
    })
  })
}

/**
 * A PostgreSQL cluster of the test's own (initdb into a temp folder, its own port), so a test
 * can stop and start the database under a running segflow without touching the shared server.
 */
export class PgCluster {
  private constructor(
    readonly dir: string,
    readonly port: number,
  ) {}

  /** `postgres://postgres@127.0.0.1:PORT/postgres`. */
  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`
  }

  static async create(): Promise<PgCluster> {
    const dir = mkdtempSync(join(tmpdir(), 'segflow-pg-'))
    if (process.getuid?.() === 0) {
      const { stdout } = await run('id', ['-u', 'postgres'])
      const { stdout: gid } = await run('id', ['-g', 'postgres'])
      chownSync(dir, Number(stdout.trim()), Number(gid.trim()))
    }
    const cluster = new PgCluster(dir, await freePort())
    await pgRun('initdb', ['-D', join(dir, 'data'), '-U', 'postgres', '--auth=trust', '-E', 'UTF8'])
    await cluster.start()
    return cluster
  }

  async start(): Promise<void> {
    await pgRun('pg_ctl', [
      '-D',
      join(this.dir, 'data'),
      '-l',
      join(this.dir, 'log'),
      '-o',
      `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c fsync=off`,
      '-w',
      'start',
    ])
  }

  /** Stops the server: `immediate` is a crash (no checkpoint, every backend killed). */
  async stop(mode: 'immediate' | 'fast' | 'smart' = 'fast'): Promise<void> {
    await pgRun('pg_ctl', ['-D', join(this.dir, 'data'), '-m', mode, '-w', 'stop'])
  }

  async destroy(): Promise<void> {
    await this.stop('immediate').catch(() => undefined)
    rmSync(this.dir, { recursive: true, force: true })
  }
}
