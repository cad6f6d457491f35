/** The outcome of one HTTP attempt. */
export interface SendResult {
  /** The status, or null when no response came (refused, reset, timed out). */
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
  ): Promise<SendResult>
}

/** fetch, never following redirects (a 3xx is a failure), with a timeout. */
export const httpSender: Sender = {
  async post(url, headers, body, timeoutMs) {
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'segflow-webhooks/1',
          ...headers,
        },
        body,
        redirect: 'manual',
        signal: AbortSignal.timeout(timeoutMs),
      })
      // Read (and drop) the body so the connection can be reused.
      await res.arrayBuffer().catch(() => undefined)
      return { status: res.status, retryAfter: res.headers.get('retry-after'), error: null }
    } catch (e) {
      const err = e as Error & { cause?: { code?: string } }
      const reason =
        err.name === 'TimeoutError'
          ? `no answer within ${timeoutMs} ms`
          : (err.cause?.code ?? err.message)
      return { status: null, retryAfter: null, error: reason }
    }
  },
}
