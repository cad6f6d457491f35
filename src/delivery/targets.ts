import { lookup } from 'node:dns/promises'
import type { LookupAddress, LookupOptions } from 'node:dns'
import { BlockList, isIP } from 'node:net'
import type { LookupFunction } from 'node:net'
import { SegflowError } from '../shared/errors.js'

/**
 * Resolves a host name to every address it has, as `dns.lookup(name, {all: true})` does. Tests
 * inject their own to play a name that changes its answer (DNS rebinding).
 */
export type Resolver = (hostname: string) => Promise<readonly string[]>

/** The system resolver (dns.lookup, which honours /etc/hosts as connecting does). */
export const dnsResolver: Resolver = async (hostname) =>
  (await lookup(hostname, { all: true })).map((a) => a.address)

function blocks(
  family: 'ipv4' | 'ipv6',
  ranges: ReadonlyArray<readonly [string, number, string]>,
): Array<readonly [BlockList, string]> {
  return ranges.map(([net, bits, kind]) => {
    const list = new BlockList()
    list.addSubnet(net, bits, family)
    return [list, kind] as const
  })
}

// IPv4 ranges that are not the public internet (IANA special-purpose registry): a webhook
// pointed at them would let an API user reach the network segflow runs in.
const V4 = blocks('ipv4', [
  ['0.0.0.0', 8, 'this network'],
  ['10.0.0.0', 8, 'private'],
  ['100.64.0.0', 10, 'carrier-grade NAT'],
  ['127.0.0.0', 8, 'loopback'],
  ['169.254.0.0', 16, 'link-local'],
  ['172.16.0.0', 12, 'private'],
  ['192.0.0.0', 24, 'IETF protocol assignments'],
  ['192.0.2.0', 24, 'documentation'],
  ['192.88.99.0', 24, '6to4 relay anycast'],
  ['192.168.0.0', 16, 'private'],
  ['198.18.0.0', 15, 'benchmarking'],
  ['198.51.100.0', 24, 'documentation'],
  ['203.0.113.0', 24, 'documentation'],
  ['224.0.0.0', 4, 'multicast'],
  // Includes the limited broadcast address 255.255.255.255.
  ['240.0.0.0', 4, 'reserved'],
])

// IPv6 ranges inside or beside global unicast that are not public. Anything outside 2000::/3
// that embeds no IPv4 address is refused as well (not global unicast).
const V6 = blocks('ipv6', [
  ['64:ff9b:1::', 48, 'local-use NAT64'],
  ['100::', 64, 'discard-only'],
  ['2001:2::', 48, 'benchmarking'],
  ['2001:db8::', 32, 'documentation'],
  ['3fff::', 20, 'documentation'],
  ['fc00::', 7, 'unique-local'],
  ['fe80::', 10, 'link-local'],
  ['fec0::', 10, 'site-local'],
  ['ff00::', 8, 'multicast'],
])

/** The eight 16-bit groups of an IPv6 address (zone dropped, dotted tail allowed), or null. */
function groupsOf(address: string): number[] | null {
  let text = address.replace(/%.*$/, '').toLowerCase()
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text)
  if (dotted) {
    if (isIP(dotted[1]!) !== 4) return null
    const [a, b, c, d] = dotted[1]!.split('.').map(Number) as [number, number, number, number]
    text = `${text.slice(0, -dotted[1]!.length)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`
  }
  const halves = text.split('::')
  if (halves.length > 2) return null
  const part = (s: string) => (s === '' ? [] : s.split(':'))
  const head = part(halves[0]!)
  const tail = halves.length === 2 ? part(halves[1]!) : []
  const missing = 8 - head.length - tail.length
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null
  const all = [...head, ...Array<string>(missing).fill('0'), ...tail]
  if (all.some((g) => !/^[0-9a-f]{1,4}$/.test(g))) return null
  return all.map((g) => parseInt(g, 16))
}

function v4Of(high: number, low: number): string {
  return [high >> 8, high & 0xff, low >> 8, low & 0xff].join('.')
}

