import { randomBytes } from 'node:crypto'

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz' // Crockford base32, lower case

/**
 * A time-ordered, collision-resistant id: `prefix_` + 10 characters of milliseconds + 16 random.
 * Ordering by id orders by creation time, which keeps B-tree inserts local.
 * @example newId('prf', clock.now()) // 'prf_01jd3k8x9a4f7q2m0c5z8w1r6t'
 */
export function newId(prefix: string, now: number): string {
  let time = ''
  let t = now
  for (let i = 0; i < 10; i++) {
    time = ALPHABET[t % 32] + time
    t = Math.floor(t / 32)
  }
  const bytes = randomBytes(16)
  let rand = ''
  for (const b of bytes) rand += ALPHABET[b % 32]
  return `${prefix}_${time}${rand}`
}
