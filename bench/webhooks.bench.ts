/**
 * `npm run bench:webhooks`: webhook deliveries per second to a receiver on loopback.
 *
 * 1. Fan-out: the service's own outbox (in this process, no workers) appends BENCH_WEBHOOK_EVENTS
 *    status changes for each of BENCH_WEBHOOK_ACCOUNTS accounts of one user with one endpoint
 *    subscribed to everything: each append writes the event, its delivery row and the pair's
 *    drain job in one transaction.
 * 2. Delivery: the service as `npm start` runs it (`--role worker`, its own process; in
 *    development, where receivers on loopback are allowed, with production's settings otherwise) drains them to a node:http receiver here, which checks every signature the way the
 *    README tells receivers to and the order of each account's events.
 *
 * Prints events/s of the fan-out and deliveries/s (first to last delivery; and from the worker's
 * spawn, boot included). Database: BENCH_DATABASE_URL (a server; a scratch database is created
 * and dropped), else a throw-away embedded cluster. BENCH_WEBHOOK_CONCURRENCY sets
 * WEBHOOK_CONCURRENCY for the worker; BENCH_NODE_ARGS passes flags to its node (profiling).
 */
import 'reflect-metadata';
import { spawn } from 'node:child_process';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createApp } from '../src/app.factory';
import { projectRoot } from '../src/common/project-root';
import { serviceNodeFlags } from './service-node';
import { createRootLogger } from '../src/common/logging/logger';
import { loadConfig } from '../src/config/config';
import { generateKeyringEntry } from '../src/config/keyring';
import { AccountEventType } from '../src/domain/entities/account-event.entity';
import {
  ACCOUNT_EVENT_REPOSITORY,
  type IAccountEventRepository,
} from '../src/domain/repositories/account-event.repository.interface';
import { createDatabase } from '../src/infrastructure/database/database';
import { freePort, startEmbeddedPostgres } from '../src/infrastructure/database/embedded-postgres';
import { migrate } from '../src/infrastructure/database/migrator';
import { WebhookEndpointsService } from '../src/modules/webhooks/services/webhook-endpoints.service';

const env = process.env;
const ACCOUNTS = Number(env.BENCH_WEBHOOK_ACCOUNTS ?? 1000);
const EVENTS_PER_ACCOUNT = Number(env.BENCH_WEBHOOK_EVENTS ?? 5);
const CONCURRENCY = env.BENCH_WEBHOOK_CONCURRENCY ?? '16';
const FANOUT_PARALLEL = 8;
const TOTAL = ACCOUNTS * EVENTS_PER_ACCOUNT;
const JWT_SECRET = 'bench-secret-bench-secret-bench-secret-000';
const TOKEN_KEY = generateKeyringEntry(1);
/** Nothing listens there: the worker never needs Instagram in this benchmark. */
const NO_INSTAGRAM = 'http://127.0.0.1:9';

/** CPU seconds (user + system) /proc has for `pid`; with `children`, those it reaped too. */
function cpuSecondsOf(pid: number, children = false): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // After the name: state(0) ppid(1) … utime(11) stime(12) cutime(13) cstime(14), in ticks.
    const ticks =
      Number(fields[11]) +
      Number(fields[12]) +
      (children ? Number(fields[13]) + Number(fields[14]) : 0);
    return ticks / 100;
  } catch {
    return 0;
  }
}

/** The embedded cluster's CPU so far: its postmaster, the backends it reaped and those alive. */
function postgresCpuSeconds(postmasterPid: number): number {
  let total = cpuSecondsOf(postmasterPid, true);
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === postmasterPid) total += cpuSecondsOf(Number(entry));
    } catch {
      // Gone meanwhile: its time is in the postmaster's reaped children.
    }
  }
  return total;
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

interface Receiver {
  url: string;
  count: number;
  badSignatures: number;
  first: number;
  last: number;
  /** Event ids per account, in arrival order (duplicates included: at-least-once). */
  byAccount: Map<string, string[]>;
  secret: string;
  close(): Promise<void>;
  done: Promise<void>;
}

async function startReceiver(expected: number): Promise<Receiver> {
  let resolveDone: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (resolveDone = resolve));
  const seen = new Set<string>();
  const receiver: Receiver = {
    url: '',
    count: 0,
    badSignatures: 0,
    first: 0,
    last: 0,
    byAccount: new Map(),
    secret: '',
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
    done,
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const timestamp = String(req.headers['x-ssell-timestamp']);
      const signature = Buffer.from(String(req.headers['x-ssell-signature']));
      const expectedSignature = Buffer.from(
        `v1=${createHmac('sha256', receiver.secret).update(`${timestamp}.${raw}`).digest('hex')}`,
      );
      if (
        signature.length !== expectedSignature.length ||
        !timingSafeEqual(signature, expectedSignature)
      ) {
        receiver.badSignatures++;
        res.writeHead(401).end();
        return;
      }
      const body = JSON.parse(raw) as { id: string; data: { account: { id: string } } };
      const now = performance.now();
      if (receiver.count === 0) receiver.first = now;
      receiver.last = now;
      receiver.count++;
      const list = receiver.byAccount.get(body.data.account.id) ?? [];
      list.push(body.id);
      receiver.byAccount.set(body.data.account.id, list);
      seen.add(body.id);
      res.writeHead(204).end();
      if (seen.size === expected) resolveDone();
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  return receiver;
}

