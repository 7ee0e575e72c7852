import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { ZodIssue } from 'zod';
import { generateKeyringEntry, KeyringFormatError, parseKeyring } from './keyring';
import { DEMO_APP_ID, DEMO_APP_SECRET } from './demo-app';
import { envSchema, type Env } from './env.schema';

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export interface InstagramConfig {
  /** No app credentials outside production: the bundled emulator stands in for Meta. */
  demo: boolean;
  appId: string;
  appSecret: string;
  redirectUri: string;
  oauthUrl: string;
  apiUrl: string;
  graphApiUrl: string;
  extraScopes: string[];
  timeoutMs: number;
  /** One call's total across its retries. */
  deadlineMs: number;
  maxRetries: number;
  sendAppsecretProof: boolean;
}

export interface WebhooksConfig {
  /** Loopback and private receivers (development, tests); link-local and metadata never. */
  allowPrivateTargets: boolean;
  /** A 2xx within this long is delivered. */
  timeoutMs: number;
  /** The first retry's delay; each next one doubles, up to `retryMaxDelayMs` (with jitter). */
  retryBaseMs: number;
  retryMaxDelayMs: number;
  /** Deliveries in flight at once per worker process (each to a different endpoint/account pair). */
  concurrency: number;
}

export interface JobsConfig {
  /** Jobs of each per-account kind running at once in one worker process. */
  concurrency: number;
  /** How often an idle worker asks the queue for work. */
  pollIntervalMs: number;
  /** Jobs ready for this long with none started: the queue is stalled (logged, on readiness). */
  stallSeconds: number;
}

/** The one HTTP fetch that downloads Instagram profile pictures (src/infrastructure/http/). */
export interface PictureFetchConfig {
  timeoutMs: number;
  maxBytes: number;
  /**
   * Loopback and private targets are refused unless this is set: demo mode sets it for the
   * in-process emulator on 127.0.0.1, tests through PICTURE_FETCH_ALLOW_PRIVATE. Never in
   * production. Link-local and metadata addresses are refused always.
   */
  allowPrivateAddresses: boolean;
}

/** Instagram's pictures are small; the contract caps a kept picture at 5 MB. */
export const PICTURE_MAX_BYTES = 5 * 1024 * 1024;

export interface AppConfig {
  env: Env['NODE_ENV'];
  isProduction: boolean;
  port: number;
  host: string;
  /** Behind a load balancer: take the client IP from X-Forwarded-For (rate limits key on it). */
  trustProxy: boolean;
  logLevel: Env['LOG_LEVEL'];
  dataDir: string;
  publicUrl: string;
  database: {
    url: string | undefined;
    poolSize: number;
    embeddedPort: number;
    /** `statement_timeout`; the client gives up a second later on a server that never answers. */
    statementTimeoutMs: number;
    /** Waiting for a connection (from the pool or a new one). */
    connectTimeoutMs: number;
  };
  auth: {
    jwtSecret: string;
    jwtTtlSeconds: number;
    sessionTtlDays: number;
    rateLimit: { perIp: number; perEmail: number; windowSeconds: number };
  };
  /** The public connect-link pages (`/connect/<token>`): requests per client IP per window. */
  connectPages: { rateLimit: { perIp: number; windowSeconds: number } };
  /** The raw, validated `TOKEN_ENCRYPTION_KEY`; only the token cipher turns it into keys. */
  tokenEncryptionKey: string;
  corsOrigins: string[];
  redisUrl: string | undefined;
  instagram: InstagramConfig;
  webhooks: WebhooksConfig;
  pictures: PictureFetchConfig;
  /** Tokens expiring within this many days are refreshed (and retried until they expire). */
  tokenRefreshWindowDays: number;
  /** Accounts one sync sweep queues (most overdue first); the rest wait for the next sweep. */
  syncSweepBatch: number;
  emulatorPort: number;
  jobsEnabled: boolean;
  jobs: JobsConfig;
  /** Swagger UI at /docs and the document at /docs-json. */
  docsEnabled: boolean;
}

export { DEMO_APP_ID, DEMO_APP_SECRET } from './demo-app';

