import { createCipheriv, createDecipheriv, randomBytes, scryptSync } from 'node:crypto'

/** Seals and opens credentials stored at rest (webhook signing secrets). */
export interface Sealer {
  seal(plain: string): string
  open(stored: string): string
  readonly encrypting: boolean
}

const PREFIX = 'enc:v1:'

/** Whether a stored value is sealed (as opposed to written before a key was set). */
export function isSealed(stored: string): boolean {
  return stored.startsWith(PREFIX)
}

/** No key: values are stored as they are; a sealed value cannot be read. */
export const PLAINTEXT: Sealer = {
  encrypting: false,
  seal: (plain) => plain,
  open: (stored) => {
    if (isSealed(stored))
      throw new Error(
        'stored credentials are encrypted: set SEGFLOW_SECRET_KEY to the key they were encrypted with',
      )
    return stored
  },
}

/**
 * AES-256-GCM with a key derived from SEGFLOW_SECRET_KEY by scrypt: `enc:v1:` + IV, tag and
 * ciphertext in base64url. A value written before the key was set is read as it is (and
 * sealed when next written); a value sealed with another key fails to open, clearly.
 */
export function secretSealer(secretKey: string): Sealer {
  const key = scryptSync(secretKey, 'segflow/credentials/v1', 32)
  return {
    encrypting: true,
    seal(plain) {
      const iv = randomBytes(12)
      const cipher = createCipheriv('aes-256-gcm', key, iv)
      const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()])
      const tag = cipher.getAuthTag()
      return `${PREFIX}${iv.toString('base64url')}:${tag.toString('base64url')}:${body.toString('base64url')}`
    },
    open(stored) {
      if (!isSealed(stored)) return stored
      const [iv, tag, body] = stored.slice(PREFIX.length).split(':')
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv!, 'base64url'))
        decipher.setAuthTag(Buffer.from(tag!, 'base64url'))
        return Buffer.concat([
          decipher.update(Buffer.from(body!, 'base64url')),
          decipher.final(),
        ]).toString('utf8')
      } catch {
        throw new Error(
          'SEGFLOW_SECRET_KEY does not open the stored credentials: they were encrypted with another key',
        )
      }
    },
  }
}
