import type { Db } from '../database/database';
import { PostgresAccountTokenRepository } from '../database/repositories/postgres-account-token.repository';
import {
  TokenDecryptionError,
  type TokenCipher,
  type TokenDecryptionFailure,
} from './token-cipher';
import { verifyTokenKeys } from './token-key-check';

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
export const MAX_ROTATION_BATCH_SIZE = 10_000;
const MAX_REPORTED_FAILURES = 100;
/** The nil UUID, below every id gen_random_uuid() makes: where the keyset cursor starts. */
const FIRST_UUID = '00000000-0000-0000-0000-000000000000';

/**
 * `npm run tokens:rotate`: moves every stored token onto the keyring's current key. The only code
 * besides the token vault that opens a sealed token, and it only seals it again.
 */
export class TokenRotation {
  private readonly tokens: PostgresAccountTokenRepository;

  constructor(
    db: Db,
    private readonly cipher: TokenCipher,
  ) {
    this.tokens = new PostgresAccountTokenRepository(db);
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
    await verifyTokenKeys(this.tokens, this.cipher);
    const current = this.cipher.currentKeyVersion;
    const total = await this.tokens.countNotOnKeyVersion(current);
    const progress: RotationProgress = { total, processed: 0, rotated: 0, failed: 0 };
    const failures: RotationFailure[] = [];
    options.onProgress?.({ ...progress });

    let after = FIRST_UUID;
    for (;;) {
      let failed = 0;
      const batch = await this.tokens.resealBatch(current, after, batchSize, (row) => {
        try {
          return this.cipher.encrypt(this.cipher.decrypt(row.sealed, row.accountId), row.accountId);
        } catch (error) {
          if (!(error instanceof TokenDecryptionError)) throw error;
          failed++;
          if (failures.length < MAX_REPORTED_FAILURES) {
            failures.push({
              accountId: row.accountId,
              keyVersion: row.sealed.keyVersion,
              reason: error.reason,
            });
          }
          return null;
        }
      });
      if (batch.scanned === 0 || batch.lastAccountId === undefined) break;
      after = batch.lastAccountId;
      progress.processed += batch.scanned;
      progress.rotated += batch.resealed;
      progress.failed += failed;
      options.onProgress?.({ ...progress });
      // Fewer rows than asked: the scan reached the end of the table.
      if (batch.scanned < batchSize) break;
    }

    const remaining = await this.tokens.countNotOnKeyVersion(current);
    return { total, rotated: progress.rotated, remaining, failed: progress.failed, failures };
  }
}
