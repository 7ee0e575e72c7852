import { createHash } from 'node:crypto';
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { Agent, errors as undiciErrors, request } from 'undici';

export const PICTURE_TYPES = ['image/jpeg', 'image/png', 'image/webp', 'image/gif'] as const;
export type PictureType = (typeof PICTURE_TYPES)[number];

export type PictureFetchFailure =
  | 'invalid_url'
  | 'forbidden_address'
  | 'dns'
  | 'timeout'
  | 'network'
  | 'http_status'
  | 'redirect'
  | 'too_large'
  | 'unsupported_type';

/** Why a picture was not kept, in words a person can read next to the account. */
export class PictureFetchError extends Error {
  constructor(
    readonly reason: PictureFetchFailure,
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'PictureFetchError';
  }
}

export interface FetchedPicture {
  bytes: Buffer;
  /** What the bytes are (sniffed), which the declared Content-Type had to agree was an image. */
  contentType: PictureType;
  /** Hex SHA-256 of the bytes: the kept picture's ETag. */
  sha256: string;
}

export interface PictureFetcherOptions {
  timeoutMs: number;
  maxBytes: number;
  /** Loopback and private targets (an emulator on 127.0.0.1); link-local never. */
  allowPrivateAddresses: boolean;
  /** For tests: the resolver the connection uses. Default `dns.lookup`. */
  lookup?: typeof dnsLookup;
}

// Never a picture host, whatever the options say: link-local (cloud metadata lives at
// 169.254.169.254), "this network", multicast, reserved and broadcast.
const ALWAYS_REFUSED = new BlockList();
ALWAYS_REFUSED.addSubnet('0.0.0.0', 8, 'ipv4');
ALWAYS_REFUSED.addSubnet('169.254.0.0', 16, 'ipv4');
ALWAYS_REFUSED.addSubnet('224.0.0.0', 4, 'ipv4');
ALWAYS_REFUSED.addSubnet('240.0.0.0', 4, 'ipv4');
ALWAYS_REFUSED.addAddress('::', 'ipv6');
ALWAYS_REFUSED.addSubnet('fe80::', 10, 'ipv6');
ALWAYS_REFUSED.addSubnet('ff00::', 8, 'ipv6');

// This machine and private networks: allowed only for the emulator (demo mode, tests).
const PRIVATE = new BlockList();
PRIVATE.addSubnet('127.0.0.0', 8, 'ipv4');
PRIVATE.addSubnet('10.0.0.0', 8, 'ipv4');
PRIVATE.addSubnet('172.16.0.0', 12, 'ipv4');
PRIVATE.addSubnet('192.168.0.0', 16, 'ipv4');
PRIVATE.addSubnet('100.64.0.0', 10, 'ipv4');
PRIVATE.addSubnet('192.0.0.0', 24, 'ipv4');
PRIVATE.addSubnet('198.18.0.0', 15, 'ipv4');
PRIVATE.addAddress('::1', 'ipv6');
PRIVATE.addSubnet('fc00::', 7, 'ipv6');

const REFUSED_NAMES = new Set(['metadata.google.internal', 'metadata']);

/** `refused` always, `private` unless allowed, else `public`. IPv4-mapped IPv6 counts as IPv4. */
export function classifyAddress(address: string): 'public' | 'private' | 'refused' {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  const ip = mapped?.[1] ?? address;
  const family = isIP(ip);
  if (family === 0) return 'refused';
  const type = family === 4 ? 'ipv4' : 'ipv6';
  if (ALWAYS_REFUSED.check(ip, type)) return 'refused';
  if (PRIVATE.check(ip, type)) return 'private';
  return 'public';
}

function checkAddress(address: string, allowPrivate: boolean): void {
  const kind = classifyAddress(address);
  if (kind === 'refused' || (kind === 'private' && !allowPrivate)) {
    throw new PictureFetchError(
      'forbidden_address',
      `The picture host resolves to ${kind === 'private' ? 'a private or loopback' : 'a forbidden'} address (${address})`,
    );
  }
}

/**
 * The resolver the connection itself uses, so that the address checked is the address
 * connected to (no window for DNS rebinding between a check and the connect).
 */
