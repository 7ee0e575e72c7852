import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { UUID_PATTERN as UUID } from '../../common/uuid';
import {
  TOKEN_TYPES,
  type StoreTokenInput,
  type StoredToken,
  type TokenMetadata,
} from '../../domain/entities/account-token.entity';
import type { Queryable } from '../../domain/repositories/queryable';
import type { Db } from '../database/database';
import { PG } from '../database/database.module';
import { PostgresAccountTokenRepository } from '../database/repositories/postgres-account-token.repository';
import { TokenCipher } from './token-cipher';
import { verifyTokenKeys } from './token-key-check';

export {
  TOKEN_TYPES,
  type StoreTokenInput,
  type StoredToken,
  type TokenMetadata,
  type TokenType,
} from '../../domain/entities/account-token.entity';
export { TokenKeyError } from './token-key-check';

/**
 * The account id in the one form that is bound into each ciphertext (PostgreSQL's own text form of
 * a UUID), so `ABC...` and `abc...` name the same token.
 */
function canonicalAccountId(accountId: string): string {
  if (typeof accountId !== 'string' || !UUID.test(accountId)) {
    throw new TypeError('account id must be a UUID');
  }
  return accountId.toLowerCase();
}

function isValidDate(value: unknown): value is Date {
  return value instanceof Date && !Number.isNaN(value.getTime());
}

function validateInput(input: StoreTokenInput): void {
  if (typeof input.accessToken !== 'string' || input.accessToken.length === 0) {
    throw new TypeError('accessToken must be a non-empty string');
  }
  if (!TOKEN_TYPES.includes(input.tokenType)) {
    throw new TypeError(`tokenType must be one of ${TOKEN_TYPES.join(', ')}`);
  }
  if (input.issuedAt !== undefined && !isValidDate(input.issuedAt)) {
    throw new TypeError('issuedAt must be a valid Date');
  }
  if (input.expiresAt !== null && !isValidDate(input.expiresAt)) {
    throw new TypeError('expiresAt must be a valid Date or null');
  }
  if (!Array.isArray(input.scopes) || !input.scopes.every((s) => typeof s === 'string')) {
    throw new TypeError('scopes must be an array of strings');
  }
}

/**
 * Where services keep and read access tokens, and the only code that hands out a plaintext one:
 * tokens are sealed by the {@link TokenCipher} before they reach the repository's SQL and opened
 * only in {@link read}. Every method that a caller may want inside its own transaction takes an
 * optional task/transaction `tx`. Re-encryption under a new key is `TokenRotation`'s.
 */
@Injectable()
export class TokenVault implements OnModuleInit {
  // The vault owns its repository rather than having it injected: no other provider may reach
  // `account_tokens`, so the repository is not one anybody could ask for.
  private readonly tokens: PostgresAccountTokenRepository;

  constructor(
    @Inject(PG) db: Db,
    private readonly cipher: TokenCipher,
  ) {
    this.tokens = new PostgresAccountTokenRepository(db);
  }

  /** Boot check: a missing or wrong key fails the start instead of a later request. */
  async onModuleInit(): Promise<void> {
    await this.verifyKeys();
  }

  /** Inserts or replaces the account's token; a replacement sets `lastRefreshedAt`. */
  async store(accountId: string, input: StoreTokenInput, tx?: Queryable): Promise<TokenMetadata> {
    const id = canonicalAccountId(accountId);
    validateInput(input);
    const { accessToken, ...token } = input;
    return this.tokens.upsert(id, this.cipher.encrypt(accessToken, id), token, tx);
  }

  /**
   * The decrypted token, or `null` when the account has none. A row that does not authenticate
   * (wrong key, copied from another account, altered) throws `TokenDecryptionError`.
   */
  async read(accountId: string, tx?: Queryable): Promise<StoredToken | null> {
    const id = canonicalAccountId(accountId);
    const found = await this.tokens.find(id, tx);
    if (!found) return null;
    return { accessToken: this.cipher.decrypt(found.sealed, id), ...found.metadata };
  }

  /** What {@link read} returns, without decrypting: for status displays. */
  async metadata(accountId: string, tx?: Queryable): Promise<TokenMetadata | null> {
    return this.tokens.findMetadata(canonicalAccountId(accountId), tx);
  }

  /** Deletes the account's token; `true` if there was one. */
  async destroy(accountId: string, tx?: Queryable): Promise<boolean> {
    return this.tokens.delete(canonicalAccountId(accountId), tx);
  }

  /**
   * Every key version used in `account_tokens` must be in the keyring and must decrypt a sample of
   * its rows; otherwise a `TokenKeyError` says which key is missing or wrong.
   */
  async verifyKeys(): Promise<void> {
    await verifyTokenKeys(this.tokens, this.cipher);
  }
}
