/**
 * `npm run bench:sync`: one sync sweep over many accounts, end to end, on real processes: the
 * built service as one `--role api` and two `--role worker` processes on one database, the
 * Instagram emulator (in this process) holding every account and the tokens it issued, the
 * tokens stored encrypted as a connect stores them. The clock runs from queueing the sweep (as
 * the hourly cron would) until every account's `last_sync_at` has moved.
 *
 * Prints accounts per second, Graph calls (against accounts plus retries), that every account
 * was synced exactly once, and the CPU each process used.
 *
 * BENCH_ACCOUNTS (default 10000), BENCH_WORKERS (default 2), BENCH_DATABASE_URL (a server: a
 * scratch database is created on it and dropped; else a throw-away embedded cluster),
 * BENCH_NODE_ARGS (flags for the service's node, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"),
 * BENCH_WORKER_ENV (extra `NAME=value,NAME=value` for the workers, e.g. JOBS_CONCURRENCY=20),
 * BENCH_LOG_DIR (each process's log lines into a file there), BENCH_LOG_LEVEL (info, the default,
 * debug or trace: a process is ready at its info-level "ssell ready" line),
 * BENCH_PICTURES=0 (accounts without profile pictures: no picture downloads; with BENCH_WEBHOOKS=0
 * too, NODE_ENV=production),
 * BENCH_WEBHOOKS=0 (healthy accounts and no webhook endpoint). By default every account starts in
 * `error`, as after an outage, and the user has one endpoint for every event (`["*"]`) on a
 * receiver in this process that checks each signature: each sync then writes `status_changed`
 * and `recovered`, and their deliveries are part of the measured work.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHmac, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { appendFileSync, chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import PgBoss from 'pg-boss';
import { startEmulator, type RunningEmulator } from '../emulator/emulator';
import { projectRoot } from '../src/common/project-root';
import { serviceNodeFlags } from './service-node';
import { generateKeyringEntry } from '../src/config/keyring';
import { TokenCipher } from '../src/infrastructure/crypto/token-cipher';
import { WebhookSecretCipher } from '../src/infrastructure/crypto/webhook-secret-cipher';
import { freePort, startEmbeddedPostgres } from '../src/infrastructure/database/embedded-postgres';
import { migrate } from '../src/infrastructure/database/migrator';

const env = process.env;
const ACCOUNTS = Number(env.BENCH_ACCOUNTS ?? 10_000);
const WORKERS = Number(env.BENCH_WORKERS ?? 2);
const TOKEN_KEY = generateKeyringEntry(1);
const JWT_SECRET = 'bench-secret-bench-secret-bench-secret-000';
const APP_ID = '990000000000778';
const APP_SECRET = 'bench-sync-emulator-secret';
const TIMEOUT_MS = Number(env.BENCH_TIMEOUT_MS ?? 15 * 60_000);
/** Accounts with profile pictures, which the first sync downloads and keeps (default). */
const PICTURES = env.BENCH_PICTURES !== '0';
/** Accounts recovering from `error`, with their webhook deliveries to a loopback receiver. */
const WEBHOOKS = env.BENCH_WEBHOOKS !== '0';
const LOG_LEVEL = env.BENCH_LOG_LEVEL ?? 'info';
// Above info the "ssell ready" line is never written, and the run would wait for it forever.
if (!['info', 'debug', 'trace'].includes(LOG_LEVEL)) {
  console.error(
    `BENCH_LOG_LEVEL=${LOG_LEVEL}: use info, debug or trace (each process is ready at its info-level "ssell ready" line)`,
  );
  process.exit(2);
}

interface Receiver {
  url: string;
  received: number;
  badSignatures: number;
  last: number;
  server: Server;
}

/** The customer's endpoint: counts what arrives and checks every signature, as README says. */
async function startReceiver(secret: () => string): Promise<Receiver> {
  const receiver: Receiver = {
    url: '',
    received: 0,
    badSignatures: 0,
    last: 0,
    server: createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const timestamp = String(req.headers['x-ssell-timestamp']);
        const expected =
          'v1=' +
          createHmac('sha256', secret())
            .update(`${timestamp}.${Buffer.concat(chunks).toString('utf8')}`)
            .digest('hex');
        if (req.headers['x-ssell-signature'] !== expected) receiver.badSignatures++;
        receiver.received++;
        receiver.last = Date.now();
        res.writeHead(204).end();
      });
    }),
  };
  receiver.server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => receiver.server.listen(0, '127.0.0.1', resolve));
  receiver.url = `http://127.0.0.1:${(receiver.server.address() as AddressInfo).port}/hook`;
  return receiver;
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

