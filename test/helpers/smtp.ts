import type { AddressInfo } from 'node:net'
import { simpleParser } from 'mailparser'
import type { ParsedMail } from 'mailparser'
import { SMTPServer } from 'smtp-server'

export interface ReceivedMail {
  readonly envelopeTo: string[]
  readonly from: string
  readonly mail: ParsedMail
}

/**
 * A real SMTP server on 127.0.0.1 (smtp-server) that keeps every message it accepts, parsed
 * with mailparser. Recipients in `reject` are refused with 550 (a hard bounce); while `down`
 * every transaction is refused with 421 (a temporary failure).
 */
export class SmtpSink {
  readonly received: ReceivedMail[] = []
  readonly reject = new Set<string>()
  down = false
  private server: SMTPServer | null = null
  private port = 0

  async start(): Promise<this> {
    this.server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['AUTH', 'STARTTLS'],
      logger: false,
      onMailFrom: (_address, _session, done) => {
        if (this.down) {
          const err = Object.assign(new Error('try again later'), { responseCode: 421 })
          return done(err)
        }
        done()
      },
      onRcptTo: (address, _session, done) => {
        if (this.reject.has(address.address.toLowerCase())) {
          const err = Object.assign(new Error('no such mailbox'), { responseCode: 550 })
          return done(err)
        }
        done()
      },
      onData: (stream, session, done) => {
        simpleParser(stream)
          .then((mail) => {
            this.received.push({
              envelopeTo: session.envelope.rcptTo.map((r) => r.address),
              from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
              mail,
            })
            done()
          })
          .catch(done)
      },
    })
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve))
    this.port = (this.server.server.address() as AddressInfo).port
    return this
  }

  get url(): string {
    return `smtp://127.0.0.1:${this.port}`
  }

  /** The one message sent to `address`; fails when there is not exactly one. */
  only(address: string): ParsedMail {
    const found = this.to(address)
    if (found.length !== 1) throw new Error(`expected one email to ${address}, got ${found.length}`)
    return found[0]!
  }

  to(address: string): ParsedMail[] {
    return this.received.filter((r) => r.envelopeTo.includes(address)).map((r) => r.mail)
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server?.close(() => resolve()))
  }
}

/** The first `href` or `src` in HTML starting with `prefix`. */
export function findUrl(html: string, prefix: string): string {
  const re = new RegExp(`(?:href|src)="(${prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}[^"]*)"`)
  const m = re.exec(html)
  if (!m) throw new Error(`no link starting ${prefix} in ${html}`)
  return m[1]!.replaceAll('&amp;', '&')
}
