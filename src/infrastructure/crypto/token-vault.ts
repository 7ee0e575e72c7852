import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { PreparedStatement, type IBaseProtocol, type ITask } from 'pg-promise';
import type { Db } from '../database/database';
import { PG } from '../database/database.module';
import {
  TokenCipher,
  TokenDecryptionError,
  type SealedToken,
  type TokenDecryptionFailure,
} from './token-cipher';

export type TokenType = 'short_lived' | 'long_lived';
export const TOKEN_TYPES: readonly TokenType[] = ['short_lived', 'long_lived'];

/** The database handle or a caller's task/transaction, to make a vault call part of it. */
export type Queryable = ITask<unknown> | Db;

export interface StoreTokenInput {
  accessToken: string;
  tokenType: TokenType;
  /** Defaults to the database's now(). */
  issuedAt?: Date;
  /** `null`: the token does not expire. */
  expiresAt: Date | null;
  scopes: string[];
}

/** Everything about a stored token except the token: safe for status displays. */
export interface TokenMetadata {
  tokenType: TokenType;
  issuedAt: Date;
  expiresAt: Date | null;
  /** When a stored token was last replaced (refresh or reconnect); `null` until then. */
  lastRefreshedAt: Date | null;
  scopes: string[];
  keyVersion: number;
}

export interface StoredToken extends TokenMetadata {
  accessToken: string;
}

/** The configured keys cannot serve the tokens in `account_tokens`: fatal at boot. */
export class TokenKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TokenKeyError';
  }
}

export interface RotationProgress {
  /** Rows on another key than the current one when the rotation started. */
  total: number;
  /** Rows looked at so far (rotated + failed). */
  processed: number;
  rotated: number;
  failed: number;
}

export interface RotateOptions {
  /** Rows per transaction; 500 by default. */
  batchSize?: number;
  /** Called once before the first batch, then after each committed batch. */
  onProgress?: (progress: RotationProgress) => void;
}

export interface RotationFailure {
  accountId: string;
  keyVersion: number;
  reason: TokenDecryptionFailure;
}

export interface RotationResult {
  total: number;
  rotated: number;
  /** Rows still on another key afterwards (failed rows, rows locked by a concurrent run). */
  remaining: number;
  failed: number;
  /** The first {@link MAX_REPORTED_FAILURES} rows that did not decrypt; left as they were. */
  failures: RotationFailure[];
}

export const DEFAULT_ROTATION_BATCH_SIZE = 500;
const MAX_ROTATION_BATCH_SIZE = 10_000;
const MAX_REPORTED_FAILURES = 100;
/** Rows of one key version that `verifyKeys` tries; one that decrypts proves the key. */
const VERIFY_SAMPLE_ROWS = 3;

interface MetadataRow {
  token_type: string;
  issued_at: Date;
  expires_at: Date | null;
  last_refreshed_at: Date | null;
  scopes: unknown;
  key_version: number;
}

interface SealedRow {
  ciphertext: Buffer;
  iv: Buffer;
  auth_tag: Buffer;
  key_version: number;
}

type TokenRow = MetadataRow & SealedRow;

const METADATA_COLUMNS =
  'token_type, issued_at, expires_at, last_refreshed_at, scopes, key_version';
const SEALED_COLUMNS = 'ciphertext, iv, auth_tag, key_version';

const upsertToken = new PreparedStatement({
  name: 'account-tokens-upsert',
  text: `INSERT INTO account_tokens
           (account_id, ciphertext, iv, auth_tag, key_version, token_type, issued_at, expires_at,
            scopes)
         VALUES ($1, $2, $3, $4, $5, $6, COALESCE($7::timestamptz, now()), $8, $9::jsonb)
         ON CONFLICT (account_id) DO UPDATE SET
           ciphertext = EXCLUDED.ciphertext,
           iv = EXCLUDED.iv,
           auth_tag = EXCLUDED.auth_tag,
           key_version = EXCLUDED.key_version,
           token_type = EXCLUDED.token_type,
           issued_at = EXCLUDED.issued_at,
           expires_at = EXCLUDED.expires_at,
           scopes = EXCLUDED.scopes,
           last_refreshed_at = now()
         RETURNING ${METADATA_COLUMNS}`,
});
const findToken = new PreparedStatement({
  name: 'account-tokens-find',
  text: `SELECT ciphertext, iv, auth_tag, token_type, issued_at, expires_at, last_refreshed_at,
                scopes, key_version
         FROM account_tokens WHERE account_id = $1`,
});
const findMetadata = new PreparedStatement({
  name: 'account-tokens-find-metadata',
  text: `SELECT ${METADATA_COLUMNS} FROM account_tokens WHERE account_id = $1`,
});
const deleteToken = new PreparedStatement({
  name: 'account-tokens-delete',
  text: 'DELETE FROM account_tokens WHERE account_id = $1',
});

