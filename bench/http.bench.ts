/**
 * `npm run bench`: the service in its own process (as `npm start` runs it, request logging on),
 * a seeded database, and autocannon driving the hot read paths from this process. Prints a
 * Markdown table of throughput and latency per scenario.
 *
 * BENCH_NODE_ARGS passes flags to the service's node (profiling).
 * Database: BENCH_DATABASE_URL (a server; a scratch database is created on it and dropped), else a
 * throw-away embedded cluster. BENCH_DURATION (s, default 10), BENCH_CONNECTIONS (default 50).
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JwtService } from '@nestjs/jwt';
import autocannon from 'autocannon';
import pg from 'pg';
import { projectRoot } from '../src/common/project-root';
import { generateKeyringEntry } from '../src/config/keyring';
import { TokenCipher } from '../src/infrastructure/crypto/token-cipher';
import { TokenVault } from '../src/infrastructure/crypto/token-vault';
import { createDatabase } from '../src/infrastructure/database/database';
import { freePort, startEmbeddedPostgres } from '../src/infrastructure/database/embedded-postgres';
import { migrate } from '../src/infrastructure/database/migrator';

const env = process.env;
const DURATION = Number(env.BENCH_DURATION ?? 10);
const CONNECTIONS = Number(env.BENCH_CONNECTIONS ?? 50);
const USERS = 1_000;
const ACCOUNTS_PER_USER = 20;
const HEAVY_ACCOUNTS = 1_000;
const JWT_SECRET = 'bench-secret-bench-secret-bench-secret-000';
const TOKEN_KEY = generateKeyringEntry(1);
const SYNC_ACCOUNTS = 200;
const EMULATOR_APP_ID = '990000000000777';
const EMULATOR_APP_SECRET = 'bench-emulator-secret';

async function waitFor(url: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    const ok = await fetch(url).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not answer within 30 s`);
}

async function withClient<T>(url: string, run: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.end();
  }
}

async function seed(
  url: string,
): Promise<{ userIds: string[]; heavyUserId: string; accountIds: string[] }> {
  return withClient(url, async (c) => {
    await c.query(
      `INSERT INTO users (email, name, password_hash)
      SELECT 'bench' || i || '@example.com', 'Bench ' || i, 'scrypt$ln=15,r=8,p=1$AA==$AA=='
      FROM generate_series(1, $1) AS i`,
      [USERS + 1],
    );
    const users = (await c.query<{ id: string }>('SELECT id FROM users ORDER BY email')).rows.map(
      (r) => r.id,
    );
    const heavyUserId = users.pop()!;
    await c.query(
      `INSERT INTO client_accounts (user_id, platform, platform_account_id, username, display_name,
         profile_picture_url, follower_count, following_count, media_count, account_type, metadata,
         permissions, token_expires_at, last_sync_at)
       SELECT u.id, 'instagram', (17841400000000000 + row_number() OVER ())::text,
         'shop_' || row_number() OVER (), 'Shop ' || row_number() OVER (),
         'https://scontent.cdninstagram.com/v/t51.2885-19/' || row_number() OVER () || '_n.jpg?oe=6A1BD339',
         (random() * 100000)::int, (random() * 1000)::int, (random() * 500)::int, 'business',
         jsonb_build_object('igId', (9007199254740993 + row_number() OVER ())::text),
         '["instagram_business_basic"]', NOW() + interval '50 days', NOW()
       FROM unnest($1::uuid[]) AS u(id), generate_series(1, $2)`,
      [users, ACCOUNTS_PER_USER],
    );
    await c.query(
      `INSERT INTO client_accounts (user_id, platform, platform_account_id, username, account_type, token_expires_at)
       SELECT $1, 'instagram', (17841500000000000 + i)::text, 'heavy_' || i, 'creator', NOW() + interval '50 days'
       FROM generate_series(1, $2) AS i`,
      [heavyUserId, HEAVY_ACCOUNTS],
    );
    await c.query('ANALYZE');
    const accountIds = (
      await c.query<{ id: string }>(
        'SELECT id FROM client_accounts WHERE user_id = ANY($1) LIMIT 5000',
        [users],
      )
    ).rows.map((r) => r.id);
    return { userIds: users, heavyUserId, accountIds };
  });
}

/**
 * Accounts whose tokens the emulator really issued, stored through the vault as the service stores
 * them, so a sync does the whole Instagram path: read and decrypt the token, call the emulator
 * over HTTP, write the account, its snapshot and its events in one transaction.
 */
