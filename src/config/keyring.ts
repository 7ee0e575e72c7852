import { randomBytes } from 'node:crypto';

export interface EncryptionKey {
  /** Stored with every ciphertext so that old rows keep decrypting after a rotation. */
  version: number;
  key: Buffer;
}

/** The keys of `TOKEN_ENCRYPTION_KEY`; the first one encrypts, every one decrypts. */
export interface Keyring {
  current: EncryptionKey;
  byVersion: ReadonlyMap<number, EncryptionKey>;
}

export class KeyringFormatError extends Error {}

const VERSIONED = /^v(\d{1,6}):(.*)$/;
const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;
/** The version of a key given without one: what `openssl rand -base64 32` prints is v1. */
const BARE_KEY_VERSION = 1;

/**
 * Parses `TOKEN_ENCRYPTION_KEY`: one bare base64 key (version 1), or a comma-separated list of
 * `v<version>:<base64>` entries, newest first (`v2:<base64>,v1:<base64>`); a bare entry in a list
 * is v1 too, so a key pasted before the first rotation keeps working after it. Each key must decode
 * to exactly 32 bytes (AES-256); a key of any other length is refused rather than stretched, so a
 * typo never becomes a weak key.
 */
export function parseKeyring(raw: string): Keyring {
  const entries = raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (entries.length === 0) throw new KeyringFormatError('holds no key');
  const byVersion = new Map<number, EncryptionKey>();
  const ordered: EncryptionKey[] = [];
  for (const [index, entry] of entries.entries()) {
    const versioned = VERSIONED.exec(entry);
    const version = versioned ? Number(versioned[1]) : BARE_KEY_VERSION;
    const encoded = versioned ? versioned[2]! : entry;
    if (!BASE64.test(encoded)) {
      throw new KeyringFormatError(
        `entry ${index + 1} is neither a base64 key of 32 bytes nor of the form v<version>:<base64 of 32 bytes>`,
      );
    }
    const key = Buffer.from(
      encoded,
      encoded.includes('-') || encoded.includes('_') ? 'base64url' : 'base64',
    );
    if (key.length !== 32) {
      throw new KeyringFormatError(
        `key v${version}${versioned ? '' : ' (given without a version)'} decodes to ${key.length} bytes; AES-256 needs exactly 32`,
      );
    }
    if (byVersion.has(version)) {
      const hint = version === BARE_KEY_VERSION ? ' (a key given without a version is v1)' : '';
      throw new KeyringFormatError(`version v${version} appears twice${hint}`);
    }
    const entryKey = { version, key };
    byVersion.set(version, entryKey);
    ordered.push(entryKey);
  }
  return { current: ordered[0]!, byVersion };
}

export function generateKeyringEntry(version = 1): string {
  return `v${version}:${randomBytes(32).toString('base64')}`;
}