// A loose index scan over account_tokens_key_version_idx: one index probe per distinct version,
// so the boot check stays instant however many rows the table holds.
const findKeyVersions = new PreparedStatement({
  name: 'account-tokens-key-versions',
  text: `WITH RECURSIVE versions (key_version) AS (
           (SELECT key_version FROM account_tokens ORDER BY key_version LIMIT 1)
           UNION ALL
           SELECT (SELECT t.key_version FROM account_tokens t
                   WHERE t.key_version > v.key_version ORDER BY t.key_version LIMIT 1)
           FROM versions v WHERE v.key_version IS NOT NULL
         )
         SELECT key_version FROM versions WHERE key_version IS NOT NULL ORDER BY key_version`,
});
const sampleByKeyVersion = new PreparedStatement({
  name: 'account-tokens-sample-by-key-version',
  text: `SELECT account_id, ${SEALED_COLUMNS} FROM account_tokens WHERE key_version = $1 LIMIT $2`,
});
const countStale = new PreparedStatement({
  name: 'account-tokens-count-stale',
  text: 'SELECT count(*)::int AS n FROM account_tokens WHERE key_version <> $1',
});
const lockStaleBatch = new PreparedStatement({
  name: 'account-tokens-lock-stale-batch',
  text: `SELECT account_id, ${SEALED_COLUMNS} FROM account_tokens
         WHERE key_version <> $1 AND account_id > $2
         ORDER BY account_id LIMIT $3
         FOR UPDATE SKIP LOCKED`,
});
const reencryptBatch = new PreparedStatement({
  name: 'account-tokens-reencrypt-batch',
  text: `UPDATE account_tokens AS t
         SET ciphertext = v.ciphertext, iv = v.iv, auth_tag = v.auth_tag, key_version = $5
         FROM unnest($1::uuid[], $2::bytea[], $3::bytea[], $4::bytea[])
           AS v (account_id, ciphertext, iv, auth_tag)
         WHERE t.account_id = v.account_id`,
});
/** The nil UUID, below every id gen_random_uuid() makes: where the rotation's keyset cursor starts. */
const FIRST_UUID = '00000000-0000-0000-0000-000000000000';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

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

function toMetadata(row: MetadataRow): TokenMetadata {
  const tokenType = row.token_type as TokenType;
  if (!TOKEN_TYPES.includes(tokenType)) {
    throw new Error(`account_tokens holds an unknown token_type "${row.token_type}"`);
  }
  const scopes = Array.isArray(row.scopes)
    ? row.scopes.filter((s): s is string => typeof s === 'string')
    : [];
  return {
    tokenType,
    issuedAt: row.issued_at,
    expiresAt: row.expires_at,
    lastRefreshedAt: row.last_refreshed_at,
    scopes,
    keyVersion: row.key_version,
  };
}

/**
 * pg-promise hangs the failed statement and its values on a query error (`error.query`). The values
 * of the vault's writes include sealed tokens, which have no place in a log line: keep the
 * statement's name only.
 */
function withoutValues(statement: PreparedStatement): (error: unknown) => never {
  return (error: unknown) => {
    if (typeof error === 'object' && error !== null && 'query' in error) {
      const e = error as { query?: unknown; params?: unknown };
      e.query = statement.name;
      e.params = undefined;
    }
    throw error;
  };
}

function toSealed(row: SealedRow): SealedToken {
  return {
    ciphertext: row.ciphertext,
    iv: row.iv,
    authTag: row.auth_tag,
    keyVersion: row.key_version,
  };
}

/**
 * The `account_tokens` table, and the only code that sees plaintext access tokens: they are
 * encrypted before they reach SQL and decrypted only in {@link read}. Every method that a caller
 * may want inside its own transaction takes an optional task/transaction `tx`.
 */
@Injectable()
export class TokenVault implements OnModuleInit {
  constructor(
    @Inject(PG) private readonly db: Db,
    private readonly cipher: TokenCipher,
  ) {}

  /** Boot check: a missing or wrong key fails the start instead of a later request. */
  async onModuleInit(): Promise<void> {
    await this.verifyKeys();
  }

  /** Inserts or replaces the account's token; a replacement sets `lastRefreshedAt`. */
  async store(accountId: string, input: StoreTokenInput, tx?: Queryable): Promise<TokenMetadata> {
    const id = canonicalAccountId(accountId);
    validateInput(input);
    const sealed = this.cipher.encrypt(input.accessToken, id);
    const row = await this.queryable(tx)
      .one<MetadataRow>(upsertToken, [
        id,
        sealed.ciphertext,
        sealed.iv,
        sealed.authTag,
        sealed.keyVersion,
        input.tokenType,
        input.issuedAt ?? null,
        input.expiresAt,
        JSON.stringify(input.scopes),
      ])
      .catch(withoutValues(upsertToken));
    return toMetadata(row);
  }