/** Phase 1: the outbox itself, in this process. Returns the user's endpoint secret. */
async function fanOut(
  databaseUrl: string,
  receiver: Receiver,
): Promise<{ secret: string; ms: number; order: Map<string, string[]> }> {
  const config = loadConfig({
    NODE_ENV: 'development',
    DATA_DIR: mkdtempSync(join(tmpdir(), 'ssell-bench-data-')),
    DATABASE_URL: databaseUrl,
    DATABASE_POOL_SIZE: String(FANOUT_PARALLEL + 2),
    JWT_SECRET,
    TOKEN_ENCRYPTION_KEY: TOKEN_KEY,
    INSTAGRAM_APP_ID: '990000000000777',
    INSTAGRAM_APP_SECRET: 'bench',
    JOBS_ENABLED: 'false',
    WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true',
    LOG_LEVEL: 'warn',
  });
  const handle = createDatabase(databaseUrl, config.database.poolSize, () => undefined);
  const app = await createApp({ config, database: handle, logger: createRootLogger('warn') });
  try {
    const { id: userId } = await handle.db.one<{ id: string }>(
      `INSERT INTO users (email, password_hash) VALUES ('bench.webhooks@example.com', 'scrypt$x')
       RETURNING id`,
    );
    const accountIds = await handle.db.map(
      `INSERT INTO client_accounts (user_id, platform, platform_account_id, username, account_type,
         permissions, token_expires_at, last_sync_at)
       SELECT $1, 'instagram', (17841400000000000 + i)::text, 'hooked_' || i, 'business',
         '["instagram_business_basic"]', now() + interval '50 days', now()
       FROM generate_series(1, $2) AS i RETURNING id`,
      [userId, ACCOUNTS],
      (row: { id: string }) => row.id,
    );
    const { secret } = await app
      .get(WebhookEndpointsService)
      .register(userId, { url: receiver.url, events: ['*'] });
    const events = app.get<IAccountEventRepository>(ACCOUNT_EVENT_REPOSITORY, { strict: false });
    const started = performance.now();
    let next = 0;
    const jobs = accountIds.flatMap((accountId) =>
      Array.from({ length: EVENTS_PER_ACCOUNT }, (_, n) => ({ accountId, n })),
    );
    // Interleaved across accounts, each account's events in order (one lane per account).
    const lanes = Array.from({ length: FANOUT_PARALLEL }, async () => {
      for (;;) {
        const i = next++;
        if (i >= accountIds.length) return;
        for (const job of jobs.slice(i * EVENTS_PER_ACCOUNT, (i + 1) * EVENTS_PER_ACCOUNT)) {
          await events.append({
            accountId: job.accountId,
            userId,
            type: AccountEventType.STATUS_CHANGED,
            data: { from: 'active', to: 'error', reason: `bench-${job.n}` },
          });
        }
      }
    });
    await Promise.all(lanes);
    const ms = performance.now() - started;
    const order = new Map<string, string[]>();
    const rows = await handle.db.manyOrNone<{ account_id: string; id: string }>(
      `SELECT account_id, id FROM account_events ORDER BY created_at, id`,
    );
    for (const row of rows)
      order.set(row.account_id, [...(order.get(row.account_id) ?? []), row.id]);
    return { secret, ms, order };
  } finally {
    await app.close();
  }
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
  const dbName = `ssell_bench_hooks_${Date.now().toString(36)}`;
  await withClient(serverUrl, (c) => c.query(`CREATE DATABASE ${dbName}`));
  const url = new URL(serverUrl);
  url.pathname = `/${dbName}`;
  const databaseUrl = url.toString();
  const receiver = await startReceiver(TOTAL);
  let child: ReturnType<typeof spawn> | undefined;
  try {
    await migrate(databaseUrl, { info: () => undefined });
    const fan = await fanOut(databaseUrl, receiver);
    receiver.secret = fan.secret;
    console.log(
      `fan-out: ${TOTAL.toLocaleString('en')} events (${ACCOUNTS} accounts x ${EVENTS_PER_ACCOUNT}), ` +
        `${Math.round(TOTAL / (fan.ms / 1000)).toLocaleString('en')} events/s (event + delivery row + drain job per transaction, ${FANOUT_PARALLEL} in parallel)`,
    );

    const postmasterPid = dataDir
      ? Number(readFileSync(join(dataDir, 'postgres', 'postmaster.pid'), 'utf8').split('\n')[0])
      : undefined;
    const pgBefore = postmasterPid ? postgresCpuSeconds(postmasterPid) : 0;
    const benchBefore = process.cpuUsage();
    const spawned = performance.now();
    // BENCH_NODE_ARGS: flags for the worker's node, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
    const nodeArgs = (env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
    const main = join(projectRoot(), 'dist/src/main.js');
    child = spawn(
      process.execPath,
      [...serviceNodeFlags(), ...nodeArgs, main, '--role', 'worker'],
      {
        env: {
          ...env,
          // A receiver on loopback is refused in production (WEBHOOK_ALLOW_PRIVATE_TARGETS).
          NODE_ENV: 'development',
          DATABASE_URL: databaseUrl,
          DATABASE_POOL_SIZE: '20',
          JWT_SECRET,
          TOKEN_ENCRYPTION_KEY: TOKEN_KEY,
          INSTAGRAM_APP_ID: '990000000000777',
          INSTAGRAM_APP_SECRET: 'bench',
          INSTAGRAM_OAUTH_URL: NO_INSTAGRAM,
          INSTAGRAM_API_URL: NO_INSTAGRAM,
          INSTAGRAM_GRAPH_API_URL: `${NO_INSTAGRAM}/v25.0`,
          WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true',
          WEBHOOK_CONCURRENCY: CONCURRENCY,
          LOG_LEVEL: 'warn',
        },
        stdio: ['ignore', 'ignore', 'inherit'],
      },
    );
    await Promise.race([
      receiver.done,
      new Promise((_, reject) =>
        setTimeout(
          () => reject(new Error(`only ${receiver.count} of ${TOTAL} delivered in 10 minutes`)),
          600_000,
        ).unref(),
      ),
    ]);
    const finished = performance.now();
    const workerCpu = child.pid ? cpuSecondsOf(child.pid) : 0;
    const benchCpu = process.cpuUsage(benchBefore);
    const receiverCpu = (benchCpu.user + benchCpu.system) / 1e6;
    const pgCpu = postmasterPid ? postgresCpuSeconds(postmasterPid) - pgBefore : undefined;
    const steady = (receiver.count - 1) / ((receiver.last - receiver.first) / 1000);
    const withBoot = TOTAL / ((finished - spawned) / 1000);
    let outOfOrder = 0;
    for (const [accountId, expected] of fan.order) {
      const got = [...new Set(receiver.byAccount.get(accountId) ?? [])];
      if (got.join() !== expected.join()) outOfOrder++;
    }
    // The last rows are marked delivered a moment after their answers arrive.
    let delivered: Record<string, number> = {};
    for (let i = 0; i < 50; i++) {
      delivered = await withClient(databaseUrl, async (c) => {
        const { rows } = await c.query<{ status: string; n: number }>(
          `SELECT status, count(*)::int AS n FROM webhook_deliveries GROUP BY status`,
        );
        return Object.fromEntries(rows.map((r) => [r.status, r.n]));
      });
      if (!delivered.pending) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    console.log(
      `\nworker: WEBHOOK_CONCURRENCY=${CONCURRENCY}, NODE_ENV=development, receiver on loopback verifying every signature\n`,
    );
    console.log('| measure | value |');
    console.log('|---|---:|');
    console.log(`| deliveries | ${TOTAL.toLocaleString('en')} |`);
    console.log(`| deliveries/s, first to last | ${Math.round(steady).toLocaleString('en')} |`);
    console.log(
      `| deliveries/s, from the worker's spawn (boot included) | ${Math.round(withBoot).toLocaleString('en')} |`,
    );
    console.log(`| requests received (at least once) | ${receiver.count.toLocaleString('en')} |`);
    console.log(`| bad signatures | ${receiver.badSignatures} |`);
    console.log(`| accounts out of order | ${outOfOrder} |`);
    console.log(
      `| rows delivered / pending | ${delivered.delivered ?? 0} / ${delivered.pending ?? 0} |`,
    );
    // Wall-clock rates depend on what else the two cores run; CPU per delivery does not (much).
    const perDelivery = (seconds: number) => ((seconds * 1000) / TOTAL).toFixed(2);
    console.log(`| worker CPU per delivery (boot included), ms | ${perDelivery(workerCpu)} |`);
    console.log(
      `| receiver CPU per delivery (signature check), ms | ${perDelivery(receiverCpu)} |`,
    );
    if (pgCpu !== undefined) {
      console.log(`| PostgreSQL CPU per delivery, ms | ${perDelivery(pgCpu)} |`);
      const all = workerCpu + receiverCpu + pgCpu;
      console.log(
        `| deliveries/s the 2 cores allow for all three (2 s of CPU / CPU per delivery) | ${Math.round((2 * TOTAL) / all).toLocaleString('en')} |`,
      );
    }
  } finally {
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child!.on('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    await receiver.close();
    await withClient(serverUrl, (c) => c.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`));
    if (stopEmbedded) await stopEmbedded();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
