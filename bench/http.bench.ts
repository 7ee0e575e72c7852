/**
 * `npm run bench [-- --users N --accounts N --versus N --rounds N --duration S]`: the built service
 * (`NODE_ENV=production`, `LOG_LEVEL=warn`) and the bare baseline (bench/baseline/server.ts) side
 * by side on one seeded database, driven by autocannon in alternating rounds on the two hot read
 * routes: the list (`limit=50`) and one account. Prints rps, p50, p99 and peak RSS for both, the
 * ratios, and the timings of the sweeps' queries at this size. `--versus N` measures a second
 * size in the same alternating rounds (its own database, service and baseline) and compares the
 * service's p99 across the two. Exits 1 on any non-2xx reply or when the two servers' bodies
 * differ.
 *
 * Database: BENCH_DATABASE_URL (a server; one database per seed size is created on it and kept
 * for the next run), else an embedded cluster kept in DATA_DIR/bench-postgres. The seed is
 * deterministic and reused when its marker table holds the same parameters.
 * BENCH_NODE_ARGS: flags for the service's node ("--cpu-prof --cpu-prof-dir=/tmp/prof").
 * BENCH_CONNECTIONS (50). BENCH_ONLY=service|baseline measures one side (for profiling).
 * BENCH_BASELINE=joined gives the baseline the service's own statements (one per request), so the
 * ratio is the framework's alone; by default it queries as the speed issue specifies.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { JwtService } from '@nestjs/jwt';
import autocannon from 'autocannon';
import pg from 'pg';
import { projectRoot } from '../src/common/project-root';
import { serviceNodeFlags } from './service-node';
import { TokenCipher } from '../src/infrastructure/crypto/token-cipher';
import { createDatabase } from '../src/infrastructure/database/database';
import { freePort, startEmbeddedPostgres } from '../src/infrastructure/database/embedded-postgres';
import { migrate } from '../src/infrastructure/database/migrator';
import { PostgresClientAccountRepository } from '../src/infrastructure/database/repositories/postgres-client-account.repository';

const env = process.env;
const { values: args } = parseArgs({
  options: {
    users: { type: 'string' },
    accounts: { type: 'string', default: '300000' },
    'agency-users': { type: 'string', default: '100' },
    'agency-accounts': { type: 'string', default: '500' },
    rounds: { type: 'string', default: '3' },
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '8' },
    reseed: { type: 'boolean', default: false },
    versus: { type: 'string' },
  },
});
const AGENCY_ACCOUNTS = Number(args['agency-accounts']);
/** A seed's shape for a number of accounts (`--users` applies to the `--accounts` size only). */
function sizeOf(accounts: number, users?: number): SeedParams {
  // Three accounts a person on average, as at the default 100k users / 300k accounts, so a
  // larger run deepens the indexes without changing what one page holds.
  const u = users ?? Math.max(1, Math.round(accounts / 3));
  return {
    version: SEED_VERSION,
    users: u,
    accounts,
    // Agencies hold at most a sixth of the accounts (a 10k run has 3 agencies, not 100).
    agencyUsers: Math.min(
      Number(args['agency-users']),
      Math.floor(accounts / 6 / AGENCY_ACCOUNTS),
      Math.max(0, u - 1),
    ),
    agencyAccounts: AGENCY_ACCOUNTS,
  };
}
const ROUNDS = Number(args.rounds);
const DURATION = Number(args.duration);
// The service's first seconds under load run cold code (JIT, Nest's first calls): 3 s left its
// first measured round at a third of the next ones.
const WARMUP = Number(args.warmup);
const CONNECTIONS = Number(env.BENCH_CONNECTIONS ?? 50);
const ONLY = env.BENCH_ONLY as 'service' | 'baseline' | undefined;
const JWT_SECRET = 'bench-secret-bench-secret-bench-secret-000';
/** Fixed, so a kept seed's tokens still decrypt (the service checks a sample at boot). */
const TOKEN_KEY = `v1:${createHash('sha256').update('ssell-bench-token-key').digest('base64')}`;
/** Bump when the seed's shape changes: a kept database of the old shape is seeded again. */
const SEED_VERSION = 3;
/**
 * The sizes measured in this run: `--accounts`, and with `--versus N` a second one in the same
 * alternating rounds, so a comparison across sizes is not one across runs (on a shared machine
 * the same size's p99 moved by 40 % from one run to the next).
 */
