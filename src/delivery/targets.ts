import { lookup } from 'node:dns/promises'
import { BlockList, isIP } from 'node:net'
import { SegflowError } from '../shared/errors.js'

// Loopback, private, link-local, carrier-grade NAT, unspecified and unique-local ranges: a
// webhook pointed at them would let an API user reach the network segflow runs in.
const PRIVATE = new BlockList()
for (const [net, bits] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.168.0.0', 16],
] as const) {
  PRIVATE.addSubnet(net, bits, 'ipv4')
}
for (const [net, bits] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
] as const) {
  PRIVATE.addSubnet(net, bits, 'ipv6')
}

function isPrivate(address: string): boolean {
  const family = isIP(address) === 6 ? 'ipv6' : 'ipv4'
  // IPv4-mapped IPv6 (::ffff:10.0.0.1) is checked as the IPv4 address it is.
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)
  if (mapped) return PRIVATE.check(mapped[1]!, 'ipv4')
  return PRIVATE.check(address, family)
}

/**
 * Checks a webhook URL: http or https, and (unless private targets are allowed) a host that
 * resolves only to public addresses. Checked when the webhook is saved and again before each
 * attempt, since DNS can change.
 */
export async function checkTarget(url: string, allowPrivate: boolean): Promise<URL> {
  let u: URL
  try {
    u = new URL(url)
  } catch {
    throw new SegflowError('invalid_request', `url ${JSON.stringify(url)} is not a URL`)
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') {
    throw new SegflowError(
      'invalid_request',
      `url must be http or https, not ${u.protocol.replace(':', '')}`,
    )
  }
  if (u.username || u.password)
    throw new SegflowError('invalid_request', 'url must not hold credentials')
  if (allowPrivate) return u
  const host = u.hostname.replace(/^\[|\]$/g, '')
  const addresses = isIP(host)
    ? [host]
    : (await lookup(host, { all: true }).catch(() => [])).map((a) => a.address)
  if (addresses.length === 0)
    throw new SegflowError('invalid_request', `the host of ${url} does not resolve`)
  const blocked = addresses.find(isPrivate)
  if (blocked) {
    throw new SegflowError(
      'invalid_request',
      `${u.hostname} resolves to ${blocked}, a private or loopback address; set SEGFLOW_WEBHOOK_ALLOW_PRIVATE=true to allow it`,
    )
  }
  return u
}
