import { z } from 'zod';

const port = z.coerce.number().int().min(0).max(65535);
const optionalString = z
  .string()
  .trim()
  .transform((v) => (v === '' ? undefined : v))
  .optional();
const url = (what: string) =>
  z
    .string()
    .trim()
    .url(`must be an absolute URL (${what})`)
    .transform((v) => v.replace(/\/+$/, ''));

/** The longest an access token may live (JWT_TTL_SECONDS's ceiling; the guard enforces it too). */
export const MAX_JWT_TTL_SECONDS = 3600;

/**
 * Every environment variable the service reads. Nothing else in the code base touches
 * `process.env`: this schema is the one place where a variable gets a type and a default.
 */
export const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  PORT: port.default(4000),
  // Unset: 0.0.0.0, but 127.0.0.1 in demo mode (its emulator and demo secret are public).
  HOST: optionalString,
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  DATA_DIR: z.string().default('./.data'),
  TRUST_PROXY: z
    .enum(['true', 'false', '1', '0'])
    .default('false')
    .transform((v) => v === 'true' || v === '1'),
  PUBLIC_URL: url('the address people and Meta reach this service at').optional(),

  DATABASE_URL: optionalString,
  DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(200).default(10),
  DATABASE_STATEMENT_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(5000),
  DATABASE_CONNECT_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(2000),
  EMBEDDED_PG_PORT: port.default(54329),

  JWT_SECRET: optionalString.refine((v) => v === undefined || v.length >= 32, {
    message: 'must be at least 32 characters',
  }),
  // At most an hour: a signed-out session's tokens are refused through the revocation list, but a
  // short life bounds what a stolen token is worth.
  JWT_TTL_SECONDS: z.coerce.number().int().min(60).max(MAX_JWT_TTL_SECONDS).default(900),
  SESSION_TTL_DAYS: z.coerce.number().int().min(1).max(365).default(30),
  TOKEN_ENCRYPTION_KEY: optionalString,

  CORS_ORIGINS: z
    .string()
    .default('')
    .transform((v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    ),
  REDIS_URL: optionalString,
  AUTH_RATE_LIMIT_PER_IP: z.coerce.number().int().min(1).default(20),
  AUTH_RATE_LIMIT_PER_EMAIL: z.coerce.number().int().min(1).default(5),
  AUTH_RATE_LIMIT_WINDOW_SECONDS: z.coerce.number().int().min(1).default(60),
  CONNECT_PAGE_RATE_LIMIT_PER_IP: z.coerce.number().int().min(1).default(30),
  CONNECT_PAGE_RATE_LIMIT_WINDOW_SECONDS: z.coerce.number().int().min(1).default(60),

  INSTAGRAM_APP_ID: optionalString,
  INSTAGRAM_APP_SECRET: optionalString,
  INSTAGRAM_REDIRECT_URI: url('the OAuth callback registered with Meta').optional(),
  INSTAGRAM_OAUTH_URL: url('Instagram authorize page').default('https://www.instagram.com'),
  INSTAGRAM_API_URL: url('Instagram code-exchange host').default('https://api.instagram.com'),
  INSTAGRAM_GRAPH_API_URL: url('Graph host with its version').default(
    'https://graph.instagram.com/v25.0',
  ),
  INSTAGRAM_SCOPES: z
    .string()
    .default('')
    .transform((v) =>
      v
        .split(/[\s,]+/)
        .map((s) => s.trim())
        .filter(Boolean),
    ),
  INSTAGRAM_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(10_000),
  INSTAGRAM_MAX_RETRIES: z.coerce.number().int().min(0).max(10).default(3),
  INSTAGRAM_DEADLINE_MS: z.coerce.number().int().min(100).max(120_000).default(12_000),
  INSTAGRAM_APPSECRET_PROOF: z
    .enum(['true', 'false', '1', '0'])
    .default('true')
    .transform((v) => v === 'true' || v === '1'),

  WEBHOOK_ALLOW_PRIVATE_TARGETS: z
    .enum(['true', 'false', '1', '0'])
    .default('false')
    .transform((v) => v === 'true' || v === '1'),
  WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(10_000),
  WEBHOOK_RETRY_BASE_MS: z.coerce.number().int().min(10).max(3_600_000).default(10_000),
  WEBHOOK_RETRY_MAX_DELAY_MS: z.coerce.number().int().min(10).max(86_400_000).default(3_600_000),
  WEBHOOK_CONCURRENCY: z.coerce.number().int().min(1).max(256).default(16),
  PICTURE_FETCH_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(5_000),
  PICTURE_FETCH_ALLOW_PRIVATE: z
    .enum(['true', 'false', '1', '0'])
    .default('false')
    .transform((v) => v === 'true' || v === '1'),
  // Unset: served outside production, not in production.
  DOCS_ENABLED: z.enum(['true', 'false', '1', '0']).optional(),
  // Long-lived tokens last 60 days and may be refreshed once 24 h old: starting 30 days out
  // leaves a month of retries before one lapses.
  TOKEN_REFRESH_WINDOW_DAYS: z.coerce.number().int().min(1).max(59).default(30),
  // Accounts one hourly sync sweep queues, most overdue first (the rest wait for the next).
  SYNC_SWEEP_BATCH: z.coerce.number().int().min(1).max(100_000).default(5000),

  EMULATOR_PORT: port.default(4010),
  JOBS_ENABLED: z
    .enum(['true', 'false', '1', '0'])
    .default('true')
    .transform((v) => v === 'true' || v === '1'),
  JOBS_CONCURRENCY: z.coerce.number().int().min(1).max(200).default(20),
  JOBS_POLL_INTERVAL_MS: z.coerce.number().int().min(100).max(60_000).default(1000),
  JOBS_STALL_SECONDS: z.coerce.number().int().min(1).max(86_400).default(60),
});

export type Env = z.infer<typeof envSchema>;
