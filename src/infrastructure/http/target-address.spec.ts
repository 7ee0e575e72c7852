import type { LookupAddress } from 'node:dns';
import { describe, expect, it } from 'vitest';
import {
  classifyAddress,
  guardedLookup,
  parseTargetUrl,
  type Resolver,
  resolveTarget,
  TargetRefusedError,
} from './target-address';

/** A resolver that answers `addresses` for every name. */
const resolving = (...addresses: string[]): Resolver =>
  ((_host: string, _options: unknown, callback: (e: null, a: LookupAddress[]) => void) =>
    callback(
      null,
      addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 })),
    )) as unknown as Resolver;

const refusal = (fn: () => unknown) => {
  try {
    fn();
  } catch (error) {
    if (error instanceof TargetRefusedError) return error.reason;
    throw error;
  }
  return undefined;
};

describe('classifyAddress', () => {
  it.each([
    ['93.184.216.34', 'public'],
    ['2606:2800:220:1:248:1893:25c8:1946', 'public'],
    ['127.0.0.1', 'private'],
    ['127.255.0.9', 'private'],
    ['::1', 'private'],
    ['10.0.0.8', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'private'],
    ['fd12:3456::1', 'private'],
    ['::ffff:127.0.0.1', 'private'],
    ['::ffff:7f00:1', 'private'],
    ['::ffff:10.0.0.1', 'private'],
    ['169.254.169.254', 'refused'],
    ['169.254.0.1', 'refused'],
    ['::ffff:169.254.169.254', 'refused'],
    ['::ffff:a9fe:a9fe', 'refused'],
    ['64:ff9b::a9fe:a9fe', 'refused'],
    ['fe80::1', 'refused'],
    ['febf::1', 'refused'],
    ['fd00:ec2::254', 'refused'],
    ['100.100.100.200', 'refused'],
    ['0.0.0.0', 'refused'],
    ['::', 'refused'],
    ['::7f00:1', 'refused'],
    ['224.0.0.1', 'refused'],
    ['255.255.255.255', 'refused'],
    ['not-an-ip', 'refused'],
  ])('%s is %s', (address, expected) => {
    expect(classifyAddress(address)).toBe(expected);
  });
  it('172.32.0.1 is outside 172.16.0.0/12', () => {
    expect(classifyAddress('172.32.0.1')).toBe('public');
  });
});

describe('parseTargetUrl', () => {
  it.each([
    ['file:///etc/passwd', 'invalid_url'],
    ['ftp://example.com/', 'invalid_url'],
    ['gopher://example.com/', 'invalid_url'],
    ['javascript:alert(1)', 'invalid_url'],
    ['//example.com/x', 'invalid_url'],
    ['https://user:pw@example.com/', 'invalid_url'],
    ['https://user@example.com/', 'invalid_url'],
    ['http://metadata.google.internal/', 'forbidden_address'],
    ['http://METADATA.google.internal./', 'forbidden_address'],
    ['http://169.254.169.254/', 'forbidden_address'],
    ['http://[fe80::1]/', 'forbidden_address'],
    ['http://127.0.0.1/', 'private_address'],
    ['http://2130706433/', 'private_address'],
    ['http://0x7f000001/', 'private_address'],
    ['http://[::ffff:127.0.0.1]/', 'private_address'],
    ['http://10.0.0.1/', 'private_address'],
  ])('%s: %s', (url, reason) => {
    expect(refusal(() => parseTargetUrl(url, false))).toBe(reason);
  });

  it('allows private addresses only when told to, never link-local or metadata', () => {
    expect(parseTargetUrl('http://127.0.0.1:8080/hook', true).href).toBe(
      'http://127.0.0.1:8080/hook',
    );
    expect(refusal(() => parseTargetUrl('http://169.254.169.254/', true))).toBe(
      'forbidden_address',
    );
    expect(refusal(() => parseTargetUrl('http://metadata.google.internal/', true))).toBe(
      'forbidden_address',
    );
    expect(parseTargetUrl('https://hooks.example.com/x?y=1', false).hostname).toBe(
      'hooks.example.com',
    );
  });
});

describe('resolveTarget', () => {
  const url = new URL('https://hooks.example.test/x');
  it('checks every address the name has', async () => {
    await expect(resolveTarget(url, false, resolving('93.184.216.34'))).resolves.toEqual([
      '93.184.216.34',
    ]);
    await expect(
      resolveTarget(url, false, resolving('93.184.216.34', '127.0.0.1')),
    ).rejects.toMatchObject({ reason: 'private_address' });
    await expect(resolveTarget(url, true, resolving('169.254.169.254'))).rejects.toMatchObject({
      reason: 'forbidden_address',
    });
  });
  it('a name that does not resolve is refused', async () => {
    const failing = ((_h: string, _o: unknown, cb: (e: Error) => void) =>
      cb(Object.assign(new Error('nope'), { code: 'ENOTFOUND' }))) as unknown as Resolver;
    await expect(resolveTarget(url, false, failing)).rejects.toMatchObject({
      reason: 'unresolvable',
      message: expect.stringContaining('ENOTFOUND'),
    });
    await expect(resolveTarget(url, false, resolving())).rejects.toMatchObject({
      reason: 'unresolvable',
    });
    const silent = (() => undefined) as unknown as Resolver;
    await expect(resolveTarget(url, false, silent, 50)).rejects.toMatchObject({
      reason: 'unresolvable',
      message: expect.stringContaining('ETIMEOUT'),
    });
  });
});

describe('guardedLookup', () => {
  const lookup = (resolver: Resolver, allowPrivate: boolean, all = false) =>
    new Promise<{ error: unknown; address: unknown }>((done) =>
      guardedLookup(allowPrivate, resolver)('hooks.example.test', { all }, (error, address) =>
        done({ error, address }),
      ),
    );
  it('hands the connection an address it checked', async () => {
    expect(await lookup(resolving('93.184.216.34'), false)).toEqual({
      error: null,
      address: '93.184.216.34',
    });
  });
  it('refuses when any address is refused, even beside a public one', async () => {
    const { error } = await lookup(resolving('93.184.216.34', '10.0.0.1'), false);
    expect(error).toBeInstanceOf(TargetRefusedError);
    const metadata = await lookup(resolving('169.254.169.254'), true, true);
    expect((metadata.error as TargetRefusedError).reason).toBe('forbidden_address');
  });
});