/** User and system CPU seconds a process has used so far (Linux /proc), or NaN. */
function cpuSeconds(pid: number | undefined, reapedChildren = false): number {
  if (pid === undefined) return Number.NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the command name; cutime
    // and cstime (16, 17) are the children it has waited for.
    const own = Number(fields[11]) + Number(fields[12]);
    return (reapedChildren ? own + Number(fields[13]) + Number(fields[14]) : own) / 100;
  } catch {
    return Number.NaN;
  }
}

/** The embedded cluster's postmaster (the first line of its postmaster.pid). */
function postmasterPid(dataDir: string): number | undefined {
  try {
    const pid = Number(
      readFileSync(join(dataDir, 'postgres', 'postmaster.pid'), 'utf8').split('\n')[0],
    );
    return Number.isInteger(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** PostgreSQL's CPU: the postmaster and its children (backends, WAL writer, checkpointer…). */
function postgresCpuSeconds(postmasterPid: number | undefined): number {
  if (postmasterPid === undefined) return Number.NaN;
  // Backends that exited (an autovacuum worker, a closed connection) are in the postmaster's
  // reaped-children time; one that exits between these reads is skipped, not a NaN for all.
  let total = cpuSeconds(postmasterPid, true);
  try {
    const children = readFileSync(
      `/proc/${postmasterPid}/task/${postmasterPid}/children`,
      'utf8',
    ).trim();
    for (const pid of children ? children.split(' ') : []) {
      const seconds = cpuSeconds(Number(pid));
      if (!Number.isNaN(seconds)) total += seconds;
    }
  } catch {
    return Number.NaN;
  }
  return total;
}

/**
 * `n` accounts in the emulator with the long-lived tokens it issued, and the same accounts in
 * the database with those tokens sealed by the service's own cipher (bulk inserts: the seed is
 * not what is measured). Never synced, so the sweep finds them all due.
 */
async function seed(
  databaseUrl: string,
  emu: RunningEmulator,
  n: number,
  webhookUrl: string | undefined,
): Promise<string | undefined> {
  const cipher = TokenCipher.fromKeyString(TOKEN_KEY);
  const made = Array.from({ length: n }, (_, i) => {
    const account = emu.state.createAccount({
      username: `bench.sweep.${i + 1}`,
      name: `Bench Sweep ${i + 1}`,
      accountType: 'Business',
      followersCount: 1000 + i,
      hasProfilePicture: PICTURES,
    });
    return { account, token: emu.state.issueToken(account, 'long', ['instagram_business_basic']) };
  });
  return withClient(databaseUrl, async (c) => {
    const user = await c.query<{ id: string }>(
      `INSERT INTO users (email, name, password_hash)
       VALUES ('bench.sweep@example.com', 'Bench', 'scrypt$ln=15,r=8,p=1$AA==$AA==') RETURNING id`,
    );
    const userId = user.rows[0]!.id;
    let secret: string | undefined;
    if (webhookUrl) {
      const id = randomUUID();
      secret = WebhookSecretCipher.generate();
      const sealed = new WebhookSecretCipher(cipher).seal(secret, id);
      await c.query(
        `INSERT INTO webhook_endpoints (id, user_id, url, events, secret_ciphertext, secret_iv,
           secret_auth_tag, secret_key_version)
         VALUES ($1, $2, $3, ARRAY['*'], $4, $5, $6, $7)`,
        [id, userId, webhookUrl, sealed.ciphertext, sealed.iv, sealed.authTag, sealed.keyVersion],
      );
    }
    for (let start = 0; start < made.length; start += 2000) {
      const page = made.slice(start, start + 2000);
      const rows = await c.query<{ id: string; platform_account_id: string }>(
        `INSERT INTO client_accounts (user_id, platform, platform_account_id, username,
           account_type, token_expires_at, permissions, metadata, status)
         SELECT $1, 'instagram', p, u, 'business', e, '["instagram_business_basic"]',
           jsonb_build_object('igId', a), $6
         FROM unnest($2::text[], $3::text[], $4::timestamptz[], $5::text[]) AS t(p, u, e, a)
         RETURNING id, platform_account_id`,
        [
          userId,
          page.map((m) => m.account.userId),
          page.map((m) => m.account.username),
          page.map((m) => m.token.expiresAt),
          page.map((m) => m.account.appScopedId),
          webhookUrl ? 'error' : 'active',
        ],
      );
      const idOf = new Map(rows.rows.map((r) => [r.platform_account_id, r.id]));
      const sealed = page.map((m) => {
        const id = idOf.get(m.account.userId)!;
        return { id, sealed: cipher.encrypt(m.token.token, id), token: m.token };
      });
      await c.query(
        `INSERT INTO account_tokens (account_id, ciphertext, iv, auth_tag, key_version, token_type,
           issued_at, expires_at, scopes)
         SELECT id, ct, iv, tag, $5, 'long_lived', i, e, '["instagram_business_basic"]'
         FROM unnest($1::uuid[], $2::bytea[], $3::bytea[], $4::bytea[], $6::timestamptz[],
           $7::timestamptz[]) AS t(id, ct, iv, tag, i, e)`,
        [
          sealed.map((s) => s.id),
          sealed.map((s) => s.sealed.ciphertext),
          sealed.map((s) => s.sealed.iv),
          sealed.map((s) => s.sealed.authTag),
          cipher.currentKeyVersion,
          sealed.map((s) => s.token.issuedAt),
          sealed.map((s) => s.token.expiresAt),
        ],
      );
    }
    await c.query('ANALYZE');
    return secret;
  });
}

interface Proc {
  name: string;
  child: ChildProcess;
  ready: Promise<void>;
}

/** The built service as `node dist/src/main.js --role <role>`; ready at its "ssell ready" line. */
function startService(name: string, role: 'api' | 'worker', serviceEnv: NodeJS.ProcessEnv): Proc {
  const nodeArgs = (env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(
    process.execPath,
    [...serviceNodeFlags(), ...nodeArgs, join(projectRoot(), 'dist/src/main.js'), '--role', role],
    { env: serviceEnv, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const ready = new Promise<void>((resolve, reject) => {
    let buffered = '';
    const logFile = env.BENCH_LOG_DIR
      ? join(env.BENCH_LOG_DIR, `${name.replace(' ', '-')}.log`)
      : undefined;
    child.stdout.on('data', (chunk: Buffer) => {
      if (logFile) appendFileSync(logFile, chunk);
      buffered += chunk.toString('utf8');
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        if (line.includes('"ssell ready at')) resolve();
        else if (/"level":"(error|fatal)"/.test(line)) process.stderr.write(`${name}: ${line}\n`);
      }
    });
    child.once('exit', (code) => reject(new Error(`${name} exited (${code}) before it was ready`)));
  });
  return { name, child, ready };
}

async function stop(proc: Proc): Promise<void> {
  if (proc.child.exitCode !== null || proc.child.signalCode !== null) return;
  const exited = new Promise((resolve) => proc.child.once('exit', resolve));
  proc.child.kill('SIGTERM');
  await exited;
}

async function main(): Promise<void> {
  let serverUrl = env.BENCH_DATABASE_URL;
  let embedded: Awaited<ReturnType<typeof startEmbeddedPostgres>> | undefined;
  let dataDir: string | undefined;
  if (!serverUrl) {
    dataDir = mkdtempSync(join(tmpdir(), 'ssell-bench-sync-'));
    chmodSync(dataDir, 0o755);
    embedded = await startEmbeddedPostgres({
      dataDir,
      port: await freePort(),
      persistent: false,
      log: () => undefined,
    });
    serverUrl = embedded.url;
  }
  const dbName = `ssell_bench_sync_${Date.now().toString(36)}`;
  await withClient(serverUrl, (c) => c.query(`CREATE DATABASE ${dbName}`));
  const url = new URL(serverUrl);
  url.pathname = `/${dbName}`;
  const databaseUrl = url.toString();
  const emu = await startEmulator({
    port: 0,
    host: '127.0.0.1',
    appId: APP_ID,
    appSecret: APP_SECRET,
    requireAppsecretProof: true,
    seed: false,
  });
  const procs: Proc[] = [];
  let boss: PgBoss | undefined;
  let receiver: Receiver | undefined;
  try {
    await migrate(databaseUrl, { info: () => undefined });
    const seeding = Date.now();
    let endpointSecret = '';
    receiver = WEBHOOKS ? await startReceiver(() => endpointSecret) : undefined;
    endpointSecret = (await seed(databaseUrl, emu, ACCOUNTS, receiver?.url)) ?? '';
    console.log(`seeded ${ACCOUNTS.toLocaleString('en')} accounts in ${Date.now() - seeding} ms`);

    const extra = Object.fromEntries(
      (env.BENCH_WORKER_ENV ?? '')
        .split(',')
        .filter(Boolean)
        .map((pair) => pair.split('=') as [string, string]),
    );
    const serviceEnv = {
      ...env,
      // Production, except where the pictures or the webhook receiver live on this machine's
      // loopback: fetching from there and delivering there are refused in production.
      ...(PICTURES || WEBHOOKS ? { NODE_ENV: 'development' } : { NODE_ENV: 'production' }),
      ...(PICTURES ? { PICTURE_FETCH_ALLOW_PRIVATE: 'true' } : {}),
      ...(WEBHOOKS ? { WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true' } : {}),
      DATABASE_URL: databaseUrl,
      JWT_SECRET,
      TOKEN_ENCRYPTION_KEY: TOKEN_KEY,
      INSTAGRAM_APP_ID: APP_ID,
      INSTAGRAM_APP_SECRET: APP_SECRET,
      INSTAGRAM_OAUTH_URL: emu.url,
      INSTAGRAM_API_URL: emu.url,
      INSTAGRAM_GRAPH_API_URL: `${emu.url}/v25.0`,
      // One sweep queues every account, so one sweep is what is measured.
      SYNC_SWEEP_BATCH: String(ACCOUNTS),
      LOG_LEVEL,
      DATABASE_POOL_SIZE: '20',
    };
    procs.push(startService('api', 'api', { ...serviceEnv, PORT: String(await freePort()) }));
    for (let i = 1; i <= WORKERS; i++) {
      procs.push(startService(`worker ${i}`, 'worker', { ...serviceEnv, ...extra }));
    }
    await Promise.all(procs.map((p) => p.ready));
    // The hourly crons would race the measured sweep: this run queues its own.
    await withClient(databaseUrl, (c) => c.query('DELETE FROM pgboss.schedule'));

    boss = new PgBoss({
      connectionString: databaseUrl,
      schema: 'pgboss',
      supervise: false,
      schedule: false,
      migrate: false,
      max: 2,
    });
    boss.on('error', () => undefined);
    await boss.start();
    const cpuBefore = procs.map((p) => cpuSeconds(p.child.pid));
    const benchCpuBefore = process.cpuUsage();
    const postmaster = dataDir ? postmasterPid(dataDir) : undefined;
    const pgCpuBefore = postgresCpuSeconds(postmaster);
    emu.state.clearRequests();

    const started = Date.now();
    await boss.send('accounts.sync-sweep', {}, { singletonKey: 'accounts.sync-sweep' });
    let synced = 0;
    const progress = setInterval(() => {
      console.log(
        `  ${synced.toLocaleString('en')} called or synced` +
          (receiver ? `, ${receiver.received.toLocaleString('en')} webhooks received` : '') +
          ` after ${Date.now() - started} ms`,
      );
    }, 5000);
    try {
      await withClient(databaseUrl, async (c) => {
        for (;;) {
          // The emulator's count of profile calls is free to read; the database is asked only
          // once every account has been called, so the watching costs the run nothing.
          const called = emu.state.requestTotals()['/v25.0/me'] ?? 0;
          if (called >= ACCOUNTS) {
            const { rows } = await c.query<{ n: number }>(
              `SELECT count(*)::int AS n FROM client_accounts WHERE last_sync_at IS NOT NULL`,
            );
            synced = rows[0]!.n;
            if (synced >= ACCOUNTS) return;
          } else {
            synced = called;
          }
          if (Date.now() - started > TIMEOUT_MS) {
            throw new Error(`only ${synced} of ${ACCOUNTS} synced after ${TIMEOUT_MS} ms`);
          }
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      });
    } catch (error) {
      clearInterval(progress);
      throw error;
    }
    const ms = Date.now() - started;
    // Deliveries go on after the last sync: the run ends when none is pending.
    const webhooks = receiver
      ? await withClient(databaseUrl, async (c) => {
          for (;;) {
            const { rows } = await c.query<{ pending: number; delivered: number; failed: number }>(
              `SELECT count(*) FILTER (WHERE status = 'pending')::int AS pending,
                 count(*) FILTER (WHERE status = 'delivered')::int AS delivered,
                 count(*) FILTER (WHERE status = 'failed')::int AS failed
               FROM webhook_deliveries`,
            );
            const counts = rows[0]!;
            if (counts.pending === 0) return { ...counts, ms: receiver!.last - started };
            if (Date.now() - started > TIMEOUT_MS) {
              throw new Error(`${counts.pending} webhook deliveries still pending`);
            }
            await new Promise((resolve) => setTimeout(resolve, 100));
          }
        }).finally(() => clearInterval(progress))
      : undefined;
    clearInterval(progress);
    const cpu = procs.map((p, i) => cpuSeconds(p.child.pid) - cpuBefore[i]!);
    const bench = process.cpuUsage(benchCpuBefore);
    const pgCpu = postgresCpuSeconds(postmaster) - pgCpuBefore;
    const totals = emu.state.requestTotals();
    const graphCalls = Object.values(totals).reduce((a, b) => a + b, 0);
    const checks = await withClient(databaseUrl, async (c) => {
      const jobs = await c.query<{ n: number; retries: number; failed: number }>(
        `SELECT count(*)::int AS n, COALESCE(sum(retry_count), 0)::int AS retries,
           count(*) FILTER (WHERE state = 'failed')::int AS failed
         FROM pgboss.job WHERE name = 'account.sync'`,
      );
      const once = await c.query<{ accounts: number; synced_events: number; not_once: number }>(
        `SELECT count(*)::int AS accounts, COALESCE(sum(n), 0)::int AS synced_events,
           count(*) FILTER (WHERE n <> 1)::int AS not_once
         FROM (SELECT a.id, count(e.id) AS n FROM client_accounts a
               LEFT JOIN account_events e ON e.account_id = a.id AND e.type = 'synced'
               GROUP BY a.id) per_account`,
      );
      const pictures = await c.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM account_pictures',
      );
      const statuses = await c.query<{ status: string; n: number }>(
        `SELECT status, count(*)::int AS n FROM client_accounts GROUP BY status ORDER BY status`,
      );
      return {
        jobs: jobs.rows[0]!,
        once: once.rows[0]!,
        statuses: statuses.rows,
        pictures: pictures.rows[0]!.n,
      };
    });

    const perSecond = Math.round((ACCOUNTS * 1000) / ms);
    const seconds = (v: number) => (Number.isNaN(v) ? 'n/a' : `${v.toFixed(1)} s`);
    console.log(`
one sweep of ${ACCOUNTS.toLocaleString('en')} accounts, ${WORKERS} workers + 1 api process, one database:

| figure | value |
|---|---:|
| accounts synced | ${checks.once.accounts - checks.once.not_once} of ${ACCOUNTS} exactly once (${checks.once.not_once} not once; ${checks.once.synced_events} synced events) |
| wall time, sweep queued → last account synced | ${(ms / 1000).toFixed(2)} s |
| **accounts per second** | **${perSecond}** |
| Graph calls | ${graphCalls} (${Object.entries(totals)
      .map(([path, n]) => `${path} ${n}`)
      .join(', ')}) |
| sync jobs · retries · failed | ${checks.jobs.n} · ${checks.jobs.retries} · ${checks.jobs.failed} |
| Graph calls ≤ accounts + retries | ${graphCalls <= ACCOUNTS + checks.jobs.retries ? 'yes' : 'NO'} |
| profile pictures downloaded and kept | ${checks.pictures}${PICTURES ? '' : ' (BENCH_PICTURES=0: none to fetch)'} |
| statuses after | ${checks.statuses.map((s) => `${s.status} ${s.n}`).join(', ')} |
| CPU: ${procs.map((p) => p.name).join(' · ')} | ${cpu.map(seconds).join(' · ')} |
| CPU: PostgreSQL (embedded cluster only) · this process (emulator, polling) | ${seconds(pgCpu)} · ${seconds((bench.user + bench.system) / 1e6)} |
${
  webhooks && receiver
    ? `| webhook deliveries (rows delivered · failed · requests received · bad signatures) | ${webhooks.delivered} · ${webhooks.failed} · ${receiver.received} · ${receiver.badSignatures} |
| **webhook deliveries per second**, sweep queued → last delivery received (${(webhooks.ms / 1000).toFixed(2)} s) | **${Math.round((receiver.received * 1000) / webhooks.ms)}** |`
    : '| webhook deliveries | none (BENCH_WEBHOOKS=0: healthy accounts, no endpoint) |'
}
`);
  } finally {
    await boss?.stop({ graceful: false, wait: true }).catch(() => undefined);
    for (const proc of procs) await stop(proc);
    await emu.close();
    if (receiver) {
      receiver.server.closeAllConnections();
      await new Promise((resolve) => receiver!.server.close(resolve));
    }
    await withClient(serverUrl, (c) => c.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`));
    if (embedded) await embedded.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
