import { createServer } from 'node:http'
import type { IncomingHttpHeaders, Server } from 'node:http'
import { Webhook } from 'standardwebhooks'
import { vi } from 'vitest'

export interface Received {
  readonly headers: IncomingHttpHeaders
  readonly body: string
  readonly id: string
  readonly json: { type: string; timestamp: string; data: Record<string, unknown> }
}

export type Answer =
  { status: number; headers?: Record<string, string> } | 'hang' | ((r: Received) => void)

/**
 * A webhook endpoint on 127.0.0.1 that records every request and answers as scripted: each
 * request takes the next answer in the queue (200 when the queue is empty).
 */
export class Receiver {
  readonly received: Received[] = []
  private answers: Answer[] = []
  private readonly server: Server
  url = ''

  constructor() {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8')
        const r: Received = {
          headers: req.headers,
          body,
          id: String(req.headers['webhook-id']),
          json: JSON.parse(body),
        }
        this.received.push(r)
        const answer = this.answers.shift() ?? { status: 200 }
        if (answer === 'hang') return
        if (typeof answer === 'function') {
          answer(r)
          return
        }
        res.writeHead(answer.status, answer.headers ?? {})
        res.end()
      })
    })
  }

  async start(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r))
    const address = this.server.address()
    this.url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/hook`
    return this
  }

  answer(...answers: Answer[]): void {
    this.answers.push(...answers)
  }

  /**
   * Verifies a request as a receiver holding `secret` would, with the standardwebhooks package,
   * at the simulated instant `now` (the package checks the timestamp against its clock).
   */
  verify(r: Received, secret: string, now: number): unknown {
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(now)
    try {
      return new Webhook(secret).verify(r.body, {
        'webhook-id': String(r.headers['webhook-id']),
        'webhook-timestamp': String(r.headers['webhook-timestamp']),
        'webhook-signature': String(r.headers['webhook-signature']),
      })
    } finally {
      vi.useRealTimers()
    }
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections()
    await new Promise<void>((r) => this.server.close(() => r()))
  }
}
