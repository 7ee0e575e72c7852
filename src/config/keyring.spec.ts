import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { generateKeyringEntry, KeyringFormatError, parseKeyring } from './keyring';

const base64Key = () => randomBytes(32).toString('base64');

describe('parseKeyring', () => {
  it('takes a bare base64 key, as `openssl rand -base64 32` prints it, as version 1', () => {
    const bare = base64Key();
    const keyring = parseKeyring(`${bare}\n`);
    expect(keyring.current.version).toBe(1);
    expect(keyring.current.key).toEqual(Buffer.from(bare, 'base64'));
    expect([...keyring.byVersion.keys()]).toEqual([1]);
  });

  it('reads a versioned list newest first: the first encrypts, every one decrypts', () => {
    const [k2, k1] = [base64Key(), base64Key()];
    const keyring = parseKeyring(`v2:${k2}, v1:${k1}`);
    expect(keyring.current).toEqual({ version: 2, key: Buffer.from(k2, 'base64') });
    expect(keyring.byVersion.get(1)?.key).toEqual(Buffer.from(k1, 'base64'));
    expect([...keyring.byVersion.keys()]).toEqual([2, 1]);
  });

  it('keeps a bare key as v1 after a newer versioned key is put in front of it', () => {
    const [k2, bare] = [base64Key(), base64Key()];
    const keyring = parseKeyring(`v2:${k2},${bare}`);
    expect(keyring.current.version).toBe(2);
    expect(keyring.byVersion.get(1)?.key).toEqual(Buffer.from(bare, 'base64'));
  });

  it('accepts base64url keys', () => {
    const key = randomBytes(32);
    expect(parseKeyring(`v3:${key.toString('base64url')}`).current).toEqual({ version: 3, key });
    expect(parseKeyring(key.toString('base64url')).current).toEqual({ version: 1, key });
  });

  it('reads what generateKeyringEntry makes', () => {
    expect(parseKeyring(generateKeyringEntry(7)).current.version).toBe(7);
  });

  it.each([
    ['', /holds no key/],
    [' , ', /holds no key/],
    [
      'dG9vLXNob3J0',
      /key v1 \(given without a version\) decodes to 9 bytes; AES-256 needs exactly 32/,
    ],
    ['v1:dG9vLXNob3J0', /^key v1 decodes to 9 bytes; AES-256 needs exactly 32$/],
    ['v1:not base64!', /entry 1 is neither a base64 key of 32 bytes nor of the form v<version>:/],
    [`v2:${base64Key()},k1:${base64Key()}`, /entry 2 is neither/],
    [
      `v1:${base64Key()},${base64Key()}`,
      /version v1 appears twice \(a key given without a version is v1\)/,
    ],
    [`v2:${base64Key()},v2:${base64Key()}`, /^version v2 appears twice$/],
  ])('refuses %j', (raw, message) => {
    expect(() => parseKeyring(raw)).toThrow(KeyringFormatError);
    expect(() => parseKeyring(raw)).toThrow(message);
  });

  it('never puts key material in its messages', () => {
    const short = randomBytes(31).toString('base64');
    let message = '';
    try {
      parseKeyring(`v2:${base64Key()},${short}`);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/31 bytes/);
    expect(message).not.toContain(short);
  });
});
