import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';

/*
 * Where the service may send a request that someone else chose the address of (a webhook URL, a
 * picture URL): the one policy against server-side request forgery. A name is checked by every
 * address it resolves to, at the moment of connecting (the resolver the connection itself uses,
 * see guardedLookup), so DNS rebinding cannot swap a checked address for another one.
 */

export type TargetRefusal =
  /** Not a URL, not http(s), or credentials in it. */
  | 'invalid_url'
  /** Link-local, cloud metadata, unspecified, multicast, reserved: never. */
  | 'forbidden_address'
  /** Loopback or a private network: only where the configuration allows it (development). */
  | 'private_address'
  /** The name has no address (or the resolver failed). */
  | 'unresolvable';

export class TargetRefusedError extends Error {
  constructor(
    readonly reason: TargetRefusal,
    message: string,
  ) {
    super(message);
    this.name = 'TargetRefusedError';
  }
}

export type AddressClass = 'public' | 'private' | 'refused';

// Never a target, whatever the configuration: "this network", link-local (where cloud metadata
// services answer: 169.254.169.254, fe80::/10), multicast, reserved, broadcast, and the metadata
// services that live elsewhere (AWS's IPv6 one, Alibaba's in the shared range).
const ALWAYS_REFUSED = new BlockList();
ALWAYS_REFUSED.addSubnet('0.0.0.0', 8, 'ipv4');
ALWAYS_REFUSED.addSubnet('169.254.0.0', 16, 'ipv4');
ALWAYS_REFUSED.addSubnet('224.0.0.0', 4, 'ipv4');
ALWAYS_REFUSED.addSubnet('240.0.0.0', 4, 'ipv4');
ALWAYS_REFUSED.addAddress('100.100.100.200', 'ipv4');
ALWAYS_REFUSED.addAddress('::', 'ipv6');
ALWAYS_REFUSED.addSubnet('fe80::', 10, 'ipv6');
ALWAYS_REFUSED.addSubnet('ff00::', 8, 'ipv6');
ALWAYS_REFUSED.addAddress('fd00:ec2::254', 'ipv6');

// This machine and networks that are not the internet: allowed only when configured (a receiver
// on 127.0.0.1 in development and tests).
const PRIVATE = new BlockList();
PRIVATE.addSubnet('127.0.0.0', 8, 'ipv4');
PRIVATE.addSubnet('10.0.0.0', 8, 'ipv4');
PRIVATE.addSubnet('172.16.0.0', 12, 'ipv4');
PRIVATE.addSubnet('192.168.0.0', 16, 'ipv4');
PRIVATE.addSubnet('100.64.0.0', 10, 'ipv4');
PRIVATE.addSubnet('192.0.0.0', 24, 'ipv4');
PRIVATE.addSubnet('192.0.2.0', 24, 'ipv4');
PRIVATE.addSubnet('198.18.0.0', 15, 'ipv4');
PRIVATE.addSubnet('198.51.100.0', 24, 'ipv4');
PRIVATE.addSubnet('203.0.113.0', 24, 'ipv4');
PRIVATE.addAddress('::1', 'ipv6');
PRIVATE.addSubnet('fc00::', 7, 'ipv6');
PRIVATE.addSubnet('fec0::', 10, 'ipv6');

/** Names of metadata services that resolve to link-local addresses inside their clouds. */
const REFUSED_NAMES = new Set(['metadata.google.internal', 'metadata', 'metadata.goog']);

/** A metadata service's name (`host` as {@link hostOf} gives it). */
export function isRefusedName(host: string): boolean {
  return REFUSED_NAMES.has(host);
}

