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
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JwtService } from '@nestjs/jwt';
import autocannon from 'autocannon';
import pg from 'pg';
import { projectRoot } from '../src/common/project-root';
import { generateKeyringEntry } from '../src/infrastructure/crypto/keyring';
import { startEmbeddedPostgres } from '../src/infrastructure/database/embedded-postgres';
import { migrate } from '../src/infrastructure/database/migrator';

const env = process.env;
const DURATION = Number(env.BENCH_DURATION ?? 10);
const CONNECTIONS = Number(env.BENCH_CONNECTIONS ?? 50);
const USERS = 1_000;
const ACCOUNTS_PER_USER = 20;
const HEAVY_ACCOUNTS = 1_000;
const JWT_SECRET = 'bench-secret-bench-secret-bench-secret-000';

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
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

interface Scenario {
  name: string;
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
          return { ...request, method: 'GET', path, headers: { ...request.headers, ...headers } };
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
  try {
    await migrate(databaseUrl, { info: () => undefined });
    const started = Date.now();
    const { userIds, heavyUserId, accountIds } = await seed(databaseUrl);
    console.log(
      `seeded ${USERS} users x ${ACCOUNTS_PER_USER} accounts + one user with ${HEAVY_ACCOUNTS} in ${Date.now() - started} ms`,
    );

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
        TOKEN_ENCRYPTION_KEY: generateKeyringEntry(1),
        INSTAGRAM_APP_ID: 'bench',
        INSTAGRAM_APP_SECRET: 'bench-secret',
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
    ];
    console.log(
      `\n${CONNECTIONS} connections, ${DURATION} s each, service in its own process (NODE_ENV=production, request logs on)\n`,
    );
    console.log('| scenario | req/s | p50 ms | p97.5 ms | p99 ms | errors + non-2xx |');
    console.log('|---|---:|---:|---:|---:|---:|');
    for (const scenario of scenarios) console.log(await run(base, scenario));
  } finally {
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child!.on('exit', r));
      child.kill('SIGTERM');
      await exited;
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
