import { Agent as HttpAgent, request as httpRequest } from 'node:http'
import type { IncomingMessage } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import { isIP } from 'node:net'
import { connectLookup, dnsResolver, nonPublicReason, notPublic } from './targets.js'
import type { Resolver } from './targets.js'

/** The outcome of one HTTP attempt. */
export interface SendResult {
  /** The status, or null when no response came (refused, reset, timed out, not public). */
  readonly status: number | null
  readonly retryAfter: string | null
  readonly error: string | null
}

/** How deliveries leave: real HTTP in production, and in tests (to real local servers). */
export interface Sender {
  post(
    url: string,
    headers: Record<string, string>,
    body: string,
    timeoutMs: number,
    /** Aborts the request (a shutdown deadline); the result then says so in `error`. */
    signal?: AbortSignal,
  ): Promise<SendResult>
  /** Lets go of idle connections. */
  close?(): void
}

export interface HttpSenderOptions {
  /** Connect to loopback and private addresses too (SEGFLOW_WEBHOOK_ALLOW_PRIVATE). Default false. */
  readonly allowPrivate?: boolean
  /** Resolves host names at connect time. Default: dns.lookup. */
  readonly resolve?: Resolver
}

/**
 * HTTP POST that never follows redirects (a 3xx is a failure), with a timeout, and that
 * connects only to public addresses: the address is checked in the socket's own lookup (and
 * for a literal IP before connecting), so the check is on the address actually connected to,
 * not on an earlier answer a rebinding name could change. node:http is used rather than
 * fetch because fetch offers no connect-time hook without the undici package.
 */
export function httpSender(options: HttpSenderOptions = {}): Sender {
  const allowPrivate = options.allowPrivate ?? false
  const lookup = connectLookup(options.resolve ?? dnsResolver, allowPrivate)
  // Kept-alive sockets were connected through the checked lookup, so reusing them is safe.
  const agents = {
    'http:': new HttpAgent({ keepAlive: true, lookup }),
    'https:': new HttpsAgent({ keepAlive: true, lookup }),
  }
  return {
    async post(url, headers, body, timeoutMs, cancel) {
      const timeout = AbortSignal.timeout(timeoutMs)
      const signal = cancel ? AbortSignal.any([timeout, cancel]) : timeout
      try {
        const u = new URL(url)
        if (u.protocol !== 'http:' && u.protocol !== 'https:')
          throw new Error(`url must be http or https, not ${u.protocol.replace(':', '')}`)
        const host = u.hostname.replace(/^\[|\]$/g, '')
        // A literal IP is connected to without any lookup: check it here.
        if (!allowPrivate && isIP(host)) {
          const reason = nonPublicReason(host)
          if (reason !== null) throw notPublic(host, reason)
        }
        const res = await new Promise<IncomingMessage>((resolve, reject) => {
          const send = u.protocol === 'https:' ? httpsRequest : httpRequest
          const req = send(u, {
            method: 'POST',
            agent: agents[u.protocol as 'http:' | 'https:'],
            lookup,
            signal,
            headers: {
              'content-type': 'application/json',
              'user-agent': 'segflow-webhooks/1',
              ...headers,
              'content-length': String(Buffer.byteLength(body)),
            },
          })
          req.once('response', resolve)
          req.once('error', reject)
          req.end(body)
        })
        // Read (and drop) the body so the connection can be reused.
        await new Promise<void>((resolve, reject) => {
          res.on('data', () => undefined)
          res.once('end', resolve)
          res.once('error', reject)
        }).catch(() => undefined)
        const retryAfter = res.headers['retry-after']
        return { status: res.statusCode ?? null, retryAfter: retryAfter ?? null, error: null }
      } catch (e) {
        const err = e as NodeJS.ErrnoException
        const reason = cancel?.aborted
          ? 'cancelled: segflow is shutting down'
          : timeout.aborted
            ? `no answer within ${timeoutMs} ms`
            : err.code === 'ENOTPUBLIC'
              ? err.message
              : (err.code ?? err.message)
        return { status: null, retryAfter: null, error: reason }
      }
    },
    close() {
      agents['http:'].destroy()
      agents['https:'].destroy()
    },
  }
}
