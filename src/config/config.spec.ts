import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateKeyringEntry, parseKeyring } from './keyring';
import { ConfigError, DEMO_APP_ID, loadConfig } from './config';

const dataDir = () => mkdtempSync(join(tmpdir(), 'ssell-config-'));
const prodBase = () => ({
  NODE_ENV: 'production',
  DATA_DIR: dataDir(),
  JWT_SECRET: 'x'.repeat(40),
  TOKEN_ENCRYPTION_KEY: generateKeyringEntry(1),
  INSTAGRAM_APP_ID: '123',
  INSTAGRAM_APP_SECRET: 'secret',
});

describe('loadConfig', () => {
  it('applies the documented defaults', () => {
    const config = loadConfig({ DATA_DIR: dataDir() });
    expect(config.port).toBe(4000);
    expect(config.logLevel).toBe('info');
    expect(config.database.url).toBeUndefined();
    expect(config.database.poolSize).toBe(10);
    expect(config.auth.jwtTtlSeconds).toBe(900);
    expect(config.instagram.graphApiUrl).toBe('https://graph.instagram.com/v25.0');
    expect(config.instagram.oauthUrl).toBe('https://www.instagram.com');
    expect(config.instagram.apiUrl).toBe('https://api.instagram.com');
    expect(config.instagram.timeoutMs).toBe(10_000);
  });

  it('takes SYNC_SWEEP_BATCH (default 5000, 1..100000)', () => {
    expect(loadConfig({ DATA_DIR: dataDir() }).syncSweepBatch).toBe(5000);
    expect(loadConfig({ DATA_DIR: dataDir(), SYNC_SWEEP_BATCH: '10000' }).syncSweepBatch).toBe(
      10_000,
    );
    expect(() => loadConfig({ DATA_DIR: dataDir(), SYNC_SWEEP_BATCH: '0' })).toThrow(
      /SYNC_SWEEP_BATCH/,
    );
  });

  it('takes TOKEN_REFRESH_WINDOW_DAYS (default 30) and refuses a window a 60-day token cannot use', () => {
    expect(loadConfig({ DATA_DIR: dataDir() }).tokenRefreshWindowDays).toBe(30);
    expect(
      loadConfig({ DATA_DIR: dataDir(), TOKEN_REFRESH_WINDOW_DAYS: '45' }).tokenRefreshWindowDays,
    ).toBe(45);
    for (const value of ['0', '60', '7.5', 'month']) {
      expect(() => loadConfig({ DATA_DIR: dataDir(), TOKEN_REFRESH_WINDOW_DAYS: value })).toThrow(
        /TOKEN_REFRESH_WINDOW_DAYS/,
      );
    }
  });

  it('defaults the job workers and the Instagram deadline, and refuses values out of range', () => {
    const config = loadConfig({ DATA_DIR: dataDir() });
    expect(config.jobs).toEqual({ concurrency: 20, pollIntervalMs: 1000, stallSeconds: 60 });
    expect(config.instagram.deadlineMs).toBe(12_000);
    const set = loadConfig({
      DATA_DIR: dataDir(),
      JOBS_CONCURRENCY: '25',
      JOBS_POLL_INTERVAL_MS: '250',
      JOBS_STALL_SECONDS: '5',
      INSTAGRAM_DEADLINE_MS: '8000',
    });
    expect(set.jobs).toEqual({ concurrency: 25, pollIntervalMs: 250, stallSeconds: 5 });
    expect(set.instagram.deadlineMs).toBe(8000);
    for (const [name, value] of [
      ['JOBS_CONCURRENCY', '0'],
      ['JOBS_POLL_INTERVAL_MS', '10'],
      ['JOBS_STALL_SECONDS', 'soon'],
      ['INSTAGRAM_DEADLINE_MS', '50'],
    ] as const) {
      expect(() => loadConfig({ DATA_DIR: dataDir(), [name]: value })).toThrow(new RegExp(name));
    }
  });

  it('generates development secrets once and keeps them in DATA_DIR (0600)', () => {
    const dir = dataDir();
    const first = loadConfig({ DATA_DIR: dir });
    const second = loadConfig({ DATA_DIR: dir });
    expect(first.auth.jwtSecret.length).toBeGreaterThanOrEqual(32);
    expect(second.auth.jwtSecret).toBe(first.auth.jwtSecret);
    expect(second.tokenEncryptionKey).toBe(first.tokenEncryptionKey);
    const file = join(dir, 'secrets.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8')).toContain(first.auth.jwtSecret);
  });

  it.each([
    ['JWT_SECRET', { JWT_SECRET: undefined }],
    ['TOKEN_ENCRYPTION_KEY', { TOKEN_ENCRYPTION_KEY: undefined }],
    ['INSTAGRAM_APP_ID', { INSTAGRAM_APP_ID: undefined, INSTAGRAM_APP_SECRET: undefined }],
  ])('requires %s in production', (name, override) => {
    expect(() => loadConfig({ ...prodBase(), ...override })).toThrow(new RegExp(name));
  });

  it('refuses the private-address allowances in production, naming them', () => {
    for (const name of ['WEBHOOK_ALLOW_PRIVATE_TARGETS', 'PICTURE_FETCH_ALLOW_PRIVATE']) {
      expect(() => loadConfig({ ...prodBase(), [name]: 'true' })).toThrow(
        new RegExp(`${name}=true is for development and tests.*refused when NODE_ENV=production`),
      );
      expect(loadConfig({ ...prodBase(), [name]: 'false' }).isProduction).toBe(true);
      expect(() => loadConfig({ DATA_DIR: dataDir(), [name]: 'true' })).not.toThrow();
    }
  });

  it('refuses demo mode in production and enters it in development', () => {
    expect(() =>
      loadConfig({ ...prodBase(), INSTAGRAM_APP_ID: undefined, INSTAGRAM_APP_SECRET: undefined }),
    ).toThrow(/demo mode/);
    const dev = loadConfig({ DATA_DIR: dataDir() });
    expect(dev.instagram.demo).toBe(true);
    expect(dev.instagram.appId).toBe(DEMO_APP_ID);
    expect(loadConfig(prodBase()).instagram.demo).toBe(false);
  });

  it('takes TOKEN_ENCRYPTION_KEY=$(openssl rand -base64 32) as key version 1', () => {
    const printed = execFileSync('openssl', ['rand', '-base64', '32'], { encoding: 'utf8' });
    const key = printed.trim();
    const config = loadConfig({ ...prodBase(), TOKEN_ENCRYPTION_KEY: key });
    expect(config.tokenEncryptionKey).toBe(key);
    expect(parseKeyring(config.tokenEncryptionKey).current).toEqual({
      version: 1,
      key: Buffer.from(key, 'base64'),
    });
  });

  it('keeps taking a versioned list, the first key encrypting', () => {
    const keys = `v2:${randomBytes(32).toString('base64')},${generateKeyringEntry(1)}`;
    const config = loadConfig({ ...prodBase(), TOKEN_ENCRYPTION_KEY: keys });
    expect(parseKeyring(config.tokenEncryptionKey).current.version).toBe(2);
  });

  it('names the bad variable', () => {
    const attempts: Array<[Record<string, string>, RegExp]> = [
      [{ PORT: 'eighty' }, /PORT/],
      [{ PORT: '70000' }, /PORT/],
      [{ DATABASE_POOL_SIZE: '0' }, /DATABASE_POOL_SIZE/],
      [{ LOG_LEVEL: 'loud' }, /LOG_LEVEL/],
      [{ INSTAGRAM_GRAPH_API_URL: 'not a url' }, /INSTAGRAM_GRAPH_API_URL/],
      [{ JWT_SECRET: 'short' }, /JWT_SECRET/],
      [{ TOKEN_ENCRYPTION_KEY: 'v1:dG9vLXNob3J0' }, /TOKEN_ENCRYPTION_KEY.*32/],
      [{ TOKEN_ENCRYPTION_KEY: 'garbage' }, /TOKEN_ENCRYPTION_KEY/],
      [{ TOKEN_ENCRYPTION_KEY: 'dG9vLXNob3J0' }, /TOKEN_ENCRYPTION_KEY: key v1 .*32/],
      [{ TOKEN_ENCRYPTION_KEY: 'not a key!' }, /TOKEN_ENCRYPTION_KEY: entry 1 is neither/],
      [{ INSTAGRAM_APP_ID: '123' }, /INSTAGRAM_APP_SECRET/],
      [{ NODE_ENV: 'staging' }, /NODE_ENV/],
    ];
    for (const [env, message] of attempts) {
      let thrown: unknown;
      try {
        loadConfig({ DATA_DIR: dataDir(), ...env });
      } catch (error) {
        thrown = error;
      }
      expect(thrown, JSON.stringify(env)).toBeInstanceOf(ConfigError);
      expect((thrown as Error).message).toMatch(message);
    }
  });

  it('derives the OAuth redirect from PUBLIC_URL and splits lists', () => {
    const config = loadConfig({
      DATA_DIR: dataDir(),
      PUBLIC_URL: 'https://app.example.com/',
      CORS_ORIGINS: 'https://a.example.com, https://b.example.com',
      INSTAGRAM_SCOPES: 'instagram_business_manage_messages instagram_business_manage_comments',
    });
    expect(config.instagram.redirectUri).toBe('https://app.example.com/instagram/oauth/callback');
    expect(config.corsOrigins).toEqual(['https://a.example.com', 'https://b.example.com']);
    expect(config.instagram.extraScopes).toEqual([
      'instagram_business_manage_messages',
      'instagram_business_manage_comments',
    ]);
  });

  it('caps JWT_TTL_SECONDS at an hour', () => {
    expect(loadConfig({ DATA_DIR: dataDir(), JWT_TTL_SECONDS: '3600' }).auth.jwtTtlSeconds).toBe(
      3600,
    );
    expect(() => loadConfig({ DATA_DIR: dataDir(), JWT_TTL_SECONDS: '3601' })).toThrow(
      /JWT_TTL_SECONDS/,
    );
    expect(() => loadConfig({ DATA_DIR: dataDir(), JWT_TTL_SECONDS: '86400' })).toThrow(
      ConfigError,
    );
  });

  it('listens on loopback in demo mode unless HOST is set; on every interface otherwise', () => {
    expect(loadConfig({ DATA_DIR: dataDir() }).host).toBe('127.0.0.1');
    expect(loadConfig({ DATA_DIR: dataDir(), HOST: '0.0.0.0' }).host).toBe('0.0.0.0');
    expect(loadConfig({ DATA_DIR: dataDir(), HOST: '' }).host).toBe('127.0.0.1');
    const withApp = { DATA_DIR: dataDir(), INSTAGRAM_APP_ID: '1', INSTAGRAM_APP_SECRET: 's' };
    expect(loadConfig(withApp).host).toBe('0.0.0.0');
    expect(loadConfig({ ...withApp, HOST: '10.0.0.5' }).host).toBe('10.0.0.5');
    expect(loadConfig(prodBase()).host).toBe('0.0.0.0');
  });

  it('serves the API docs outside production, and in production only with DOCS_ENABLED=true', () => {
    expect(loadConfig({ DATA_DIR: dataDir() }).docsEnabled).toBe(true);
    expect(loadConfig({ DATA_DIR: dataDir(), DOCS_ENABLED: 'false' }).docsEnabled).toBe(false);
    expect(loadConfig(prodBase()).docsEnabled).toBe(false);
    expect(loadConfig({ ...prodBase(), DOCS_ENABLED: 'true' }).docsEnabled).toBe(true);
    expect(() => loadConfig({ DATA_DIR: dataDir(), DOCS_ENABLED: 'yes' })).toThrow(/DOCS_ENABLED/);
  });

  it('reads the database timeouts', () => {
    const config = loadConfig({
      DATA_DIR: dataDir(),
      DATABASE_STATEMENT_TIMEOUT_MS: '8000',
      DATABASE_CONNECT_TIMEOUT_MS: '1500',
    });
    expect(config.database).toMatchObject({ statementTimeoutMs: 8000, connectTimeoutMs: 1500 });
    expect(loadConfig({ DATA_DIR: dataDir() }).database).toMatchObject({
      statementTimeoutMs: 5000,
      connectTimeoutMs: 2000,
    });
  });
});
