import { Inject, Injectable } from '@nestjs/common';
import { PreparedStatement } from 'pg-promise';
import {
  TOKEN_TYPES,
  type StoreTokenInput,
  type TokenMetadata,
  type TokenType,
} from '../../../domain/entities/account-token.entity';
import type { SealedToken } from '../../crypto/token-cipher';
import type { Db, Queryable } from '../database';
import { PG } from '../database.module';

/** The sealed token of one account, as the key check and the rotation read it. */
export interface SealedAccountToken {
  accountId: string;
  sealed: SealedToken;
}

/** What one batch of {@link PostgresAccountTokenRepository.resealBatch} did. */
export interface ResealedBatch {
  /** Rows locked and handed to the reseal function. */
  scanned: number;
  /** The highest account id scanned: where the next batch starts. */
  lastAccountId: string | undefined;
  /** Rows written back with a new sealed value. */
  resealed: number;
}

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
const countOtherKeys = new PreparedStatement({
  name: 'account-tokens-count-stale',
  text: 'SELECT count(*)::int AS n FROM account_tokens WHERE key_version <> $1',
});
const lockOtherKeysBatch = new PreparedStatement({
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

function toSealed(row: SealedRow): SealedToken {
  return {
    ciphertext: row.ciphertext,
    iv: row.iv,
    authTag: row.auth_tag,
    keyVersion: row.key_version,
  };
}

/**
 * pg-promise hangs the failed statement and its values on a query error (`error.query`). The values
 * of these writes include sealed tokens, which have no place in a log line: keep the statement's
 * name only.
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

/**
 * The `account_tokens` table: sealed tokens in, sealed tokens out. It never sees a plaintext token
 * or a key; the token vault seals and opens them. Account ids arrive in the canonical form the
 * vault binds into each ciphertext.
 */
@Injectable()
export class PostgresAccountTokenRepository {
  constructor(@Inject(PG) private readonly db: Db) {}

  /** Inserts or replaces the account's token; a replacement sets `last_refreshed_at`. */
  async upsert(
    accountId: string,
    sealed: SealedToken,
    token: Omit<StoreTokenInput, 'accessToken'>,
    tx: Queryable = this.db,
  ): Promise<TokenMetadata> {
    const row = await tx
      .one<MetadataRow>(upsertToken, [
        accountId,
        sealed.ciphertext,
        sealed.iv,
        sealed.authTag,
        sealed.keyVersion,
        token.tokenType,
        token.issuedAt ?? null,
        token.expiresAt,
        JSON.stringify(token.scopes),
      ])
      .catch(withoutValues(upsertToken));
    return toMetadata(row);
  }

  async find(
    accountId: string,
    tx: Queryable = this.db,
  ): Promise<{ sealed: SealedToken; metadata: TokenMetadata } | null> {
    const row = await tx.oneOrNone<TokenRow>(findToken, [accountId]);
    return row ? { sealed: toSealed(row), metadata: toMetadata(row) } : null;
  }

  async findMetadata(accountId: string, tx: Queryable = this.db): Promise<TokenMetadata | null> {
    const row = await tx.oneOrNone<MetadataRow>(findMetadata, [accountId]);
    return row ? toMetadata(row) : null;
  }

  /** `true` if there was a token to delete. */
  async delete(accountId: string, tx: Queryable = this.db): Promise<boolean> {
    const deleted = await tx.result(deleteToken, [accountId], (r) => r.rowCount);
    return deleted > 0;
  }

  /** Every key version in use, ascending. */
  async keyVersions(): Promise<number[]> {
    const rows = await this.db.any<{ key_version: number }>(findKeyVersions);
    return rows.map((r) => r.key_version);
  }

  async sampleOfKeyVersion(keyVersion: number, limit: number): Promise<SealedAccountToken[]> {
    const rows = await this.db.any<SealedRow & { account_id: string }>(sampleByKeyVersion, [
      keyVersion,
      limit,
    ]);
    return rows.map((row) => ({ accountId: row.account_id, sealed: toSealed(row) }));
  }

  async countNotOnKeyVersion(keyVersion: number): Promise<number> {
    const { n } = await this.db.one<{ n: number }>(countOtherKeys, [keyVersion]);
    return n;
  }

  /**
   * One transaction: locks up to `limit` rows on another key than `keyVersion` with an account id
   * above `after` (SKIP LOCKED: rows a concurrent writer or rotation holds are left for a later
   * run), hands each to `reseal`, and writes back the values it returns as `keyVersion`. A row for
   * which `reseal` returns `null` stays as it is; an error thrown by `reseal` rolls the batch back.
   */
  async resealBatch(
    keyVersion: number,
    after: string,
    limit: number,
    reseal: (token: SealedAccountToken) => SealedToken | null,
  ): Promise<ResealedBatch> {
    return this.db.tx('account-tokens-rotate', async (t) => {
      const rows = await t.any<SealedRow & { account_id: string }>(lockOtherKeysBatch, [
        keyVersion,
        after,
        limit,
      ]);
      const ids: string[] = [];
      const ciphertexts: Buffer[] = [];
      const ivs: Buffer[] = [];
      const tags: Buffer[] = [];
      for (const row of rows) {
        const sealed = reseal({ accountId: row.account_id, sealed: toSealed(row) });
        if (!sealed) continue;
        ids.push(row.account_id);
        ciphertexts.push(sealed.ciphertext);
        ivs.push(sealed.iv);
        tags.push(sealed.authTag);
      }
      if (ids.length > 0) {
        await t
          .none(reencryptBatch, [ids, ciphertexts, ivs, tags, keyVersion])
          .catch(withoutValues(reencryptBatch));
      }
      return { scanned: rows.length, lastAccountId: rows.at(-1)?.account_id, resealed: ids.length };
    });
  }
}
