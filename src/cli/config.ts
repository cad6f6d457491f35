import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { DEFAULT_HISTORY_AFTER_MS } from '../engine/engine.js'
import { formatDuration, parseDuration } from '../shared/time.js'

/** Everything segflow reads from the environment, parsed once. README lists each variable. */
export interface Config {
  /** SEGFLOW_PORT, default 8787. */
  readonly port: number
  /** SEGFLOW_HOST, default 127.0.0.1. */
  readonly host: string
  /** SEGFLOW_DATA_DIR, default ./.segflow: the SQLite file lives here. */
  readonly dataDir: string
  /** SEGFLOW_DATABASE_URL: use PostgreSQL instead of SQLite when set. */
  readonly databaseUrl: string | null
  /** SEGFLOW_DATABASE_SCHEMA: PostgreSQL schema for segflow's tables, default the search_path. */
  readonly databaseSchema: string | null
  /** SEGFLOW_SQLITE_SYNCHRONOUS: full (default) or normal. */
  readonly sqliteSynchronous: 'full' | 'normal'
  /** SEGFLOW_WRITE_KEY / SEGFLOW_ADMIN_KEY: the default workspace's keys at first start. */
  readonly writeKey: string | null
  readonly adminKey: string | null
  /** SEGFLOW_LOG_LEVEL, default info. */
  readonly logLevel: string
  /** SEGFLOW_INGEST_QUEUE_LIMIT: messages waiting for commit before 429, default 50000. */
  readonly ingestQueueLimit: number
  /** SEGFLOW_COMMIT_BATCH: most messages per commit, default 5000. */
  readonly commitBatch: number
  /** SEGFLOW_TRUST_PROXY: trust X-Forwarded-* headers, default false. */
  readonly trustProxy: boolean
  /** SEGFLOW_SHUTDOWN_TIMEOUT_MS: longest wait for requests in flight at shutdown, default 10000. */
  readonly shutdownTimeoutMs: number
  /** SEGFLOW_WEBHOOK_ALLOW_PRIVATE: allow webhooks to loopback and private addresses, default false. */
  readonly webhookAllowPrivate: boolean
  /** SEGFLOW_SMTP_URL: the SMTP server email goes through (smtp:// or smtps://); none by default. */
  readonly smtpUrl: string | null
  /** SEGFLOW_EMAIL_FROM: the From address of workspaces that set none, default segflow@localhost. */
  readonly emailFrom: string
  /** SEGFLOW_PUBLIC_URL: the address recipients reach segflow at (tracking and unsubscribe links). */
  readonly publicUrl: string
  /** SEGFLOW_TLS_CERT / SEGFLOW_TLS_KEY: PEM files; when both are set segflow serves HTTPS. */
  readonly tls: { readonly cert: Buffer; readonly key: Buffer } | null
  /**
   * SEGFLOW_RATE_LIMIT_WRITE / SEGFLOW_RATE_LIMIT_ADMIN: requests per second each write or
   * admin key may make (bursts of twice that), beyond which 429 with Retry-After; 0 (the
   * default) for no limit.
   */
  readonly rateLimitWrite: number
  readonly rateLimitAdmin: number
  /** SEGFLOW_SECRET_KEY: encrypts destination credentials (webhook secrets) at rest. */
  readonly secretKey: string | null
  /** SEGFLOW_RENDER_TIMEOUT_MS: longest one template render may take, default 500. */
  readonly renderTimeoutMs: number
  /** SEGFLOW_RENDER_MEMORY_MB: heap of each template render worker, default 64. */
  readonly renderMemoryMb: number
  /** SEGFLOW_RENDER_WORKERS: template render worker threads, default 2. */
  readonly renderWorkers: number
  /**
   * SEGFLOW_HISTORY_AFTER: how old a message (its newest timestamp) or a timer may be when
   * processed and still count as live; older ones make historical transitions, which
   * automations skip by default. Default 24h.
   */
  readonly historyAfterMs: number
  /** SEGFLOW_SESSION_IDLE: a login session unused this long ends, default 2h. */
  readonly sessionIdleMs: number
  /** SEGFLOW_SESSION_MAX: a login session ends this long after login however used, default 7d. */
  readonly sessionMaxMs: number
}