/** The IPv4 address an IPv6 address stands for or carries, with the name of the form. */
function embeddedV4(g: readonly number[]): { form: string; v4: string } | null {
  const zero = (from: number, to: number) => g.slice(from, to).every((x) => x === 0)
  if (zero(0, 5) && g[5] === 0xffff) return { form: 'IPv4-mapped', v4: v4Of(g[6]!, g[7]!) }
  if (zero(0, 6)) return { form: 'IPv4-compatible', v4: v4Of(g[6]!, g[7]!) }
  if (zero(0, 4) && g[4] === 0xffff && g[5] === 0)
    return { form: 'IPv4-translated', v4: v4Of(g[6]!, g[7]!) }
  if (g[0] === 0x64 && g[1] === 0xff9b && zero(2, 6))
    return { form: 'NAT64', v4: v4Of(g[6]!, g[7]!) }
  if (g[0] === 0x2002) return { form: '6to4', v4: v4Of(g[1]!, g[2]!) }
  // Teredo carries the client's address inverted in the last 32 bits.
  if (g[0] === 0x2001 && g[1] === 0)
    return { form: 'Teredo', v4: v4Of(~g[6]! & 0xffff, ~g[7]! & 0xffff) }
  return null
}

/**
 * Why an IP address is not on the public internet, or null when it is. IPv6 forms that stand
 * for or carry an IPv4 address (mapped, compatible, NAT64, 6to4, Teredo) are judged by that
 * address, since that is where a connection to them ends up. Anything unparsable is not public.
 *
 * @example nonPublicReason('::ffff:127.0.0.1') // 'IPv4-mapped 127.0.0.1: loopback'
 */
export function nonPublicReason(address: string): string | null {
  const family = isIP(address.replace(/%.*$/, ''))
  if (family === 4) {
    for (const [list, kind] of V4) if (list.check(address, 'ipv4')) return kind
    return null
  }
  const g = family === 6 ? groupsOf(address) : null
  if (!g) return 'not an IP address'
  if (g.every((x) => x === 0)) return 'unspecified'
  if (g.slice(0, 7).every((x) => x === 0) && g[7] === 1) return 'loopback'
  const embedded = embeddedV4(g)
  if (embedded) {
    const inner = nonPublicReason(embedded.v4)
    return inner === null ? null : `${embedded.form} ${embedded.v4}: ${inner}`
  }
  const canonical = g.map((x) => x.toString(16)).join(':')
  for (const [list, kind] of V6) if (list.check(canonical, 'ipv6')) return kind
  if ((g[0]! & 0xe000) !== 0x2000) return 'not global unicast'
  return null
}

/** A connect refused because of where it would go; the message is what a delivery records. */
export function notPublic(address: string, reason: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`address ${address} is not public (${reason})`), {
    code: 'ENOTPUBLIC',
  })
}

/**
 * A lookup for `net.connect` that resolves with `resolve` and fails when any address is not
 * public: the check is then on the very address the socket connects to, so a name that
 * answers one address when saved and another (127.0.0.1) when connected is refused.
 */
export function connectLookup(resolve: Resolver, allowPrivate: boolean): LookupFunction {
  return (hostname: string, options: LookupOptions, callback) => {
    resolve(hostname).then(
      (found) => {
        const wanted = options.family === 4 || options.family === 6 ? options.family : 0
        const addresses = found.filter((a) => wanted === 0 || isIP(a) === wanted)
        if (addresses.length === 0) {
          const err: NodeJS.ErrnoException = new Error(`${hostname} does not resolve`)
          err.code = 'ENOTFOUND'
          return callback(err, '')
        }
        if (!allowPrivate) {
          for (const a of addresses) {
            const reason = nonPublicReason(a)
            if (reason !== null) return callback(notPublic(a, reason), '')
          }
        }
        if (options.all) {
          const all: LookupAddress[] = addresses.map((address) => ({
            address,
            family: isIP(address),
          }))
          return callback(null, all)
        }
        callback(null, addresses[0]!, isIP(addresses[0]!))
      },
      (e: unknown) => callback(e as NodeJS.ErrnoException, ''),
    )
  }
}

/**
 * Checks a webhook URL when it is saved: http or https, and (unless private targets are
 * allowed) a host that resolves only to public addresses. Each attempt checks again at connect
 * time (connectLookup), since DNS can change.
 */
export async function checkTarget(
  url: string,
  allowPrivate: boolean,
  resolve: Resolver = dnsResolver,
): Promise<URL> {
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
  const addresses = isIP(host) ? [host] : await resolve(host).catch(() => [])
  if (addresses.length === 0)
    throw new SegflowError('invalid_request', `the host of ${url} does not resolve`)
  for (const a of addresses) {
    const reason = nonPublicReason(a)
    if (reason === null) continue
    throw new SegflowError(
      'invalid_request',
      `url ${url}: ${host} ${a === host ? 'is' : `resolves to ${a}, which is`} not a public address (${reason}); set SEGFLOW_WEBHOOK_ALLOW_PRIVATE=true to allow private targets`,
    )
  }
  return u
}
