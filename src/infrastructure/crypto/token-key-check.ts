import type { PostgresAccountTokenRepository } from '../database/repositories/postgres-account-token.repository';
import { TokenDecryptionError, type TokenCipher } from './token-cipher';

/** The configured keys cannot serve the tokens in `account_tokens`: fatal at boot. */
export class TokenKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TokenKeyError';
  }
}

/** Rows of one key version that the check tries; one that decrypts proves the key. */
const SAMPLE_ROWS = 3;

/**
 * Every key version used in `account_tokens` must be in the keyring and must decrypt a sample of
 * its rows; otherwise a {@link TokenKeyError} says which key is missing or wrong. Run at boot and
 * before a rotation, so a wrong key stops the start instead of failing later requests.
 */
export async function verifyTokenKeys(
  tokens: PostgresAccountTokenRepository,
  cipher: TokenCipher,
): Promise<void> {
  const versions = await tokens.keyVersions();
  const missing = versions.filter((v) => !cipher.hasKeyVersion(v));
  if (missing.length > 0) {
    const names = missing.map((v) => `v${v}`);
    const keys =
      names.length === 1
        ? `key ${names[0]}`
        : `keys ${names.slice(0, -1).join(', ')} and ${names.at(-1)}`;
    throw new TokenKeyError(
      `account_tokens holds tokens encrypted with ${keys}, which TOKEN_ENCRYPTION_KEY does not contain` +
        ' (keep every old key listed after the current one until `npm run tokens:rotate` has moved all tokens off it)',
    );
  }
  for (const version of versions) {
    const samples = await tokens.sampleOfKeyVersion(version, SAMPLE_ROWS);
    // One authenticated decrypt proves the key; a single damaged row is not a wrong key.
    const decrypts = samples.some(({ accountId, sealed }) => {
      try {
        cipher.decrypt(sealed, accountId);
        return true;
      } catch (error) {
        if (error instanceof TokenDecryptionError) return false;
        throw error;
      }
    });
    if (samples.length > 0 && !decrypts) {
      throw new TokenKeyError(
        `TOKEN_ENCRYPTION_KEY's key v${version} does not decrypt stored tokens: wrong key?`,
      );
    }
  }
}
