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

const ENTRY = /^v(\d{1,6}):([A-Za-z0-9+/_-]+={0,2})$/;

/**
 * Parses `v2:<base64>,v1:<base64>`. Each key must decode to exactly 32 bytes (AES-256); a key of
 * any other length is refused rather than stretched, so a typo never becomes a weak key.
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
    const match = ENTRY.exec(entry);
    if (!match) {
      throw new KeyringFormatError(
        `entry ${index + 1} is not of the form v<version>:<base64 of 32 bytes>`,
      );
    }
    const version = Number(match[1]);
    const key = Buffer.from(
      match[2]!,
      match[2]!.includes('-') || match[2]!.includes('_') ? 'base64url' : 'base64',
    );
    if (key.length !== 32) {
      throw new KeyringFormatError(
        `key v${version} decodes to ${key.length} bytes; AES-256 needs exactly 32`,
      );
    }
    if (byVersion.has(version)) throw new KeyringFormatError(`version v${version} appears twice`);
    const entryKey = { version, key };
    byVersion.set(version, entryKey);
    ordered.push(entryKey);
  }
  return { current: ordered[0]!, byVersion };
}

export function generateKeyringEntry(version = 1): string {
  return `v${version}:${randomBytes(32).toString('base64')}`;
}
