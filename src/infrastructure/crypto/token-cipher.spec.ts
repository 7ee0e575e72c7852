import { randomBytes, randomUUID } from 'node:crypto';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parseKeyring } from '../../config/keyring';
import { TokenCipher, TokenDecryptionError, type SealedToken } from './token-cipher';

const k1 = `v1:${randomBytes(32).toString('base64')}`;
const k2 = `v2:${randomBytes(32).toString('base64')}`;
const token = 'IGAAT-example-long-lived-token-Ωµ-0123456789';
const account = randomUUID();

function flip(buffer: Buffer, index = 0): Buffer {
  const copy = Buffer.from(buffer);
  copy[index] = copy[index]! ^ 0x01;
  return copy;
}

function decryptionError(run: () => unknown): TokenDecryptionError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(TokenDecryptionError);
    return error as TokenDecryptionError;
  }
  throw new Error('expected a TokenDecryptionError');
}

describe('TokenCipher', () => {
  const cipher = TokenCipher.fromKeyString(k1);

  it('round-trips a token', () => {
    const sealed = cipher.encrypt(token, account);
    expect(sealed.iv).toHaveLength(12);
    expect(sealed.authTag).toHaveLength(16);
    expect(sealed.keyVersion).toBe(1);
    expect(sealed.ciphertext.includes(Buffer.from(token))).toBe(false);
    expect(cipher.decrypt(sealed, account)).toBe(token);
  });

  it('uses a fresh IV for every encryption', () => {
    const a = cipher.encrypt(token, account);
    const b = cipher.encrypt(token, account);
    expect(a.iv.equals(b.iv)).toBe(false);
    expect(a.ciphertext.equals(b.ciphertext)).toBe(false);
    expect(a.authTag.equals(b.authTag)).toBe(false);
  });

  it.each([
    ['ciphertext', (s: SealedToken) => ({ ...s, ciphertext: flip(s.ciphertext, 5) })],
    ['auth tag', (s: SealedToken) => ({ ...s, authTag: flip(s.authTag, 15) })],
    ['iv', (s: SealedToken) => ({ ...s, iv: flip(s.iv, 3) })],
  ])('rejects a flipped byte in the %s', (_part, alter) => {
    const sealed = cipher.encrypt(token, account);
    const error = decryptionError(() => cipher.decrypt(alter(sealed), account));
    expect(error.reason).toBe('authentication_failed');
  });

  it('rejects a ciphertext presented for another account (the account id is authenticated)', () => {
    const other = randomUUID();
    const sealed = cipher.encrypt(token, account);
    const error = decryptionError(() => cipher.decrypt(sealed, other));
    expect(error.reason).toBe('authentication_failed');
    expect(error.accountId).toBe(other);
    expect(error.message).toContain(other);
    expect(error.message).toContain('v1');
  });

  it('rejects an unknown key version', () => {
    const sealed = cipher.encrypt(token, account);
    const error = decryptionError(() => cipher.decrypt({ ...sealed, keyVersion: 7 }, account));
    expect(error.reason).toBe('unknown_key_version');
    expect(error.message).toMatch(/v7/);
  });

  it('rejects a keyring that lacks the key, and a wrong key of the same version', () => {
    const sealed = cipher.encrypt(token, account);
    expect(
      decryptionError(() => TokenCipher.fromKeyString(k2).decrypt(sealed, account)).reason,
    ).toBe('unknown_key_version');
    const impostor = TokenCipher.fromKeyString(`v1:${randomBytes(32).toString('base64')}`);
    expect(decryptionError(() => impostor.decrypt(sealed, account)).reason).toBe(
      'authentication_failed',
    );
  });

  it.each([
    ['a short IV', (s: SealedToken) => ({ ...s, iv: s.iv.subarray(0, 11) })],
    ['a long IV', (s: SealedToken) => ({ ...s, iv: Buffer.concat([s.iv, Buffer.alloc(1)]) })],
    ['a truncated tag', (s: SealedToken) => ({ ...s, authTag: s.authTag.subarray(0, 12) })],
    [
      'a non-buffer ciphertext',
      (s: SealedToken) => ({ ...s, ciphertext: 'x' as unknown as Buffer }),
    ],
  ])('rejects %s as malformed', (_label, alter) => {
    const sealed = cipher.encrypt(token, account);
    expect(decryptionError(() => cipher.decrypt(alter(sealed), account)).reason).toBe('malformed');
  });

  it('never puts the plaintext or the ciphertext in the error', () => {
    const sealed = cipher.encrypt(token, account);
    const error = decryptionError(() => cipher.decrypt(sealed, randomUUID()));
    const text = `${error.message} ${error.stack ?? ''} ${JSON.stringify(error)}`;
    expect(text).not.toContain(token);
    expect(text).not.toContain(sealed.ciphertext.toString('hex'));
    expect(text).not.toContain(sealed.ciphertext.toString('base64'));
  });

  it('keeps key material out of JSON and inspection', () => {
    const key = parseKeyring(k1).current.key;
    for (const text of [JSON.stringify(cipher), inspect(cipher, { depth: 5 })]) {
      expect(text).not.toContain(key.toString('base64'));
      expect(text).not.toContain(key.toString('hex'));
    }
  });

  it('rotates: v1 ciphertexts still decrypt with keyring v2,v1, new ones use v2', () => {
    const sealedV1 = cipher.encrypt(token, account);
    const rotated = TokenCipher.fromKeyString(`${k2},${k1}`);
    expect(rotated.currentKeyVersion).toBe(2);
    expect(rotated.hasKeyVersion(1)).toBe(true);
    expect(rotated.decrypt(sealedV1, account)).toBe(token);
    const sealedV2 = rotated.encrypt(token, account);
    expect(sealedV2.keyVersion).toBe(2);
    expect(rotated.decrypt(sealedV2, account)).toBe(token);
    expect(TokenCipher.fromKeyString(k2).decrypt(sealedV2, account)).toBe(token);
    expect(decryptionError(() => cipher.decrypt(sealedV2, account)).reason).toBe(
      'unknown_key_version',
    );
  });

  it('round-trips the empty string and long tokens', () => {
    for (const plaintext of ['', 'x'.repeat(10_000)]) {
      expect(cipher.decrypt(cipher.encrypt(plaintext, account), account)).toBe(plaintext);
    }
  });
});