async function seedSyncAccounts(
  databaseUrl: string,
  emulatorUrl: string,
  userId: string,
): Promise<string[]> {
  const control = async (path: string, body: object) => {
    const res = await fetch(`${emulatorUrl}/__control${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`emulator ${path}: ${res.status} ${await res.text()}`);
    return (await res.json()) as Record<string, Record<string, string> | string>;
  };
  const handle = createDatabase(databaseUrl, 4, () => undefined);
  const vault = new TokenVault(handle.db, TokenCipher.fromKeyString(TOKEN_KEY));
  const ids: string[] = [];
  try {
    for (let i = 1; i <= SYNC_ACCOUNTS; i++) {
      const { account } = (await control('/accounts', {
        username: `bench.sync.${i}`,
        name: `Bench Sync ${i}`,
        accountType: 'Business',
        followersCount: 1000 + i,
      })) as { account: Record<string, string> };
      const token = (await control(`/accounts/${account.userId}/tokens`, {
        kind: 'long',
      })) as Record<string, string>;
      const row = await handle.db.one<{ id: string }>(
        `INSERT INTO client_accounts (user_id, platform, platform_account_id, username, account_type, token_expires_at)
         VALUES ($1, 'instagram', $2, $3, 'business', $4) RETURNING id`,
        [userId, account.userId, account.username, token.expiresAt],
      );
      await vault.store(row.id, {
        accessToken: token.accessToken!,
        tokenType: 'long_lived',
        issuedAt: new Date(token.issuedAt!),
        expiresAt: new Date(token.expiresAt!),
        scopes: ['instagram_business_basic'],
      });
      ids.push(row.id);
    }
  } finally {
    await handle.close();
  }
  return ids;
}

interface Scenario {
  name: string;
  method?: 'GET' | 'POST';
  requests: () => { path: string; headers: Record<string, string> };
}

async function run(base: string, scenario: Scenario): Promise<string> {
  const result = await autocannon({
    url: base,
    connections: CONNECTIONS,
    duration: DURATION,
    requests: [
      {
        setupRequest: (request) => {
          const { path, headers } = scenario.requests();
          return {
            ...request,
            method: scenario.method ?? 'GET',
            path,
            headers: { ...request.headers, ...headers },
          };
        },
      },
    ],
  });
  const non2xx = result.non2xx + result.errors + result.timeouts;
  return `| ${scenario.name} | ${Math.round(result.requests.average).toLocaleString('en')} | ${result.latency.p50} | ${result.latency.p97_5} | ${result.latency.p99} | ${non2xx} |`;
}

async function main(): Promise<void> {
  let serverUrl = env.BENCH_DATABASE_URL;
  let stopEmbedded: (() => Promise<void>) | undefined;
  let dataDir: string | undefined;
  if (!serverUrl) {
    dataDir = mkdtempSync(join(tmpdir(), 'ssell-bench-'));
    chmodSync(dataDir, 0o755);
    const embedded = await startEmbeddedPostgres({
      dataDir,
      port: await freePort(),
      persistent: false,
      log: () => undefined,
    });
    serverUrl = embedded.url;
    stopEmbedded = () => embedded.stop();
  }
  const dbName = `ssell_bench_${Date.now().toString(36)}`;
  await withClient(serverUrl, (c) => c.query(`CREATE DATABASE ${dbName}`));
  const url = new URL(serverUrl);
  url.pathname = `/${dbName}`;
  const databaseUrl = url.toString();
  let child: ReturnType<typeof spawn> | undefined;
  let emulator: ReturnType<typeof spawn> | undefined;
  try {
    await migrate(databaseUrl, { info: () => undefined });
    const started = Date.now();
    const { userIds, heavyUserId, accountIds } = await seed(databaseUrl);
    console.log(
      `seeded ${USERS} users x ${ACCOUNTS_PER_USER} accounts + one user with ${HEAVY_ACCOUNTS} in ${Date.now() - started} ms`,
    );

    const emulatorPort = await freePort();
    emulator = spawn(process.execPath, [join(projectRoot(), 'dist/emulator/main.js')], {
      env: {
        ...env,
        NODE_ENV: 'development',
        EMULATOR_PORT: String(emulatorPort),
        EMULATOR_APP_ID,
        EMULATOR_APP_SECRET,
        EMULATOR_REQUIRE_APPSECRET_PROOF: 'true',
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const emulatorUrl = `http://127.0.0.1:${emulatorPort}`;
    await waitFor(`${emulatorUrl}/__control/state`);
    const syncAccountIds = await seedSyncAccounts(databaseUrl, emulatorUrl, heavyUserId);

    const port = await freePort();
    // BENCH_NODE_ARGS: flags for the service's node, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
    const nodeArgs = (env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
    child = spawn(process.execPath, [...nodeArgs, join(projectRoot(), 'dist/src/main.js')], {
      env: {
        ...env,
        NODE_ENV: 'production',
        PORT: String(port),
        DATABASE_URL: databaseUrl,
        JWT_SECRET,
        TOKEN_ENCRYPTION_KEY: TOKEN_KEY,
        INSTAGRAM_APP_ID: EMULATOR_APP_ID,
        INSTAGRAM_APP_SECRET: EMULATOR_APP_SECRET,
        INSTAGRAM_OAUTH_URL: emulatorUrl,
        INSTAGRAM_API_URL: emulatorUrl,
        INSTAGRAM_GRAPH_API_URL: `${emulatorUrl}/v25.0`,
        JOBS_ENABLED: 'false',
        LOG_LEVEL: 'info',
        DATABASE_POOL_SIZE: '20',
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const base = `http://127.0.0.1:${port}`;
    for (let i = 0; i < 200; i++) {
      const ok = await fetch(`${base}/health/ready`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) break;
      await new Promise((r) => setTimeout(r, 100));
    }

    const jwt = new JwtService({ secret: JWT_SECRET });
    const tokens = userIds.map((id) =>
      jwt.sign({ sub: id, sid: randomUUID() }, { expiresIn: 3600 }),
    );
    const heavyToken = jwt.sign({ sub: heavyUserId, sid: randomUUID() }, { expiresIn: 3600 });
    const ownerOf = new Map<string, string>();
    await withClient(databaseUrl, async (c) => {
      const rows = (
        await c.query<{ id: string; user_id: string }>(
          'SELECT id, user_id FROM client_accounts WHERE id = ANY($1)',
          [accountIds],
        )
      ).rows;
      for (const r of rows) ownerOf.set(r.id, r.user_id);
    });
    const tokenOf = new Map(userIds.map((id, i) => [id, tokens[i]!]));
    const pick = <T>(list: T[]): T => list[Math.floor(Math.random() * list.length)]!;
    const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

    const page1 = await fetch(`${base}/instagram/accounts?limit=20`, {
      headers: bearer(heavyToken),
    }).then((r) => r.json() as Promise<{ nextCursor: string }>);
    const cursors: string[] = [];
    let cursor: string | null = page1.nextCursor;
    while (cursor && cursors.length < 40) {
      cursors.push(cursor);
      const next = (await fetch(
        `${base}/instagram/accounts?limit=20&cursor=${encodeURIComponent(cursor)}`,
        { headers: bearer(heavyToken) },
      ).then((r) => r.json())) as { nextCursor: string | null };
      cursor = next.nextCursor;
    }

    const scenarios: Scenario[] = [
      {
        name: 'GET /health/live (baseline)',
        requests: () => ({ path: '/health/live', headers: {} }),
      },
      {
        name: 'GET /auth/me (Bearer)',
        requests: () => ({ path: '/auth/me', headers: bearer(pick(tokens)) }),
      },
      {
        name: 'GET /instagram/accounts (20 of 20, 1,000 users)',
        requests: () => ({ path: '/instagram/accounts', headers: bearer(pick(tokens)) }),
      },
      {
        name: 'GET /instagram/accounts?cursor (deep pages of 1,000)',
        requests: () => ({
          path: `/instagram/accounts?limit=20&cursor=${encodeURIComponent(pick(cursors))}`,
          headers: bearer(heavyToken),
        }),
      },
      {
        name: 'GET /instagram/accounts/:id',
        requests: () => {
          const id = pick(accountIds);
          return {
            path: `/instagram/accounts/${id}`,
            headers: bearer(tokenOf.get(ownerOf.get(id)!)!),
          };
        },
      },
      {
        name: `POST /instagram/accounts/:id/sync (emulator over HTTP, ${SYNC_ACCOUNTS} accounts)`,
        method: 'POST',
        requests: () => ({
          path: `/instagram/accounts/${pick(syncAccountIds)}/sync`,
          headers: bearer(heavyToken),
        }),
      },
    ];
    console.log(
      `\n${CONNECTIONS} connections, ${DURATION} s each, service in its own process (NODE_ENV=production, request logs on)\n`,
    );
    console.log('| scenario | req/s | p50 ms | p97.5 ms | p99 ms | errors + non-2xx |');
    console.log('|---|---:|---:|---:|---:|---:|');
    for (const scenario of scenarios) console.log(await run(base, scenario));
  } finally {
    for (const proc of [child, emulator]) {
      if (proc && proc.exitCode === null) {
        const exited = new Promise((r) => proc.on('exit', r));
        proc.kill('SIGTERM');
        await exited;
      }
    }
    await withClient(serverUrl, (c) => c.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`));
    if (stopEmbedded) await stopEmbedded();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
