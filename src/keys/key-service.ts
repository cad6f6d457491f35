import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type { Clock } from '../shared/clock.js'
import { SegflowError } from '../shared/errors.js'
import { newId } from '../shared/ids.js'
import type { ApiKeyRecord, KeyKind, Store } from '../store/store.js'
import { RateLimiter } from './rate-limit.js'
import type { AuditLog } from '../privacy/index.js'

export const DEFAULT_WORKSPACE = 'default'

/** SHA-256, hex. Keys are long random strings, so a fast hash is the right one (no salt). */
export function hashKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex')
}

/** A new random key: `sfw_` (write) or `sfa_` (admin) and 32 base64url characters. */
export function generateKey(kind: KeyKind): string {
  return `${kind === 'write' ? 'sfw' : 'sfa'}_${randomBytes(24).toString('base64url')}`
}

export interface KeyServiceOptions {
  /**
   * How long a key looked up stays cached in memory. A key revoked by another process
   * stops working within this time; revoked here, at once. Default 5,000 ms.
   */
  readonly cacheTtlMs?: number
  /** Requests per second each key may make, by kind; 0 or absent: no limit. */
  readonly rateLimits?: { readonly write: number; readonly admin: number }
  /** Where key changes are recorded (the audit log); none: not recorded. */
  readonly audit?: Pick<AuditLog, 'record'>
}

export interface CreatedKey {
  readonly record: ApiKeyRecord
  /** The key itself: shown once, never stored. */
  readonly key: string
}

interface CacheEntry {
  readonly record: ApiKeyRecord | null
  readonly expires: number
}

/**
 * Write and admin keys: creation, hashing, look-up with a short cache (every ingest request
 * authenticates), revocation and the first-start bootstrap.
 */
export class KeyService {
  private readonly cache = new Map<string, CacheEntry>()
  private readonly ttl: number

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly options: KeyServiceOptions = {},
  ) {
    this.ttl = options.cacheTtlMs ?? 5_000
    this.limits = {
      write: new RateLimiter(options.rateLimits?.write ?? 0, clock),
      admin: new RateLimiter(options.rateLimits?.admin ?? 0, clock),
    }
  }

  private readonly limits: Record<KeyKind, RateLimiter>

  /** The live key record for `key`, or null when unknown or revoked. */
  async authenticate(key: string): Promise<ApiKeyRecord | null> {
    const hash = hashKey(key)
    const now = this.clock.now()
    let entry = this.cache.get(hash)
    if (!entry || entry.expires <= now) {
      entry = { record: await this.store.findApiKeyByHash(hash), expires: now + this.ttl }
      if (this.cache.size > 10_000) this.cache.clear()
      this.cache.set(hash, entry)
    }
    const record = entry.record
    if (!record || record.revokedAt !== null) return null
    // The row was found by its hash; compare again in constant time so that no code path
    // branches on how much of a guessed key matched.
    const a = Buffer.from(record.hash, 'hex')
    const b = Buffer.from(hash, 'hex')
    return a.length === b.length && timingSafeEqual(a, b) ? record : null
  }

  /**
   * The key record when `key` is a live key of `kind`; otherwise throws `invalid_key` (401)
   * or `forbidden` (403: a live key of the other kind).
   */
  async require(key: string, kind: KeyKind): Promise<ApiKeyRecord> {
    const record = await this.authenticate(key)
    if (!record)
      throw new SegflowError('invalid_key', `the ${kind} key is not valid (unknown or revoked)`)
    if (record.kind !== kind) {
      throw new SegflowError(
        'forbidden',
        kind === 'write'
          ? 'this is an admin key; the tracking API takes a write key'
          : 'write keys can only ingest; the admin API needs an admin key',
      )
    }
    this.limits[kind].take(record.id, kind)
    return record
  }

  async create(input: {
    workspaceId: string
    kind: KeyKind
    name?: string
    key?: string
    /** Who asks, for the audit log: `cli` (the default) or `bootstrap`. */
    actor?: string
  }): Promise<CreatedKey> {
    const ws = await this.store.getWorkspace(input.workspaceId)
    if (!ws)
      throw new SegflowError(
        'workspace_not_found',
        `workspace ${JSON.stringify(input.workspaceId)} does not exist`,
      )
    const key = input.key ?? generateKey(input.kind)
    if (key.length < 8)
      throw new SegflowError('invalid_request', 'a key must be at least 8 characters long')
    const now = this.clock.now()
    const record: ApiKeyRecord = {
      id: newId('key', now),
      workspaceId: input.workspaceId,
      kind: input.kind,
      name: input.name ?? `${input.kind} key`,
      hash: hashKey(key),
      prefix: key.slice(0, Math.min(8, Math.floor(key.length / 2))),
      createdAt: now,
      revokedAt: null,
    }
    await this.store.insertApiKey(record)
    await this.options.audit?.record({
      workspaceId: record.workspaceId,
      actor: input.actor ?? 'cli',
      action: `key.create ${record.kind}`,
      target: record.id,
      status: 0,
    })
    return { record, key }
  }

  async revoke(id: string): Promise<ApiKeyRecord> {
    const record = await this.store.getApiKey(id)
    if (!record) throw new SegflowError('key_not_found', `no key with id ${JSON.stringify(id)}`)
    if (record.revokedAt === null) {
      await this.store.revokeApiKey(id, this.clock.now())
      await this.options.audit?.record({
        workspaceId: record.workspaceId,
        actor: 'cli',
        action: `key.revoke ${record.kind}`,
        target: record.id,
        status: 0,
      })
    }
    this.cache.delete(record.hash)
    return (await this.store.getApiKey(id)) ?? record
  }

  list(workspaceId?: string): Promise<ApiKeyRecord[]> {
    return this.store.listApiKeys(workspaceId)
  }

  /**
   * First start: make sure the default workspace exists and has a write and an admin key.
   * Keys given in the environment are registered (once; a revoked one stays revoked);
   * otherwise missing keys are generated and returned so the caller can print them once.
   */
  async bootstrap(
    env: { writeKey?: string; adminKey?: string },
    options: { generate?: boolean } = {},
  ): Promise<CreatedKey[]> {
    await this.store.ensureWorkspace({
      id: DEFAULT_WORKSPACE,
      name: 'Default',
      createdAt: this.clock.now(),
    })
    const existing = await this.store.listApiKeys(DEFAULT_WORKSPACE)
    const created: CreatedKey[] = []
    for (const kind of ['write', 'admin'] as const) {
      const given = kind === 'write' ? env.writeKey : env.adminKey
      if (given !== undefined && given !== '') {
        const found = await this.store.findApiKeyByHash(hashKey(given))
        if (found && found.kind !== kind) {
          throw new SegflowError(
            'invalid_request',
            `SEGFLOW_${kind.toUpperCase()}_KEY is already registered as ${found.kind === 'admin' ? 'an' : 'a'} ${found.kind} key`,
          )
        }
        if (!found)
          await this.create({
            workspaceId: DEFAULT_WORKSPACE,
            kind,
            key: given,
            name: `SEGFLOW_${kind.toUpperCase()}_KEY`,
            actor: 'bootstrap',
          })
      } else if (options.generate !== false && !existing.some((k) => k.kind === kind)) {
        created.push(
          await this.create({
            workspaceId: DEFAULT_WORKSPACE,
            kind,
            name: `first ${kind} key`,
            actor: 'bootstrap',
          }),
        )
      }
    }
    return created
  }
}