const SIZES = [
  sizeOf(Number(args.accounts), args.users === undefined ? undefined : Number(args.users)),
  ...(args.versus === undefined ? [] : [sizeOf(Number(args.versus))]),
];

for (const [name, value] of Object.entries({ ROUNDS, DURATION })) {
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer`);
}
for (const size of SIZES) {
  if (!Number.isInteger(size.users) || size.users < 1 || !Number.isInteger(size.accounts)) {
    throw new Error('--users, --accounts and --versus must be positive integers');
  }
  if (size.accounts - size.agencyUsers * size.agencyAccounts < size.users - size.agencyUsers) {
    throw new Error('--accounts must give every user at least one account');
  }
}
if (SIZES.length === 2 && SIZES[0]!.accounts === SIZES[1]!.accounts) {
  throw new Error('--versus must be another number of accounts');
}

/** The same uuid PostgreSQL's md5(text)::uuid gives, so the seed's ids are known here. */
function md5Uuid(text: string): string {
  const h = createHash('md5').update(text).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
const userId = (i: number) => md5Uuid(`bench-user-${i}`);
const accountId = (j: number) => md5Uuid(`bench-account-${j}`);

/** Deterministic picks (mulberry32), so two runs send the same requests. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
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

interface SeedParams {
  version: number;
  users: number;
  accounts: number;
  agencyUsers: number;
  agencyAccounts: number;
}

/**
 * Users 1..A are the agencies (AGENCY_ACCOUNTS each), accounts 0..A*M-1 theirs; the rest go round
 * the other users. Accounts are created a second apart, synced within the last day (their picture
 * links good for three days from then, as Instagram's are), and hold
 * tokens expiring in 30 to 60 days (the refresh window keeps them there), but one in a thousand
 * within three days: what the expiry and refresh sweeps look for. Each account has its token row
 * (placeholder ciphertext: nothing here decrypts it).
 */
async function seed(c: pg.Client, p: SeedParams): Promise<void> {
  const agencyRows = p.agencyUsers * p.agencyAccounts;
  const others = p.users - p.agencyUsers;
  await c.query(`TRUNCATE users, client_accounts, account_tokens CASCADE`);
  await c.query(
    `INSERT INTO users (id, email, name, password_hash, created_at, updated_at)
     SELECT md5('bench-user-' || i)::uuid, 'bench' || i || '@example.com', 'Bench ' || i,
       'scrypt$ln=15,r=8,p=1$AA==$AA==', t, t
     FROM generate_series(1, $1::int) AS i, LATERAL (SELECT timestamptz '2025-01-01Z' + i * interval '1 second') AS x(t)`,
    [p.users],
  );
  await c.query(
    `INSERT INTO client_accounts (id, user_id, platform, platform_account_id, username, display_name,
       profile_picture_url, follower_count, following_count, media_count, account_type, metadata,
       permissions, created_at, updated_at, last_sync_at, token_expires_at)
     SELECT md5('bench-account-' || j)::uuid,
       md5('bench-user-' || CASE WHEN j < $2::int THEN 1 + j / $3::int ELSE $4::int + 1 + (j - $2::int) % $5::int END)::uuid,
       'instagram', (17841400000000000 + j)::text, 'shop_' || j, 'Shop ' || j,
       'https://scontent.cdninstagram.com/v/t51.2885-19/' || j || '_n.jpg?oe=6A1BD339',
       (j * 7919) % 100000, (j * 31) % 1000, (j * 17) % 500, 'business',
       jsonb_build_object('igId', (9007199254740993 + j)::text, 'profilePictureExpiresAt',
         to_char((synced + interval '3 days') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')),
       '["instagram_business_basic"]', t, t, synced,
       CASE WHEN j % 1000 = 0 THEN now() + (j % 72) * interval '1 hour'
            ELSE now() + interval '30 days' + ((j * 104729) % 2592000) * interval '1 second' END
     FROM generate_series(0, $1::bigint - 1) AS j,
       LATERAL (SELECT timestamptz '2025-02-01Z' + j * interval '1 second',
         now() - ((j * 7919) % 86400) * interval '1 second') AS x(t, synced)
     ORDER BY j`,
    [p.accounts, agencyRows, p.agencyAccounts, p.agencyUsers, others],
  );
  // Sealed for real, as the vault seals them: the service's boot check decrypts a sample.
  const cipher = TokenCipher.fromKeyString(TOKEN_KEY);
  const BATCH = 20_000;
  for (let from = 0; from < p.accounts; from += BATCH) {
    const ids: string[] = [];
    const sealed: [Buffer[], Buffer[], Buffer[]] = [[], [], []];
    for (let j = from; j < Math.min(p.accounts, from + BATCH); j++) {
      const id = accountId(j);
      const s = cipher.encrypt(`IGAAbench${j}`, id);
      ids.push(id);
      sealed[0].push(s.ciphertext);
      sealed[1].push(s.iv);
      sealed[2].push(s.authTag);
    }
    await c.query(
      `INSERT INTO account_tokens (account_id, ciphertext, iv, auth_tag, key_version, token_type,
         issued_at, expires_at, scopes)
       SELECT t.id, t.ciphertext, t.iv, t.tag, 1, 'long_lived', a.token_expires_at - interval '60 days',
         a.token_expires_at, '["instagram_business_basic"]'
       FROM unnest($1::uuid[], $2::bytea[], $3::bytea[], $4::bytea[]) AS t(id, ciphertext, iv, tag)
       JOIN client_accounts a ON a.id = t.id`,
      [ids, ...sealed],
    );
  }
  // Sets the visibility map too, so the count reads the user index alone.
  await c.query('VACUUM ANALYZE');
}

/** The PostgreSQL server the seeds live on: BENCH_DATABASE_URL, else the kept embedded cluster. */
async function prepareServer(): Promise<{ url: string; stop: () => Promise<void> }> {
  if (env.BENCH_DATABASE_URL) return { url: env.BENCH_DATABASE_URL, stop: async () => undefined };
  const embedded = await startEmbeddedPostgres({
    dataDir: join(env.DATA_DIR ?? join(projectRoot(), '.data'), 'bench-postgres'),
    port: await freePort(),
    persistent: true,
    log: () => undefined,
  });
  return { url: embedded.url, stop: () => embedded.stop() };
}

/** The size's database on the server, seeded unless a seed of the same parameters is there. */
async function prepareDatabase(serverUrl: string, params: SeedParams): Promise<string> {
  const dbName = `ssell_bench_u${params.users}_a${params.accounts}`;
  const exists = await withClient(serverUrl, async (c) => {
    const found = await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [dbName]);
    if (found.rowCount === 0) await c.query(`CREATE DATABASE ${dbName}`);
    return found.rowCount !== 0;
  });
  const url = new URL(serverUrl);
  url.pathname = `/${dbName}`;
  const databaseUrl = url.toString();
  await migrate(databaseUrl, { info: () => undefined });
  await withClient(databaseUrl, async (c) => {
    await c.query('CREATE TABLE IF NOT EXISTS bench_seed (params jsonb NOT NULL)');
    const marker = await c.query<{ params: SeedParams }>('SELECT params FROM bench_seed');
    const same =
      exists &&
      !args.reseed &&
      marker.rows.length === 1 &&
      // jsonb keeps its own key order: compare field by field.
      (Object.keys(params) as Array<keyof SeedParams>).every(
        (key) => marker.rows[0]!.params[key] === params[key],
      );
    if (same) {
      console.log(`reusing the seed in ${dbName}`);
      // New migrations (indexes) may have arrived since the seed.
      await c.query('ANALYZE');
      return;
    }
    const started = Date.now();
    await c.query('DELETE FROM bench_seed');
    await seed(c, params);
    await c.query('INSERT INTO bench_seed (params) VALUES ($1)', [JSON.stringify(params)]);
    console.log(
      `seeded ${dbName}: ${params.users.toLocaleString('en')} users, ${params.accounts.toLocaleString('en')} accounts (${params.agencyUsers} agencies of ${params.agencyAccounts}) in ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
  });
  await prewarm(databaseUrl, dbName);
  return databaseUrl;
}

