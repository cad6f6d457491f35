import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto'
import type { ScryptOptions } from 'node:crypto'

/** Shortest password accepted. Length is what makes a password hard to guess. */
export const MIN_PASSWORD_LENGTH = 12
/** Longest: scrypt reads all of it, and nobody types more. */
export const MAX_PASSWORD_LENGTH = 1024

/**
 * scrypt's cost: N = 2^15, r = 8, p = 1 (32 MiB and about 100 ms a hash on a server core).
 * Stored with each hash, so raising it later leaves existing hashes verifiable.
 */
const COST = { N: 32_768, r: 8, p: 1 } as const
const KEY_LENGTH = 32
const SALT_BYTES = 16

function derive(password: string, salt: Buffer, cost: ScryptOptions, length: number) {
  return new Promise<Buffer>((resolve, reject) =>
    scrypt(
      password.normalize('NFC'),
      salt,
      length,
      // 128·N·r bytes are needed; twice that leaves room.
      { ...cost, maxmem: 256 * (cost.N ?? 0) * (cost.r ?? 0) + 1024 * 1024 },
      (err, key) => (err ? reject(err) : resolve(key)),
    ),
  )
}

/**
 * `scrypt$N=32768,r=8,p=1$<salt>$<hash>` (base64url), with a fresh random salt.
 * @example const stored = await hashPassword('correct horse battery')
 */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SALT_BYTES)
  const key = await derive(password, salt, COST, KEY_LENGTH)
  const params = `N=${COST.N},r=${COST.r},p=${COST.p}`
  return `scrypt$${params}$${salt.toString('base64url')}$${key.toString('base64url')}`
}

/** A hash of nothing anyone knows: verified against when there is no user, to take as long. */
let dummy: Promise<string> | null = null
export function dummyHash(): Promise<string> {
  dummy ??= hashPassword(randomBytes(18).toString('base64url'))
  return dummy
}

/** Whether `password` matches `stored` (compared in constant time); false for a malformed hash. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const m = /^scrypt\$N=(\d+),r=(\d+),p=(\d+)\$([A-Za-z0-9_-]+)\$([A-Za-z0-9_-]+)$/.exec(stored)
  if (!m) return false
  const [N, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])]
  const salt = Buffer.from(m[4]!, 'base64url')
  const expected = Buffer.from(m[5]!, 'base64url')
  if (expected.length < 16) return false
  const actual = await derive(password, salt, { N, r, p }, expected.length)
  return timingSafeEqual(actual, expected)
}

/** What is wrong with a new password, or null. */
export function passwordProblem(password: unknown): string | null {
  if (typeof password !== 'string') return 'must be a string'
  const length = [...password].length
  if (length < MIN_PASSWORD_LENGTH)
    return `must be at least ${MIN_PASSWORD_LENGTH} characters long (it has ${length})`
  if (length > MAX_PASSWORD_LENGTH) return `must be at most ${MAX_PASSWORD_LENGTH} characters long`
  return null
}
