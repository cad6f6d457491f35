/**
 * One line for the failures a person running segflow can fix themselves — a folder that
 * cannot be written, a file that is not there, a port taken — instead of a stack trace. Null
 * for anything else: a bug, which keeps its stack.
 */
export function systemErrorLine(e: unknown, env: NodeJS.ProcessEnv = {}): string | null {
  if (!(e instanceof Error)) return null
  const err = e as Error & { code?: unknown; path?: unknown; syscall?: unknown; port?: unknown }
  const code = typeof err.code === 'string' ? err.code : ''
  const path = typeof err.path === 'string' ? err.path : null
  const dataDir = env.SEGFLOW_DATA_DIR ?? './.segflow'
  const where = path === null ? '' : ` ${path}`
  switch (code) {
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
      if (err.syscall === 'listen' || err.syscall === 'bind')
        return `not allowed to listen on port ${String(err.port ?? '')} (${code}); choose a port above 1023 with SEGFLOW_PORT`
      return `cannot write${where} (${code}: ${reason(code)}); segflow keeps its data in SEGFLOW_DATA_DIR (now ${dataDir}): point it at a folder this user may write`
    case 'ENOTDIR':
      return `cannot use${where}: a part of that path is a file, not a folder (ENOTDIR); check SEGFLOW_DATA_DIR (now ${dataDir})`
    case 'ENOENT':
      return `no such file or folder:${where || ' (unnamed)'}`
    case 'EISDIR':
      return `${path ?? 'that path'} is a folder; a file was expected`
    case 'ENOSPC':
      return `no space left on the device${path === null ? '' : ` holding ${path}`} (ENOSPC)`
    case 'EADDRINUSE':
      return `port ${String(err.port ?? '')} is already in use (EADDRINUSE): stop what is listening there or set SEGFLOW_PORT to another port`
    case 'EADDRNOTAVAIL':
      return `cannot listen on ${String((err as { address?: unknown }).address ?? env.SEGFLOW_HOST ?? '')} (EADDRNOTAVAIL): SEGFLOW_HOST must be an address of this machine`
    case 'ECONNREFUSED':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH': {
      const target = [
        (err as { address?: unknown }).address ?? (err as { hostname?: unknown }).hostname,
        err.port,
      ]
        .filter((x) => x !== undefined && x !== null)
        .join(':')
      const what = env.SEGFLOW_DATABASE_URL
        ? 'PostgreSQL at SEGFLOW_DATABASE_URL'
        : target || 'the server'
      return `cannot reach ${what}${target ? ` (${target})` : ''}: ${code === 'ECONNREFUSED' ? 'connection refused' : code === 'ENOTFOUND' ? 'no such host' : code}; is it running, and is the address right?`
    }
    case 'SQLITE_CANTOPEN':
      return `cannot open the database in ${dataDir} (${err.message}); check SEGFLOW_DATA_DIR and its permissions`
    case 'SQLITE_READONLY':
      return `the database in ${dataDir} is read-only (${err.message}); check its permissions`
    case 'SQLITE_CORRUPT':
    case 'SQLITE_NOTADB':
      return `the file in ${dataDir} is not a usable segflow database (${err.message})`
    default:
      // PostgreSQL refusing the login or the database (SQLSTATE classes 28 and 3D).
      if (/^(28|3D)[0-9A-Z]{3}$/.test(code) && env.SEGFLOW_DATABASE_URL)
        return `PostgreSQL refused SEGFLOW_DATABASE_URL: ${err.message} (${code})`
      return null
  }
}

function reason(code: string): string {
  return code === 'EROFS' ? 'read-only file system' : 'permission denied'
}