function pemFile(env: NodeJS.ProcessEnv, name: string): Buffer {
  const path = env[name]!
  try {
    const pem = readFileSync(path)
    if (!pem.toString('utf8').includes('-----BEGIN'))
      throw new Error('it is not a PEM file (no -----BEGIN line)')
    return pem
  } catch (e) {
    throw new ConfigError(`${name}=${JSON.stringify(path)} cannot be used: ${(e as Error).message}`)
  }
}

function tlsFiles(env: NodeJS.ProcessEnv): Config['tls'] {
  const cert = str(env, 'SEGFLOW_TLS_CERT')
  const key = str(env, 'SEGFLOW_TLS_KEY')
  if (cert === null && key === null) return null
  if (cert === null || key === null)
    throw new ConfigError(
      `set both SEGFLOW_TLS_CERT and SEGFLOW_TLS_KEY for HTTPS (only ${cert === null ? 'SEGFLOW_TLS_KEY' : 'SEGFLOW_TLS_CERT'} is set)`,
    )
  return { cert: pemFile(env, 'SEGFLOW_TLS_CERT'), key: pemFile(env, 'SEGFLOW_TLS_KEY') }
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError'
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']

function int(
  env: NodeJS.ProcessEnv,
  name: string,
  fallback: number,
  min: number,
  max: number,
): number {
  const raw = env[name]
  if (raw === undefined || raw === '') return fallback
  const n = Number(raw)
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new ConfigError(
      `${name}=${JSON.stringify(raw)} must be a whole number from ${min} to ${max}`,
    )
  }
  return n
}

function oneOf<T extends string>(
  env: NodeJS.ProcessEnv,
  name: string,
  options: readonly T[],
  fallback: T,
): T {
  const raw = env[name]
  if (raw === undefined || raw === '') return fallback
  const v = raw.toLowerCase() as T
  if (!options.includes(v))
    throw new ConfigError(`${name}=${JSON.stringify(raw)} must be one of ${options.join(', ')}`)
  return v
}

/** A duration like `30m`, `2h` or `7d` (shared/time.ts), within [min, max]. */
function duration(
  env: NodeJS.ProcessEnv,
  name: string,
  fallback: string,
  min: number,
  max: number,
): number {
  const raw = env[name]
  if (raw === undefined || raw === '') return parseDuration(fallback)!
  const ms = parseDuration(raw.trim())
  if (ms === null || ms < min || ms > max)
    throw new ConfigError(
      `${name}=${JSON.stringify(raw)} must be a duration from ${formatDuration(min)} to ${formatDuration(max)}, like 30m, 2h or 7d`,
    )
  return ms
}

function str(env: NodeJS.ProcessEnv, name: string): string | null {
  const raw = env[name]
  return raw === undefined || raw === '' ? null : raw
}