/**
 * Reads the database's tables and indexes once (into the kernel's cache), so no round pays for
 * files the kernel has dropped: the 2-core VM kept about 1.5 GB of page cache, and a 1M-account
 * database (1.1 GB) read back from its disk mid-round (vmstat: 0.2-3 MB/s in) fattened the tail.
 */
async function prewarm(databaseUrl: string, dbName: string): Promise<void> {
  await withClient(databaseUrl, async (c) => {
    try {
      await c.query('CREATE EXTENSION IF NOT EXISTS pg_prewarm');
      const started = Date.now();
      const { rows } = await c.query<{ pages: string }>(
        `SELECT sum(pg_prewarm(c.oid::regclass, 'read'))::bigint AS pages FROM pg_class c
         WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'i', 't')`,
      );
      const mb = (Number(rows[0]?.pages ?? 0) * 8192) / 1024 / 1024;
      console.log(
        `read ${dbName} into the OS cache: ${Math.round(mb)} MB in ${((Date.now() - started) / 1000).toFixed(1)} s (pg_prewarm)`,
      );
    } catch (error) {
      console.log(
        `${dbName} not prewarmed (${(error as Error).message}): a cold OS cache shows in the p99`,
      );
    }
  });
}

async function waitFor(url: string, proc: ChildProcess): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (proc.exitCode !== null) throw new Error(`${url}: the process exited (${proc.exitCode})`);
    const ok = await fetch(url).then(
      (r) => r.status < 500,
      () => false,
    );
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not answer within 30 s`);
}

/** Peak resident set of a process so far (kB), from /proc. */
function peakRssMb(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = /VmHWM:\s+(\d+) kB/.exec(status);
  return kb ? Number(kb[1]) / 1024 : NaN;
}

interface Server {
  name: 'service' | 'baseline';
  /** The name with the size when the run has two ("service 1,000,000"). */
  label: string;
  size: SeedParams;
  /** The requests of its size, drawn from as it is driven. */
  requests: Requests;
  base: string;
  proc: ChildProcess;
}

async function startServers(
  databaseUrl: string,
  size: SeedParams,
  requests: Requests,
): Promise<Server[]> {
  const servers: Server[] = [];
  const label = (name: string) =>
    SIZES.length > 1 ? `${name} ${size.accounts.toLocaleString('en')}` : name;
  const nodeArgs = (env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  if (ONLY !== 'baseline') {
    const port = await freePort();
    const proc = spawn(
      process.execPath,
      [...serviceNodeFlags(), ...nodeArgs, join(projectRoot(), 'dist/src/main.js')],
      {
        env: {
          ...env,
          NODE_ENV: 'production',
          PORT: String(port),
          HOST: '127.0.0.1',
          DATABASE_URL: databaseUrl,
          JWT_SECRET,
          TOKEN_ENCRYPTION_KEY: TOKEN_KEY,
          // Production needs app credentials; nothing here calls Instagram (no jobs run).
          INSTAGRAM_APP_ID: '990000000000777',
          INSTAGRAM_APP_SECRET: 'bench-app-secret',
          JOBS_ENABLED: 'false',
          LOG_LEVEL: 'warn',
        },
        stdio: ['ignore', 'ignore', 'inherit'],
      },
    );
    servers.push({
      name: 'service',
      label: label('service'),
      size,
      requests,
      base: `http://127.0.0.1:${port}`,
      proc,
    });
  }
  if (ONLY !== 'service') {
    const port = await freePort();
    const proc = spawn(process.execPath, [join(projectRoot(), 'dist/bench/baseline/server.js')], {
      env: {
        ...env,
        PORT: String(port),
        DATABASE_URL: databaseUrl,
        JWT_SECRET,
        BASELINE_STATEMENTS: env.BENCH_BASELINE === 'joined' ? 'joined' : 'issue',
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    servers.push({
      name: 'baseline',
      label: label('baseline'),
      size,
      requests,
      base: `http://127.0.0.1:${port}`,
      proc,
    });
  }
  for (const s of servers) {
    await waitFor(`${s.base}/instagram/accounts`, s.proc);
  }
  return servers;
}

interface Route {
  name: string;
  /** The next request from a size's requests. */
  next: (requests: Requests) => { path: string; token: string };
}

interface Round {
  rps: number;
  p50: number;
  p99: number;
  bad: number;
}

async function measure(server: Server, route: Route, duration: number): Promise<Round> {
  const next = () => route.next(server.requests);
  const result = await autocannon({
    url: server.base,
    connections: CONNECTIONS,
    duration,
    requests: [
      {
        setupRequest: (request) => {
          const { path, token } = next();
          return {
            ...request,
            method: 'GET',
            path,
            headers: { ...request.headers, authorization: `Bearer ${token}` },
          };
        },
      },
    ],
  });
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    bad: result.non2xx + result.errors + result.timeouts,
  };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** The sweeps' and the expiry queries at this size, through the repositories themselves. */
async function timeSweepQueries(databaseUrl: string): Promise<string[]> {
  const handle = createDatabase(databaseUrl, 2, () => undefined, { name: 'ssell-bench-sweeps' });
  const accounts = new PostgresClientAccountRepository(handle.db);
  const queries: Array<[string, () => Promise<{ length: number } | unknown[]>]> = [
    ['findExpiringSoon(72 h)', () => accounts.findExpiringSoon(72)],
    [
      'findRefreshable (refresh sweep, 30 days, 1,000)',
      () => accounts.findRefreshable(30 * 24, 1000, { revisitWithinHours: 14 * 24 }),
    ],
    [
      'findDueForSync (sync sweep, 5,000)',
      () =>
        accounts.findDueForSync({
          staleHours: 24,
          pictureWithinHours: 24,
          pictureMinGapHours: 6,
          limit: 5000,
        }),
    ],
    [
      // Hours after seeding most accounts are a day stale and a sweep finds a full batch: the
      // seed's own times vary, so an hour's staleness stands in for that here.
      'findDueForSync (sync sweep, full batch of 5,000)',
      () =>
        accounts.findDueForSync({
          staleHours: 1,
          pictureWithinHours: 24,
          pictureMinGapHours: 6,
          limit: 5000,
        }),
    ],
  ];
  const lines: string[] = [];
  try {
    for (const [name, run] of queries) {
      const times: number[] = [];
      let rows = 0;
      for (let i = 0; i < 3; i++) {
        const started = process.hrtime.bigint();
        const result = await run();
        times.push(Number(process.hrtime.bigint() - started) / 1e6);
        rows = Array.isArray(result) ? result.length : 0;
      }
      lines.push(`| ${name} | ${rows.toLocaleString('en')} | ${median(times).toFixed(1)} |`);
    }
  } finally {
    await handle.close();
  }
  return lines;
}

interface Requests {
  list(): { path: string; token: string };
  one(): { path: string; token: string };
}

/** What a size's requests are made of: its users' JWTs and a sample of accounts with owners'. */
async function requestsFor(databaseUrl: string, size: SeedParams): Promise<Requests> {
  const jwt = new JwtService({ secret: JWT_SECRET });
  const random = prng(11);
  const pickUser = () => 1 + Math.floor(random() * size.users);
  const tokenOf = new Map<number, string>();
  const token = (i: number) => {
    let t = tokenOf.get(i);
    if (!t) {
      t = jwt.sign({ sub: userId(i), sid: randomUUID() }, { expiresIn: 3600 });
      tokenOf.set(i, t);
    }
    return t;
  };
  // 10,000 users and 10,000 accounts (with their owners' tokens), rotating.
  const listUsers = Array.from({ length: 10_000 }, pickUser);
  const sample = Array.from({ length: 10_000 }, () => Math.floor(random() * size.accounts));
  const owners = await withClient(databaseUrl, async (c) => {
    const rows = await c.query<{ id: string; user_id: string }>(
      'SELECT id, user_id FROM client_accounts WHERE id = ANY($1::uuid[])',
      [sample.map(accountId)],
    );
    return new Map(rows.rows.map((r) => [r.id, r.user_id]));
  });
  const userIndex = new Map<string, number>();
  for (let i = 1; i <= size.users; i++) userIndex.set(userId(i), i);
  const byId = sample.map((j) => {
    const id = accountId(j);
    return { id, token: token(userIndex.get(owners.get(id)!)!) };
  });
  let li = 0;
  let ai = 0;
  return {
    list: () => ({
      path: '/instagram/accounts?limit=50',
      token: token(listUsers[li++ % listUsers.length]!),
    }),
    one: () => {
      const pick = byId[ai++ % byId.length]!;
      return { path: `/instagram/accounts/${pick.id}`, token: pick.token };
    },
  };
}

const fmt = (n: number) => Math.round(n).toLocaleString('en');

async function main(): Promise<void> {
  const server = await prepareServer();
  const servers: Server[] = [];
  let failed = false;
  try {
    const sizes: Array<{
      size: SeedParams;
      url: string;
      sweepLines: string[];
      requests: Requests;
    }> = [];
    for (const size of SIZES) {
      const url = await prepareDatabase(server.url, size);
      sizes.push({
        size,
        url,
        sweepLines: await timeSweepQueries(url),
        requests: await requestsFor(url, size),
      });
    }
    for (const { size, url, requests } of sizes) {
      servers.push(...(await startServers(url, size, requests)));
    }
    const routes: Route[] = [
      { name: 'GET /instagram/accounts?limit=50', next: (requests) => requests.list() },
      { name: 'GET /instagram/accounts/:id', next: (requests) => requests.one() },
    ];

    // The same bytes from the service and the baseline of each size, before anything is measured.
    for (const { size, requests } of sizes) {
      const pair = servers.filter((s) => s.size === size);
      if (pair.length !== 2) continue;
      for (let k = 0; k < 20; k++) {
        for (const route of routes) {
          const { path, token: t } = route.next(requests);
          const [a, b] = await Promise.all(
            pair.map((s) =>
              fetch(`${s.base}${path}`, { headers: { authorization: `Bearer ${t}` } }).then(
                async (r) => `${r.status} ${await r.text()}`,
              ),
            ),
          );
          if (a !== b) {
            throw new Error(`the bodies differ for ${path}:\nservice  ${a}\nbaseline ${b}`);
          }
        }
      }
      console.log(
        `both servers answer the same bytes at ${fmt(size.accounts)} accounts (40 requests compared)`,
      );
    }

    const results = new Map<string, Round[]>();
    const key = (s: Server, r: Route) => `${s.label} ${r.name}`;
    console.log(
      `\n${CONNECTIONS} connections; per route: a ${WARMUP} s warm-up each, then ${ROUNDS} rounds of ${DURATION} s each, alternating; the baseline ${env.BENCH_BASELINE === 'joined' ? "with the service's one statement per request" : "with the issue's statements at once"}\n`,
    );
    for (const route of routes) {
      for (const s of servers) await measure(s, route, WARMUP);
      for (let r = 0; r < ROUNDS; r++) {
        const order = r % 2 === 0 ? servers : [...servers].reverse();
        for (const s of order) {
          const round = await measure(s, route, DURATION);
          const list = results.get(key(s, route)) ?? [];
          list.push(round);
          results.set(key(s, route), list);
          console.log(
            `  ${route.name} round ${r + 1} ${s.label}: ${Math.round(round.rps)} req/s, p50 ${round.p50} ms, p99 ${round.p99} ms${round.bad ? `, ${round.bad} non-2xx/errors` : ''}`,
          );
          if (round.bad) failed = true;
        }
      }
    }

    const stat = (s: Server | undefined, route: Route) => {
      const rounds = s ? (results.get(key(s, route)) ?? []) : [];
      return {
        rps: rounds.length ? rounds.reduce((t, x) => t + x.rps, 0) / rounds.length : NaN,
        p50: median(rounds.map((x) => x.p50)),
        p99: median(rounds.map((x) => x.p99)),
      };
    };
    for (const { size, sweepLines } of sizes) {
      const service = servers.find((s) => s.size === size && s.name === 'service');
      const baseline = servers.find((s) => s.size === size && s.name === 'baseline');
      console.log(
        `\n${fmt(size.users)} users, ${fmt(size.accounts)} accounts; rps: mean of the rounds, p50 and p99: median of the rounds (ms)\n`,
      );
      console.log(
        '| route | service req/s | baseline req/s | ratio | service p50 | baseline p50 | service p99 | baseline p99 | ratio |',
      );
      console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
      // One side alone (BENCH_ONLY): its figures, dashes for the other and the ratios.
      const cell = (n: number, text = String(n)) => (Number.isFinite(n) ? text : '–');
      for (const route of routes) {
        const a = stat(service, route);
        const b = stat(baseline, route);
        console.log(
          `| ${route.name} | ${cell(a.rps, fmt(a.rps))} | ${cell(b.rps, fmt(b.rps))} | ${cell(a.rps / b.rps, `${(a.rps / b.rps).toFixed(2)}×`)} | ${cell(a.p50)} | ${cell(b.p50)} | ${cell(a.p99)} | ${cell(b.p99)} | ${cell(a.p99 / b.p99, `${(a.p99 / b.p99).toFixed(2)}×`)} |`,
        );
      }
      const rss = (s: Server | undefined) => fmt(s ? peakRssMb(s.proc.pid) : NaN);
      console.log(`\npeak RSS: service ${rss(service)} MB, baseline ${rss(baseline)} MB`);
      console.log('\n| sweep query (repository method) | rows | ms (median of 3) |');
      console.log('|---|---:|---:|');
      for (const line of sweepLines) console.log(line);
    }
    if (sizes.length === 2) {
      const [big, small] = sizes.map(({ size }) =>
        servers.find((s) => s.size === size && s.name === 'service'),
      );
      if (big && small) {
        console.log(
          `\n| route (the service, in the same rounds) | p99 at ${fmt(big.size.accounts)} (ms) | p99 at ${fmt(small.size.accounts)} (ms) | ratio |`,
        );
        console.log('|---|---:|---:|---:|');
        for (const route of routes) {
          const a = stat(big, route).p99;
          const b = stat(small, route).p99;
          console.log(`| ${route.name} | ${a} | ${b} | ${(a / b).toFixed(2)}× |`);
        }
      }
    }
    if (failed) console.error('\nFAILED: some replies were not 2xx');
  } finally {
    for (const { proc } of servers) {
      if (proc.exitCode === null) {
        const exited = new Promise((r) => proc.on('exit', r));
        proc.kill('SIGTERM');
        await exited;
      }
    }
    await server.stop();
  }
  if (failed) process.exit(1);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