/** The IPv4 address inside an IPv6 one that carries it (mapped ::ffff:a.b.c.d, NAT64 64:ff9b::). */
function embeddedIpv4(address: string): string | undefined {
  const lower = address.toLowerCase();
  const dotted = /^(?:::ffff:|64:ff9b::)(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  if (dotted) return dotted[1];
  const hex = /^(?:::ffff:|64:ff9b::)([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(lower);
  if (!hex) return undefined;
  const high = parseInt(hex[1]!, 16);
  const low = parseInt(hex[2]!, 16);
  return `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`;
}

/** `refused` always, `private` unless allowed, `public` otherwise. Not an IP address: `refused`. */
export function classifyAddress(address: string): AddressClass {
  const ip = embeddedIpv4(address) ?? address;
  const family = isIP(ip);
  if (family === 0) return 'refused';
  const type = family === 4 ? 'ipv4' : 'ipv6';
  if (ALWAYS_REFUSED.check(ip, type)) return 'refused';
  if (PRIVATE.check(ip, type)) return 'private';
  // IPv4-compatible IPv6 (::a.b.c.d, deprecated) has no business on the wire.
  if (type === 'ipv6' && /^::[0-9a-f]{0,4}(:[0-9a-f]{1,4})?$/i.test(ip)) return 'refused';
  return 'public';
}

/** Throws unless `address` may be connected to. */
export function checkAddress(address: string, allowPrivate: boolean): void {
  const kind = classifyAddress(address);
  if (kind === 'refused') {
    throw new TargetRefusedError(
      'forbidden_address',
      `${address} is a link-local, metadata or reserved address, which is never a target`,
    );
  }
  if (kind === 'private' && !allowPrivate) {
    throw new TargetRefusedError(
      'private_address',
      `${address} is a loopback or private address, which is not a target here`,
    );
  }
}

/** The host of a URL as a resolver and the policy see it: no brackets, no trailing dot. */
export function hostOf(url: URL): string {
  return url.hostname
    .replace(/^\[|\]$/g, '')
    .replace(/\.$/, '')
    .toLowerCase();
}

/**
 * The URL, if its form is acceptable: http or https, no credentials, and not an address or a name
 * that is refused outright. A name's addresses are checked when it is resolved
 * ({@link resolveTarget}, {@link guardedLookup}).
 */
export function parseTargetUrl(raw: string, allowPrivate: boolean): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new TargetRefusedError('invalid_url', 'url must be an absolute http or https URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new TargetRefusedError('invalid_url', 'url must be an http or https URL');
  }
  if (url.username !== '' || url.password !== '') {
    throw new TargetRefusedError('invalid_url', 'url must not carry credentials (user:password@)');
  }
  const host = hostOf(url);
  if (isRefusedName(host)) {
    throw new TargetRefusedError('forbidden_address', `${host} is a cloud metadata service`);
  }
  // An address in the URL is connected to without a lookup: it is checked here.
  if (isIP(host)) checkAddress(host, allowPrivate);
  return url;
}

export type Resolver = typeof dnsLookup;

/** How long a registration waits for DNS. */
export const RESOLVE_TIMEOUT_MS = 5_000;

/** Every address the URL's host resolves to, each checked: what a registration verifies. */
export async function resolveTarget(
  url: URL,
  allowPrivate: boolean,
  resolve: Resolver = dnsLookup,
  timeoutMs = RESOLVE_TIMEOUT_MS,
): Promise<string[]> {
  const host = hostOf(url);
  if (isIP(host)) return [host];
  let timer: NodeJS.Timeout | undefined;
  const addresses = await new Promise<LookupAddress[]>((done, fail) => {
    // getaddrinfo has no deadline of its own: a resolver that does not answer must not hold the
    // request for the system's minutes.
    timer = setTimeout(
      () => fail(Object.assign(new Error('timeout'), { code: 'ETIMEOUT' })),
      timeoutMs,
    );
    resolve(host, { all: true }, (error, found) => (error ? fail(error) : done(found)));
  })
    .finally(() => clearTimeout(timer))
    .catch((error: unknown) => {
      const code = (error as { code?: unknown }).code;
      throw new TargetRefusedError(
        'unresolvable',
        `${host} does not resolve${typeof code === 'string' ? ` (${code})` : ''}`,
      );
    });
  if (addresses.length === 0)
    throw new TargetRefusedError('unresolvable', `${host} has no address`);
  for (const { address } of addresses) checkAddress(address, allowPrivate);
  return addresses.map((a) => a.address);
}

/**
 * A resolver for the connection itself (`net.connect`'s `lookup`): every address the name has is
 * checked, and the connection goes to one of those it checked. Refusing when any address is
 * refused, not just the one picked, leaves no way to slip a private address in beside a public one.
 */
export function guardedLookup(
  allowPrivate: boolean,
  resolve: Resolver = dnsLookup,
): LookupFunction {
  return (hostname, options, callback) => {
    resolve(hostname, { ...options, all: true }, (error, addresses: LookupAddress[]) => {
      if (error) return callback(error, '', 0);
      try {
        if (addresses.length === 0) {
          throw new TargetRefusedError('unresolvable', `${hostname} has no address`);
        }
        for (const { address } of addresses) checkAddress(address, allowPrivate);
      } catch (refusal) {
        return callback(refusal as NodeJS.ErrnoException, '', 0);
      }
      if (options.all) return callback(null, addresses);
      const first = addresses[0]!;
      return callback(null, first.address, first.family);
    });
  };
}
