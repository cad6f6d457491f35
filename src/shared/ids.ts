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

let lastTime = -1
let sequence = 0

/**
 * Like `newId`, and also ordered among ids this process makes in the same millisecond: a
 * counter follows the time (for logs read back in the order they were written).
 */
export function sequentialId(prefix: string, now: number): string {
  if (now === lastTime) sequence++
  else {
    lastTime = now
    sequence = 0
  }
  const id = newId(prefix, now)
  let seq = ''
  let n = sequence
  for (let i = 0; i < 4; i++) {
    seq = ALPHABET[n % 32] + seq
    n = Math.floor(n / 32)
  }
  // prefix_ + 10 time characters, then the counter in place of the first 4 random ones.
  const head = prefix.length + 1 + 10
  return id.slice(0, head) + seq + id.slice(head + 4)
}