/** Reads the configuration; throws ConfigError naming the variable that is wrong. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  return {
    port: int(env, 'SEGFLOW_PORT', 8787, 0, 65535),
    host: str(env, 'SEGFLOW_HOST') ?? '127.0.0.1',
    dataDir: resolve(str(env, 'SEGFLOW_DATA_DIR') ?? '.segflow'),
    databaseUrl: url(
      env,
      'SEGFLOW_DATABASE_URL',
      ['postgres:', 'postgresql:'],
      'postgres://user@host:5432/db',
    ),
    databaseSchema: schemaName(env),
    sqliteSynchronous: oneOf(
      env,
      'SEGFLOW_SQLITE_SYNCHRONOUS',
      ['full', 'normal'] as const,
      'full',
    ),
    writeKey: str(env, 'SEGFLOW_WRITE_KEY'),
    adminKey: str(env, 'SEGFLOW_ADMIN_KEY'),
    logLevel: oneOf(env, 'SEGFLOW_LOG_LEVEL', LOG_LEVELS, 'info'),
    ingestQueueLimit: int(env, 'SEGFLOW_INGEST_QUEUE_LIMIT', 50_000, 1, 10_000_000),
    commitBatch: int(env, 'SEGFLOW_COMMIT_BATCH', 5_000, 1, 100_000),
    trustProxy: oneOf(env, 'SEGFLOW_TRUST_PROXY', ['true', 'false'] as const, 'false') === 'true',
    shutdownTimeoutMs: int(env, 'SEGFLOW_SHUTDOWN_TIMEOUT_MS', 10_000, 0, 600_000),
    smtpUrl: url(env, 'SEGFLOW_SMTP_URL', ['smtp:', 'smtps:'], 'smtp://user:pass@host:587'),
    emailFrom: str(env, 'SEGFLOW_EMAIL_FROM') ?? 'segflow@localhost',
    publicUrl: (
      url(env, 'SEGFLOW_PUBLIC_URL', ['http:', 'https:'], 'https://segflow.example.com') ??
      `http://${str(env, 'SEGFLOW_HOST') ?? '127.0.0.1'}:${int(env, 'SEGFLOW_PORT', 8787, 0, 65535)}`
    ).replace(/\/+$/, ''),
    webhookAllowPrivate:
      oneOf(env, 'SEGFLOW_WEBHOOK_ALLOW_PRIVATE', ['true', 'false'] as const, 'false') === 'true',
    tls: tlsFiles(env),
    rateLimitWrite: int(env, 'SEGFLOW_RATE_LIMIT_WRITE', 0, 0, 10_000_000),
    rateLimitAdmin: int(env, 'SEGFLOW_RATE_LIMIT_ADMIN', 0, 0, 10_000_000),
    secretKey: secretKey(env),
    renderTimeoutMs: int(env, 'SEGFLOW_RENDER_TIMEOUT_MS', 500, 10, 600_000),
    renderMemoryMb: int(env, 'SEGFLOW_RENDER_MEMORY_MB', 64, 16, 16_384),
    renderWorkers: int(env, 'SEGFLOW_RENDER_WORKERS', 2, 1, 64),
    historyAfterMs: duration(
      env,
      'SEGFLOW_HISTORY_AFTER',
      formatDuration(DEFAULT_HISTORY_AFTER_MS),
      60_000,
      365 * 86_400_000,
    ),
    ...sessionLimits(env),
  }
}

function sessionLimits(env: NodeJS.ProcessEnv): Pick<Config, 'sessionIdleMs' | 'sessionMaxMs'> {
  const sessionIdleMs = duration(env, 'SEGFLOW_SESSION_IDLE', '2h', 60_000, 30 * 86_400_000)
  const sessionMaxMs = duration(env, 'SEGFLOW_SESSION_MAX', '7d', 60_000, 365 * 86_400_000)
  if (sessionMaxMs < sessionIdleMs)
    throw new ConfigError(
      `SEGFLOW_SESSION_MAX (${formatDuration(sessionMaxMs)}) must not be shorter than SEGFLOW_SESSION_IDLE (${formatDuration(sessionIdleMs)})`,
    )
  return { sessionIdleMs, sessionMaxMs }
}

/** A URL variable: parseable, and with one of `schemes`; the example shows the expected shape. */
function url(
  env: NodeJS.ProcessEnv,
  name: string,
  schemes: readonly string[],
  example: string,
): string | null {
  const raw = str(env, name)
  if (raw === null) return null
  let u: URL
  try {
    u = new URL(raw)
  } catch {
    throw new ConfigError(
      `${name}=${JSON.stringify(raw)} is not a URL; expected one like ${example}`,
    )
  }
  if (!schemes.includes(u.protocol))
    throw new ConfigError(
      `${name}=${JSON.stringify(raw)} must start with ${schemes.map((x) => `${x}//`).join(' or ')} (like ${example}), not ${u.protocol}//`,
    )
  return raw
}

function schemaName(env: NodeJS.ProcessEnv): string | null {
  const raw = str(env, 'SEGFLOW_DATABASE_SCHEMA')
  if (raw !== null && !/^[a-z_][a-z0-9_]{0,62}$/.test(raw))
    throw new ConfigError(
      `SEGFLOW_DATABASE_SCHEMA=${JSON.stringify(raw)} must be lower-case letters, digits and underscores (at most 63, not starting with a digit)`,
    )
  return raw
}

function secretKey(env: NodeJS.ProcessEnv): string | null {
  const key = str(env, 'SEGFLOW_SECRET_KEY')
  if (key !== null && key.length < 16)
    throw new ConfigError(
      'SEGFLOW_SECRET_KEY must be at least 16 characters (e.g. `openssl rand -base64 32`)',
    )
  return key
}