function guardedLookup(allowPrivate: boolean, resolve: typeof dnsLookup): LookupFunction {
  return (hostname, options, callback) => {
    resolve(hostname, { ...options, all: true }, (error, addresses: LookupAddress[]) => {
      if (error) return callback(error, '', 0);
      try {
        if (addresses.length === 0)
          throw new PictureFetchError('dns', `${hostname} has no address`);
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

/** What the first bytes say the file is; only the four picture formats are recognised. */
export function sniffPictureType(bytes: Buffer): PictureType | undefined {
  if (bytes.length >= 8 && bytes.subarray(0, 8).equals(PNG_SIGNATURE)) return 'image/png';
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) {
    return 'image/jpeg';
  }
  const head = bytes.subarray(0, 12).toString('latin1');
  if (head.startsWith('GIF87a') || head.startsWith('GIF89a')) return 'image/gif';
  if (head.startsWith('RIFF') && head.slice(8, 12) === 'WEBP') return 'image/webp';
  return undefined;
}
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function declaredType(header: string | string[] | undefined): string {
  const value = Array.isArray(header) ? header[0] : header;
  return (value ?? '').split(';')[0]!.trim().toLowerCase();
}

function parseTarget(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new PictureFetchError('invalid_url', 'The picture URL is not a valid URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new PictureFetchError('invalid_url', 'The picture URL must be http or https');
  }
  if (url.username || url.password) {
    throw new PictureFetchError('invalid_url', 'The picture URL must not carry credentials');
  }
  return url;
}

/**
 * The one small, bounded HTTP download of Instagram profile pictures: a deadline over the whole
 * exchange, at most `maxBytes` (enforced while streaming, whatever Content-Length says), only
 * JPEG, PNG, WebP or GIF (declared and sniffed), redirects never followed, and no connection to
 * loopback, private or link-local addresses unless the emulator needs it.
 */
export class PictureFetcher {
  private readonly agent: Agent;

  constructor(private readonly options: PictureFetcherOptions) {
    this.agent = new Agent({
      connect: {
        timeout: options.timeoutMs,
        lookup: guardedLookup(options.allowPrivateAddresses, options.lookup ?? dnsLookup),
      },
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      connections: 8,
    });
  }

  async fetch(rawUrl: string): Promise<FetchedPicture> {
    const url = parseTarget(rawUrl);
    const hostname = url.hostname.replace(/^\[|\]$/g, '');
    if (REFUSED_NAMES.has(hostname.toLowerCase())) {
      throw new PictureFetchError('forbidden_address', `The picture host ${hostname} is refused`);
    }
    // An address in the URL is connected to without a lookup, so it is checked here.
    if (isIP(hostname)) checkAddress(hostname, this.options.allowPrivateAddresses);

    const signal = AbortSignal.timeout(this.options.timeoutMs);
    let response: Awaited<ReturnType<typeof request>>;
    try {
      response = await request(url, {
        method: 'GET',
        dispatcher: this.agent,
        signal,
        headers: { accept: PICTURE_TYPES.join(', ') },
      });
    } catch (error) {
      throw this.failureOf(error, signal);
    }
    const { statusCode, headers, body } = response;
    // Destroying an unread body emits an abort error; nobody waits for it.
    const discard = () => {
      body.on('error', () => undefined);
      body.destroy();
    };
    if (statusCode >= 300 && statusCode < 400) {
      discard();
      throw new PictureFetchError(
        'redirect',
        `The picture URL redirects (HTTP ${statusCode}); redirects are not followed`,
        statusCode,
      );
    }
    if (statusCode !== 200) {
      discard();
      throw new PictureFetchError(
        'http_status',
        `The picture host answered HTTP ${statusCode}`,
        statusCode,
      );
    }
    const declared = declaredType(headers['content-type']);
    if (!(PICTURE_TYPES as readonly string[]).includes(declared)) {
      discard();
      throw new PictureFetchError(
        'unsupported_type',
        `The picture is ${declared || 'of no declared type'}, not JPEG, PNG, WebP or GIF`,
      );
    }
    const length = Number(headers['content-length']);
    if (Number.isFinite(length) && length > this.options.maxBytes) {
      discard();
      throw this.tooLarge();
    }

    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of body) {
        const buffer = chunk as Buffer;
        size += buffer.length;
        if (size > this.options.maxBytes) {
          discard();
          throw this.tooLarge();
        }
        chunks.push(buffer);
      }
    } catch (error) {
      if (error instanceof PictureFetchError) throw error;
      throw this.failureOf(error, signal);
    }
    const bytes = Buffer.concat(chunks, size);
    const sniffed = sniffPictureType(bytes);
    if (!sniffed) {
      throw new PictureFetchError(
        'unsupported_type',
        `The picture's bytes are not a JPEG, PNG, WebP or GIF image (declared ${declared})`,
      );
    }
    return {
      bytes,
      contentType: sniffed,
      sha256: createHash('sha256').update(bytes).digest('hex'),
    };
  }

  async close(): Promise<void> {
    await this.agent.close();
  }

  private tooLarge(): PictureFetchError {
    return new PictureFetchError(
      'too_large',
      `The picture is larger than ${Math.round(this.options.maxBytes / (1024 * 1024))} MB`,
    );
  }

  private failureOf(error: unknown, signal: AbortSignal): PictureFetchError {
    if (error instanceof PictureFetchError) return error;
    // The guarded lookup's refusal surfaces as the connect error.
    const cause = (error as { cause?: unknown }).cause;
    if (cause instanceof PictureFetchError) return cause;
    if (
      signal.aborted ||
      error instanceof undiciErrors.HeadersTimeoutError ||
      error instanceof undiciErrors.BodyTimeoutError ||
      error instanceof undiciErrors.ConnectTimeoutError
    ) {
      return new PictureFetchError('timeout', 'The picture host did not answer in time');
    }
    const code = (error as { code?: unknown }).code;
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
      return new PictureFetchError('dns', 'The picture host name does not resolve');
    }
    return new PictureFetchError(
      'network',
      `The picture host could not be reached${typeof code === 'string' ? ` (${code})` : ''}`,
    );
  }
}
