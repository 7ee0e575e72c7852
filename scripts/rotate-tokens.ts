import 'dotenv/config';
import { parseArgs } from 'node:util';
import { Presets, SingleBar } from 'cli-progress';
import { ConfigError, loadConfig, type AppConfig } from '../src/config/config';
import { TokenCipher } from '../src/infrastructure/crypto/token-cipher';
import { TokenKeyError } from '../src/infrastructure/crypto/token-key-check';
import {
  DEFAULT_ROTATION_BATCH_SIZE,
  MAX_ROTATION_BATCH_SIZE,
  TokenRotation,
  type RotationProgress,
  type RotationResult,
} from '../src/infrastructure/crypto/token-rotation';
import { WebhookSecretCipher } from '../src/infrastructure/crypto/webhook-secret-cipher';
import { createDatabase } from '../src/infrastructure/database/database';
import { PostgresWebhookEndpointRepository } from '../src/infrastructure/database/repositories/postgres-webhook-endpoint.repository';
import { withOperatorDatabase } from './lib/operator-database';

const USAGE = `Usage: npm run tokens:rotate -- [--batch-size N]

Re-encrypts every stored access token, and every webhook signing secret, with the current
(first) key of TOKEN_ENCRYPTION_KEY.
Put the new key first and keep the old ones after it (v2:<new>,v1:<old>), run this, then drop
the old keys. Safe to run while the service runs, and to re-run: it continues where it stopped.

  --batch-size N   rows per transaction (default ${DEFAULT_ROTATION_BATCH_SIZE})
  -h, --help       this text`;

export interface RunRotationOptions {
  batchSize: number;
  onProgress?: (progress: RotationProgress) => void;
  /** Operational messages (database, migrations); never a token. */
  log?: (message: string) => void;
}

/** The webhook signing secrets, sealed under the same key ring (one pass: a few per user). */
export interface WebhookSecretRotationResult {
  rotated: number;
  /** Endpoints whose secret did not open: left as they were. */
  left: string[];
}

export type RunRotationResult = RotationResult & { webhookSecrets: WebhookSecretRotationResult };

/**
 * Everything `npm run tokens:rotate` does: reach the database (DATABASE_URL, else the embedded
 * cluster of DATA_DIR, started and stopped here unless already running), apply pending migrations,
 * check the keys, re-encrypt.
 */
export async function runRotation(
  config: AppConfig,
  options: RunRotationOptions,
): Promise<RunRotationResult> {
  const log = options.log ?? (() => undefined);
  return withOperatorDatabase(config, log, async (databaseUrl) => {
    const database = createDatabase(databaseUrl, 2, (error) =>
      log(`idle database connection failed: ${error.message}`),
    );
    try {
      const cipher = TokenCipher.fromKeyString(config.tokenEncryptionKey);
      const rotation = new TokenRotation(database.db, cipher);
      const tokens = await rotation.rotate({
        batchSize: options.batchSize,
        onProgress: options.onProgress,
      });
      const secrets = new WebhookSecretCipher(cipher);
      const endpoints = new PostgresWebhookEndpointRepository(database.db);
      const { resealed, left } = await endpoints.resealSecrets(cipher.currentKeyVersion, (id, s) =>
        secrets.reseal(s, id),
      );
      return { ...tokens, webhookSecrets: { rotated: resealed.length, left } };
    } finally {
      await database.close();
    }
  });
}

function parseBatchSize(value: string | undefined): number {
  if (value === undefined) return DEFAULT_ROTATION_BATCH_SIZE;
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > MAX_ROTATION_BATCH_SIZE) {
    throw new RangeError(
      `--batch-size must be an integer from 1 to ${MAX_ROTATION_BATCH_SIZE}, not "${value}"`,
    );
  }
  return Number(value);
}

function summary(result: RunRotationResult, keyVersion: number): string {
  const lines = [
    `${result.rotated} of ${result.total} token(s) re-encrypted with key v${keyVersion}; ` +
      `${result.remaining} remain on older keys.`,
  ];
  if (result.failed > 0) {
    lines.push(`${result.failed} token(s) did not decrypt and were left as they were:`);
    for (const f of result.failures) {
      lines.push(`  account ${f.accountId} (key v${f.keyVersion}): ${f.reason}`);
    }
    if (result.failures.length < result.failed) {
      lines.push(`  ... and ${result.failed - result.failures.length} more`);
    }
    lines.push('Reconnect or disconnect those accounts; their tokens cannot be used.');
  } else if (result.remaining > 0) {
    lines.push('Rows were locked by another rotation or changed meanwhile: run this again.');
  }
  const { webhookSecrets } = result;
  lines.push(`${webhookSecrets.rotated} webhook signing secret(s) re-encrypted.`);
  for (const id of webhookSecrets.left) {
    lines.push(
      `  webhook ${id}: its secret did not decrypt; rotate its secret (POST /webhooks/:id/rotate-secret)`,
    );
  }
  if (result.failed === 0 && result.remaining === 0 && webhookSecrets.left.length === 0) {
    lines.push('Every token and secret is on the current key: older keys can now be removed.');
  }
  return lines.join('\n');
}

async function main(argv: string[]): Promise<number> {
  let batchSize: number;
  try {
    const { values } = parseArgs({
      args: argv,
      options: { 'batch-size': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    });
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    batchSize = parseBatchSize(values['batch-size']);
  } catch (error) {
    console.error(`tokens:rotate: ${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }

  let config: AppConfig;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`tokens:rotate: ${error.message}`);
      return 1;
    }
    throw error;
  }
  const keyVersion = TokenCipher.fromKeyString(config.tokenEncryptionKey).currentKeyVersion;

  const bar = new SingleBar(
    {
      format: 'rotating [{bar}] {percentage}% | {value}/{total} tokens | ETA {eta_formatted}',
      hideCursor: true,
    },
    Presets.shades_classic,
  );
  let barStarted = false;
  const stopBar = () => {
    if (barStarted) bar.stop();
    barStarted = false;
  };
  try {
    const result = await runRotation(config, {
      batchSize,
      log: (message) => console.error(message),
      onProgress: (progress) => {
        if (!barStarted) {
          bar.start(progress.total, progress.processed);
          barStarted = true;
        } else {
          bar.update(progress.processed);
        }
      },
    });
    stopBar();
    console.log(summary(result, keyVersion));
    return result.failed > 0 || result.remaining > 0 || result.webhookSecrets.left.length > 0
      ? 1
      : 0;
  } catch (error) {
    stopBar();
    const known = error instanceof TokenKeyError || error instanceof RangeError;
    const detail =
      error instanceof Error
        ? known
          ? error.message
          : (error.stack ?? error.message)
        : String(error);
    console.error(`tokens:rotate failed: ${detail}`);
    return 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      console.error(
        `tokens:rotate failed: ${error instanceof Error ? error.stack : String(error)}`,
      );
      process.exitCode = 1;
    },
  );
}