function describe(issue: ZodIssue): string {
  const name = issue.path.join('.') || '(environment)';
  return `${name}: ${issue.message}`;
}

interface DevSecrets {
  jwtSecret: string;
  tokenEncryptionKey: string;
}

/**
 * Development convenience: secrets that were not given are generated once and kept in DATA_DIR
 * (mode 0600), so a restart keeps sessions valid and stored tokens decryptable.
 */
function loadOrCreateDevSecrets(dataDir: string): DevSecrets {
  const file = resolve(dataDir, 'secrets.json');
  if (existsSync(file)) {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<DevSecrets>;
    if (parsed.jwtSecret && parsed.tokenEncryptionKey) {
      return { jwtSecret: parsed.jwtSecret, tokenEncryptionKey: parsed.tokenEncryptionKey };
    }
  }
  mkdirSync(dataDir, { recursive: true });
  const secrets: DevSecrets = {
    jwtSecret: randomBytes(48).toString('base64url'),
    tokenEncryptionKey: generateKeyringEntry(1),
  };
  writeFileSync(file, JSON.stringify(secrets, null, 2) + '\n', { mode: 0o600 });
  chmodSync(file, 0o600);
  return secrets;
}

export function loadConfig(source: NodeJS.ProcessEnv = process.env): AppConfig {
  const parsed = envSchema.safeParse(source);
  if (!parsed.success) {
    throw new ConfigError(
      `Invalid configuration:\n  ${parsed.error.issues.map(describe).join('\n  ')}`,
    );
  }
  const env = parsed.data;
  const isProduction = env.NODE_ENV === 'production';
  const dataDir = resolve(env.DATA_DIR);

  let jwtSecret = env.JWT_SECRET;
  let tokenEncryptionKey = env.TOKEN_ENCRYPTION_KEY;
  if (isProduction) {
    if (!jwtSecret) throw new ConfigError('JWT_SECRET is required when NODE_ENV=production');
    if (!tokenEncryptionKey) {
      throw new ConfigError('TOKEN_ENCRYPTION_KEY is required when NODE_ENV=production');
    }
  } else if (!jwtSecret || !tokenEncryptionKey) {
    const dev = loadOrCreateDevSecrets(dataDir);
    jwtSecret ??= dev.jwtSecret;
    tokenEncryptionKey ??= dev.tokenEncryptionKey;
  }
  try {
    parseKeyring(tokenEncryptionKey);
  } catch (error) {
    if (error instanceof KeyringFormatError) {
      throw new ConfigError(`TOKEN_ENCRYPTION_KEY: ${error.message}`);
    }
    throw error;
  }

  const hasId = env.INSTAGRAM_APP_ID !== undefined;
  const hasSecret = env.INSTAGRAM_APP_SECRET !== undefined;
  if (hasId !== hasSecret) {
    throw new ConfigError(
      `${hasId ? 'INSTAGRAM_APP_SECRET' : 'INSTAGRAM_APP_ID'} is required when ${hasId ? 'INSTAGRAM_APP_ID' : 'INSTAGRAM_APP_SECRET'} is set`,
    );
  }
  const demo = !hasId;
  if (demo && isProduction) {
    throw new ConfigError(
      'INSTAGRAM_APP_ID and INSTAGRAM_APP_SECRET are required when NODE_ENV=production (demo mode runs only in development)',
    );
  }

  if (isProduction && env.PICTURE_FETCH_ALLOW_PRIVATE) {
    throw new ConfigError(
      'PICTURE_FETCH_ALLOW_PRIVATE=true is for development and tests (an emulator on 127.0.0.1); it is refused when NODE_ENV=production',
    );
  }

  // A customer's endpoint on the operator's own network is the SSRF this policy exists to stop:
  // in production the policy holds (receivers on private networks need a public address or a
  // relay), so one setting cannot open every internal service to every user.
  if (isProduction && env.WEBHOOK_ALLOW_PRIVATE_TARGETS) {
    throw new ConfigError(
      'WEBHOOK_ALLOW_PRIVATE_TARGETS=true is for development and tests (receivers on loopback); it is refused when NODE_ENV=production',
    );
  }

  const publicUrl = env.PUBLIC_URL ?? `http://localhost:${env.PORT}`;
  return {
    env: env.NODE_ENV,
    isProduction,
    port: env.PORT,
    host: env.HOST ?? (demo ? '127.0.0.1' : '0.0.0.0'),
    trustProxy: env.TRUST_PROXY,
    logLevel: env.LOG_LEVEL,
    dataDir,
    publicUrl,
    database: {
      url: env.DATABASE_URL,
      poolSize: env.DATABASE_POOL_SIZE,
      embeddedPort: env.EMBEDDED_PG_PORT,
      statementTimeoutMs: env.DATABASE_STATEMENT_TIMEOUT_MS,
      connectTimeoutMs: env.DATABASE_CONNECT_TIMEOUT_MS,
    },
    auth: {
      jwtSecret,
      jwtTtlSeconds: env.JWT_TTL_SECONDS,
      sessionTtlDays: env.SESSION_TTL_DAYS,
      rateLimit: {
        perIp: env.AUTH_RATE_LIMIT_PER_IP,
        perEmail: env.AUTH_RATE_LIMIT_PER_EMAIL,
        windowSeconds: env.AUTH_RATE_LIMIT_WINDOW_SECONDS,
      },
    },
    connectPages: {
      rateLimit: {
        perIp: env.CONNECT_PAGE_RATE_LIMIT_PER_IP,
        windowSeconds: env.CONNECT_PAGE_RATE_LIMIT_WINDOW_SECONDS,
      },
    },
    tokenEncryptionKey,
    corsOrigins: env.CORS_ORIGINS,
    redisUrl: env.REDIS_URL,
    instagram: {
      demo,
      appId: env.INSTAGRAM_APP_ID ?? DEMO_APP_ID,
      appSecret: env.INSTAGRAM_APP_SECRET ?? DEMO_APP_SECRET,
      redirectUri: env.INSTAGRAM_REDIRECT_URI ?? `${publicUrl}/instagram/oauth/callback`,
      oauthUrl: env.INSTAGRAM_OAUTH_URL,
      apiUrl: env.INSTAGRAM_API_URL,
      graphApiUrl: env.INSTAGRAM_GRAPH_API_URL,
      extraScopes: env.INSTAGRAM_SCOPES,
      timeoutMs: env.INSTAGRAM_TIMEOUT_MS,
      deadlineMs: env.INSTAGRAM_DEADLINE_MS,
      maxRetries: env.INSTAGRAM_MAX_RETRIES,
      sendAppsecretProof: env.INSTAGRAM_APPSECRET_PROOF,
    },
    webhooks: {
      allowPrivateTargets: env.WEBHOOK_ALLOW_PRIVATE_TARGETS,
      timeoutMs: env.WEBHOOK_TIMEOUT_MS,
      retryBaseMs: env.WEBHOOK_RETRY_BASE_MS,
      retryMaxDelayMs: Math.max(env.WEBHOOK_RETRY_MAX_DELAY_MS, env.WEBHOOK_RETRY_BASE_MS),
      concurrency: env.WEBHOOK_CONCURRENCY,
    },
    pictures: {
      timeoutMs: env.PICTURE_FETCH_TIMEOUT_MS,
      maxBytes: PICTURE_MAX_BYTES,
      allowPrivateAddresses: env.PICTURE_FETCH_ALLOW_PRIVATE,
    },
    tokenRefreshWindowDays: env.TOKEN_REFRESH_WINDOW_DAYS,
    syncSweepBatch: env.SYNC_SWEEP_BATCH,
    emulatorPort: env.EMULATOR_PORT,
    jobsEnabled: env.JOBS_ENABLED,
    jobs: {
      concurrency: env.JOBS_CONCURRENCY,
      pollIntervalMs: env.JOBS_POLL_INTERVAL_MS,
      stallSeconds: env.JOBS_STALL_SECONDS,
    },
    docsEnabled:
      env.DOCS_ENABLED === undefined
        ? !isProduction
        : env.DOCS_ENABLED === 'true' || env.DOCS_ENABLED === '1',
  };
}
