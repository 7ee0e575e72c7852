import { createCipheriv, createDecipheriv, randomBytes, type DecipherGCM } from 'node:crypto';
import { parseKeyring, type EncryptionKey, type Keyring } from '../../config/keyring';

const ALGORITHM = 'aes-256-gcm';
/** 96-bit nonces: GCM's native size. A fresh random one per encryption, never reused. */
export const IV_BYTES = 12;
/** Full-length tags only: a truncated tag would weaken authentication. */
export const AUTH_TAG_BYTES = 16;

/** What is stored for one secret: enough to authenticate and decrypt it, given the key. */
export interface SealedToken {
  ciphertext: Buffer;
  iv: Buffer;
  authTag: Buffer;
  keyVersion: number;
}

export type TokenDecryptionFailure =
  /** The keyring has no key of the sealed value's version. */
  | 'unknown_key_version'
  /** Wrong key, wrong account id, or altered ciphertext, IV or tag. */
  | 'authentication_failed'
  /** An IV or tag of the wrong length, or a field of the wrong type. */
  | 'malformed';

/**
 * A sealed token that did not decrypt. The message names the key version and the account id only:
 * never any plaintext, ciphertext or key material.
 */
export class TokenDecryptionError extends Error {
  constructor(
    readonly reason: TokenDecryptionFailure,
    readonly keyVersion: number,
    readonly accountId: string,
  ) {
    super(TokenDecryptionError.describe(reason, keyVersion, accountId));
    this.name = 'TokenDecryptionError';
  }

  private static describe(reason: TokenDecryptionFailure, version: number, account: string) {
    const subject = `the token of account ${account} (key v${version})`;
    switch (reason) {
      case 'unknown_key_version':
        return `cannot decrypt ${subject}: the keyring has no key v${version}`;
      case 'authentication_failed':
        return `cannot decrypt ${subject}: authentication failed (wrong key, another account's token, or altered data)`;
      case 'malformed':
        return `cannot decrypt ${subject}: malformed sealed value`;
    }
  }
}

/**
 * AES-256-GCM over a keyring: the current key encrypts, every key decrypts. The account id is the
 * additional authenticated data, so a ciphertext copied onto another account's row fails to
 * decrypt instead of handing that account someone else's token. Pure: no I/O, no logging.
 *
 * The account id is bound byte for byte; callers must pass it in one canonical form (the vault
 * passes PostgreSQL's lower-case UUID text).
 */
export class TokenCipher {
  // An ES private field: never enumerated by JSON.stringify or util.inspect, so logging a
  // service that holds the cipher cannot print key material.
  readonly #keyring: Keyring;

  constructor(keyring: Keyring) {
    this.#keyring = keyring;
  }

  /** From the raw `TOKEN_ENCRYPTION_KEY` value (a bare base64 key, or `v2:<base64>,v1:<base64>`). */
  static fromKeyString(raw: string): TokenCipher {
    return new TokenCipher(parseKeyring(raw));
  }

  /** The version new encryptions use. */
  get currentKeyVersion(): number {
    return this.#keyring.current.version;
  }

  hasKeyVersion(version: number): boolean {
    return this.#keyring.byVersion.has(version);
  }

  encrypt(plaintext: string, accountId: string): SealedToken {
    const { key, version } = this.#keyring.current;
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv(ALGORITHM, key, iv, { authTagLength: AUTH_TAG_BYTES });
    cipher.setAAD(aad(accountId));
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return { ciphertext, iv, authTag: cipher.getAuthTag(), keyVersion: version };
  }

  /** The plaintext, or a {@link TokenDecryptionError}; never unauthenticated bytes. */
  decrypt(sealed: SealedToken, accountId: string): string {
    const { keyVersion } = sealed;
    const key = this.keyFor(sealed, accountId);
    let decipher: DecipherGCM;
    try {
      decipher = createDecipheriv(ALGORITHM, key.key, sealed.iv, { authTagLength: AUTH_TAG_BYTES });
      decipher.setAAD(aad(accountId));
      decipher.setAuthTag(sealed.authTag);
    } catch {
      throw new TokenDecryptionError('malformed', keyVersion, accountId);
    }
    try {
      // GCM authenticates in final(): what update() produced is used only if final() succeeds.
      const plaintext = Buffer.concat([decipher.update(sealed.ciphertext), decipher.final()]);
      return plaintext.toString('utf8');
    } catch {
      throw new TokenDecryptionError('authentication_failed', keyVersion, accountId);
    }
  }

  private keyFor(sealed: SealedToken, accountId: string): EncryptionKey {
    const { keyVersion } = sealed;
    if (
      !Buffer.isBuffer(sealed.ciphertext) ||
      !Buffer.isBuffer(sealed.iv) ||
      !Buffer.isBuffer(sealed.authTag) ||
      sealed.iv.length !== IV_BYTES ||
      sealed.authTag.length !== AUTH_TAG_BYTES ||
      !Number.isSafeInteger(keyVersion)
    ) {
      throw new TokenDecryptionError('malformed', keyVersion, accountId);
    }
    const key = this.#keyring.byVersion.get(keyVersion);
    if (!key) throw new TokenDecryptionError('unknown_key_version', keyVersion, accountId);
    return key;
  }
}

function aad(accountId: string): Buffer {
  if (typeof accountId !== 'string' || accountId.length === 0) {
    throw new TypeError('an account id is required as additional authenticated data');
  }
  return Buffer.from(accountId, 'utf8');
}
