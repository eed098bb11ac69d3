import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP } from 'node:net';

/**
 * The SSRF rules of webhook URLs: http(s) only, and the address a request connects to is
 * checked when it connects (the resolved one, so a name that resolves elsewhere later —
 * DNS rebinding — is checked again). Link-local and metadata addresses are always refused;
 * loopback and private networks only inside `allowNetworks`.
 */

/** Never reachable, whatever is allowed: link-local (cloud metadata lives there), unspecified, multicast, broadcast. */
const ALWAYS: Array<[string, number, 'ipv4' | 'ipv6']> = [
  ['0.0.0.0', 8, 'ipv4'],
  ['169.254.0.0', 16, 'ipv4'],
  ['100.100.100.200', 32, 'ipv4'],
  ['224.0.0.0', 4, 'ipv4'],
  ['255.255.255.255', 32, 'ipv4'],
  ['::', 128, 'ipv6'],
  ['fe80::', 10, 'ipv6'],
  ['fd00:ec2::254', 128, 'ipv6'],
  ['ff00::', 8, 'ipv6'],
];

/** Refused unless a range of `allowNetworks` contains the address: loopback, private, shared (CGNAT), unique-local. */
const PRIVATE: Array<[string, number, 'ipv4' | 'ipv6']> = [
  ['127.0.0.0', 8, 'ipv4'],
  ['10.0.0.0', 8, 'ipv4'],
  ['172.16.0.0', 12, 'ipv4'],
  ['192.168.0.0', 16, 'ipv4'],
  ['100.64.0.0', 10, 'ipv4'],
  ['198.18.0.0', 15, 'ipv4'],
  ['::1', 128, 'ipv6'],
  ['fc00::', 7, 'ipv6'],
];

function blockList(ranges: Array<[string, number, 'ipv4' | 'ipv6']>): BlockList {
  const list = new BlockList();
  for (const [net, prefix, type] of ranges) list.addSubnet(net, prefix, type);
  return list;
}

const always = blockList(ALWAYS);
const privateNets = blockList(PRIVATE);

/** Parse `a.b.c.d/n` or `x::y/n` (a bare address is a single host); null when it is not one. */
export function parseCidr(text: string): [string, number, 'ipv4' | 'ipv6'] | null {
  const [addr = '', len] = text.trim().split('/');
  const family = isIP(addr);
  if (family === 0) return null;
  const max = family === 4 ? 32 : 128;
  const prefix = len === undefined ? max : Number(len);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max) return null;
  return [addr, prefix, family === 4 ? 'ipv4' : 'ipv6'];
}

/** Why an address is refused, or null when a webhook may connect to it. */
export type AddressCheck = (address: string) => string | null;

export function addressCheck(allowNetworks: readonly string[]): AddressCheck {
  const allowed = blockList(allowNetworks.map((c) => parseCidr(c)).filter((c): c is [string, number, 'ipv4' | 'ipv6'] => c !== null));
  return (address) => {
    const family = isIP(address);
    if (family === 0) return `${address} is not an IP address`;
    // An IPv4-mapped IPv6 address is its IPv4 address.
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
    const [ip, type] = mapped ? [mapped, 'ipv4' as const] : [address, family === 4 ? ('ipv4' as const) : ('ipv6' as const)];
    if (always.check(ip, type)) return `${address} is link-local, metadata or otherwise never reachable`;
    if (privateNets.check(ip, type) && !allowed.check(ip, type)) return `${address} is loopback or private and not in webhooks.allowNetworks`;
    return null;
  };
}

/** Why a URL is refused as a webhook endpoint (scheme, length, credentials, a literal address), or null. */
export function urlProblem(text: string, maxLength: number, check: AddressCheck): string | null {
  if (text.length > maxLength) return `the URL is longer than ${maxLength} characters`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'not a URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'only http and https URLs';
  if (url.username !== '' || url.password !== '') return 'credentials in the URL are refused (authenticate by the signature)';
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (isIP(host) !== 0) return check(host);
  if (host === 'localhost' || host.endsWith('.localhost')) return check('127.0.0.1');
  return null;
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A `lookup` for http.request that refuses a name resolving to a refused address: the check
 * happens at connect time, on the address connected to.
 */
export function guardedLookup(check: AddressCheck) {
  return (hostname: string, options: { all?: boolean; family?: number }, callback: LookupCallback): void => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, []);
      for (const a of addresses) {
        const problem = check(a.address);
        if (problem) return callback(Object.assign(new Error(`refused by the SSRF rules: ${problem}`), { code: 'ESSRF' }), []);
      }
      if (options.all) return callback(null, addresses);
      const first = addresses[0];
      if (!first) return callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), []);
      callback(null, first.address, first.family);
    });
  };
}
