import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import { ErrorCode, TidingsError } from '@tidings/protocol';

/**
 * Which proxies in front of the server may say who the client is (`X-Forwarded-For`): a hop count
 * (`1`: one proxy, whose own address is the socket's, appends the client's address as the header's
 * last entry), or the proxies' addresses (entries are walked from the right past these). Default: none,
 * the socket's address is the client's, and the header is ignored, since any client can write it.
 */
export type TrustProxy = number | readonly string[];

export function checkTrustProxy(trust: TrustProxy | undefined): void {
  if (trust === undefined) return;
  if (typeof trust === 'number') {
    if (!Number.isSafeInteger(trust) || trust < 0) {
      throw new TidingsError(
        ErrorCode.invalidField,
        'trustProxy must be a hop count (integer >= 0) or a list of addresses',
      );
    }
    return;
  }
  if (!Array.isArray(trust) || !trust.every((a) => typeof a === 'string' && isIP(normalize(a)) !== 0)) {
    throw new TidingsError(
      ErrorCode.invalidField,
      'trustProxy must be a hop count or a list of IP addresses',
    );
  }
}

/** The client's address: the socket's, or what trusted proxies said in `X-Forwarded-For`. */
export function clientAddress(request: IncomingMessage, trust: TrustProxy | undefined): string {
  const socketAddress = normalize(request.socket.remoteAddress ?? '');
  if (trust === undefined || trust === 0) return socketAddress;
  const header = request.headers['x-forwarded-for'];
  const forwarded = (Array.isArray(header) ? header.join(',') : (header ?? ''))
    .split(',')
    .map((entry) => normalize(entry.trim()))
    .filter((entry) => entry !== '');
  // Nearest first: the socket's peer, then the header's entries from the right.
  const hops = [socketAddress, ...forwarded.reverse()];
  if (typeof trust === 'number') return hops[Math.min(trust, hops.length - 1)] as string;
  const trusted = new Set(trust.map(normalize));
  let i = 0;
  while (i < hops.length - 1 && trusted.has(hops[i] as string)) i++;
  return hops[i] as string;
}

/**
 * The key a client address is counted under. An IPv6 host commonly holds a whole /64 and can pick any
 * address in it, so IPv6 addresses count per /64; IPv4 addresses count alone.
 */
export function addressKey(address: string): string {
  if (isIP(address) !== 6) return address;
  const [head = '', tail = ''] = address.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = address.includes('::') ? (tail === '' ? [] : tail.split(':')) : [];
  const groups = address.includes('::')
    ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right]
    : left;
  return `${groups
    .slice(0, 4)
    .map((g) => g.toLowerCase().replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

/** `::ffff:1.2.3.4` (an IPv4 client of a dual-stack socket) is `1.2.3.4`. */
function normalize(address: string): string {
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}