  /**
   * The decrypted token, or `null` when the account has none. A row that does not authenticate
   * (wrong key, copied from another account, altered) throws {@link TokenDecryptionError}.
   */
  async read(accountId: string, tx?: Queryable): Promise<StoredToken | null> {
    const id = canonicalAccountId(accountId);
    const row = await this.queryable(tx).oneOrNone<TokenRow>(findToken, [id]);
    if (!row) return null;
    const metadata = toMetadata(row);
    return { accessToken: this.cipher.decrypt(toSealed(row), id), ...metadata };
  }

  /** What {@link read} returns, without decrypting: for status displays. */
  async metadata(accountId: string, tx?: Queryable): Promise<TokenMetadata | null> {
    const id = canonicalAccountId(accountId);
    const row = await this.queryable(tx).oneOrNone<MetadataRow>(findMetadata, [id]);
    return row ? toMetadata(row) : null;
  }

  /** Deletes the account's token; `true` if there was one. */
  async destroy(accountId: string, tx?: Queryable): Promise<boolean> {
    const id = canonicalAccountId(accountId);
    const deleted = await this.queryable(tx).result(deleteToken, [id], (r) => r.rowCount);
    return deleted > 0;
  }

  /**
   * Every key version used in `account_tokens` must be in the keyring and must decrypt a sample of
   * its rows; otherwise a {@link TokenKeyError} says which key is missing or wrong.
   */
  async verifyKeys(): Promise<void> {
    const rows = await this.db.any<{ key_version: number }>(findKeyVersions);
    const versions = rows.map((r) => r.key_version);
    const missing = versions.filter((v) => !this.cipher.hasKeyVersion(v));
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
      const samples = await this.db.any<SealedRow & { account_id: string }>(sampleByKeyVersion, [
        version,
        VERIFY_SAMPLE_ROWS,
      ]);
      // One authenticated decrypt proves the key; a single damaged row is not a wrong key.
      const decrypts = samples.some((row) => {
        try {
          this.cipher.decrypt(toSealed(row), row.account_id);
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

  /**
   * Re-encrypts with the current key every row on another key, `batchSize` rows per transaction
   * (locked with SKIP LOCKED, so it can run beside the service and beside another rotation).
   * Resumable: rows already on the current key are never touched, so a re-run continues where an
   * interrupted one stopped. A row that does not decrypt is left as it is and reported.
   */
  async rotate(options: RotateOptions = {}): Promise<RotationResult> {
    const batchSize = options.batchSize ?? DEFAULT_ROTATION_BATCH_SIZE;
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > MAX_ROTATION_BATCH_SIZE) {
      throw new RangeError(`batchSize must be an integer from 1 to ${MAX_ROTATION_BATCH_SIZE}`);
    }
    await this.verifyKeys();
    const current = this.cipher.currentKeyVersion;
    const { n: total } = await this.db.one<{ n: number }>(countStale, [current]);
    const progress: RotationProgress = { total, processed: 0, rotated: 0, failed: 0 };
    const failures: RotationFailure[] = [];
    options.onProgress?.({ ...progress });

    let after = FIRST_UUID;
    for (;;) {
      const batch = await this.db.tx('account-tokens-rotate', async (t) => {
        const rows = await t.any<SealedRow & { account_id: string }>(lockStaleBatch, [
          current,
          after,
          batchSize,
        ]);
        const ids: string[] = [];
        const ciphertexts: Buffer[] = [];
        const ivs: Buffer[] = [];
        const tags: Buffer[] = [];
        let failed = 0;
        for (const row of rows) {
          let sealed: SealedToken;
          try {
            sealed = this.cipher.encrypt(
              this.cipher.decrypt(toSealed(row), row.account_id),
              row.account_id,
            );
          } catch (error) {
            if (!(error instanceof TokenDecryptionError)) throw error;
            failed++;
            if (failures.length < MAX_REPORTED_FAILURES) {
              failures.push({
                accountId: row.account_id,
                keyVersion: row.key_version,
                reason: error.reason,
              });
            }
            continue;
          }
          ids.push(row.account_id);
          ciphertexts.push(sealed.ciphertext);
          ivs.push(sealed.iv);
          tags.push(sealed.authTag);
        }
        if (ids.length > 0) {
          await t
            .none(reencryptBatch, [ids, ciphertexts, ivs, tags, current])
            .catch(withoutValues(reencryptBatch));
        }
        return { size: rows.length, last: rows.at(-1)?.account_id, rotated: ids.length, failed };
      });
      if (batch.size === 0 || batch.last === undefined) break;
      after = batch.last;
      progress.processed += batch.size;
      progress.rotated += batch.rotated;
      progress.failed += batch.failed;
      options.onProgress?.({ ...progress });
      // Fewer rows than asked: the scan reached the end of the table.
      if (batch.size < batchSize) break;
    }

    const { n: remaining } = await this.db.one<{ n: number }>(countStale, [current]);
    return { total, rotated: progress.rotated, remaining, failed: progress.failed, failures };
  }

  private queryable(tx: Queryable | undefined): IBaseProtocol<unknown> {
    return tx ?? this.db;
  }
}
