/**
 * Workers side by side, as real processes: two `--role worker` and one `--role api` (the built
 * service, test/helpers/service-process.ts) on one database, the emulator as Instagram. One sweep
 * syncs every account exactly once between them; a worker killed with SIGKILL mid-sweep loses
 * nothing: the other finishes the sweep and retries the dead one's jobs once their lease is gone.
 */
import PgBoss from 'pg-boss';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type RunningEmulator } from '../emulator/emulator';
import { generateKeyringEntry } from '../src/config/keyring';
import { TokenCipher } from '../src/infrastructure/crypto/token-cipher';
import { TokenVault } from '../src/infrastructure/crypto/token-vault';
import { createDatabase, type DatabaseHandle } from '../src/infrastructure/database/database';
import { createTestDatabase, type TestDatabase } from './helpers/database';
import { emulatorEnv } from './helpers/instagram-fixtures';
import {
  buildService,
  removeBuild,
  spawnService,
  type ServiceProcess,
} from './helpers/service-process';

const TOKEN_KEY = generateKeyringEntry(1);
const JWT_SECRET = 'side-by-side-secret-side-by-side-secret-0123';

let emu: RunningEmulator;
let database: TestDatabase | undefined;
let handle: DatabaseHandle | undefined;
let boss: PgBoss | undefined;
let processes: ServiceProcess[] = [];

async function until<T>(
  probe: () => Promise<T | null | undefined | false>,
  what: string,
  timeoutMs: number,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/** A fresh database with `n` accounts whose tokens the emulator issued, never synced. */
async function world(n: number, prefix: string) {
  database = await createTestDatabase();
  handle = createDatabase(database.url, 4, () => undefined);
  const db = handle.db;
  const { id: userId } = await db.one<{ id: string }>(
    `INSERT INTO users (email, password_hash) VALUES ($1, 'scrypt$ln=15,r=8,p=1$AA==$AA==')
     RETURNING id`,
    [`${prefix}@example.com`],
  );
  const vault = new TokenVault(db, TokenCipher.fromKeyString(TOKEN_KEY));
  const ids: string[] = [];
  const platformIds: string[] = [];
  for (let i = 0; i < n; i++) {
    const account = emu.state.createAccount({ username: `${prefix}.${i}`, followersCount: i });
    const token = emu.state.issueToken(account, 'long', ['instagram_business_basic']);
    const { id } = await db.one<{ id: string }>(
      `INSERT INTO client_accounts (user_id, platform, platform_account_id, username,
         account_type, token_expires_at, permissions)
       VALUES ($1, 'instagram', $2, $3, 'business', $4, '["instagram_business_basic"]')
       RETURNING id`,
      [userId, account.userId, account.username, token.expiresAt],
    );
    await vault.store(id, {
      accessToken: token.token,
      tokenType: 'long_lived',
      issuedAt: token.issuedAt,
      expiresAt: token.expiresAt,
      scopes: token.scopes,
    });
    ids.push(id);
    platformIds.push(account.userId);
  }
  const env = {
    DATABASE_URL: database.url,
    JWT_SECRET,
    TOKEN_ENCRYPTION_KEY: TOKEN_KEY,
    ...emulatorEnv(emu),
    // Every account in one sweep; each Instagram call logged, so each worker's share shows.
    SYNC_SWEEP_BATCH: String(n),
    LOG_LEVEL: 'debug',
  };
  return { db, ids, platformIds, env };
}

async function start(role: 'api' | 'worker', env: Record<string, string>) {
  const proc = await spawnService({ role, env, readyTimeoutMs: 30_000 });
  processes.push(proc);
  return proc;
}

/** Queues a sync sweep the way the hourly cron does. */
async function sweep(url: string): Promise<void> {
  boss ??= new PgBoss({
    connectionString: url,
    schema: 'pgboss',
    supervise: false,
    schedule: false,
    migrate: false,
    max: 2,
  });
  boss.on('error', () => undefined);
  await boss.start();
  await boss.send('accounts.sync-sweep', {}, { singletonKey: 'accounts.sync-sweep' });
}

/** Profile calls a process made (its debug log of Instagram calls). */
const callsBy = (proc: ServiceProcess) =>
  proc.logs.filter((l) => l.msg === 'Instagram call succeeded' && l.operation === 'getProfile')
    .length;

const syncedEvents = (db: DatabaseHandle['db'], ids: string[]) =>
  db.manyOrNone<{ account_id: string; n: number }>(
    `SELECT a.id AS account_id, count(e.id)::int AS n FROM client_accounts a
     LEFT JOIN account_events e ON e.account_id = a.id AND e.type = 'synced'
     WHERE a.id = ANY($1::uuid[]) GROUP BY a.id`,
    [ids],
  );

const syncedCount = async (db: DatabaseHandle['db'], ids: string[]) =>
  (
    await db.one<{ n: number }>(
      `SELECT count(*)::int AS n FROM client_accounts
       WHERE id = ANY($1::uuid[]) AND last_sync_at IS NOT NULL`,
      [ids],
    )
  ).n;

beforeAll(async () => {
  buildService();
  emu = await startEmulator({ port: 0 });
});

afterEach(async () => {
  emu.state.clearInjections();
  await Promise.all(processes.map((p) => p.kill9()));
  processes = [];
  await boss?.stop({ graceful: false, close: true, wait: true });
  boss = undefined;
  await handle?.close();
  handle = undefined;
  await database?.drop();
  database = undefined;
});

afterAll(async () => {
  await emu?.close();
  removeBuild();
});

describe('two workers and an api on one database', () => {
  it(
    'start together, and one sweep syncs every account exactly once between the two workers',
    { timeout: 120_000 },
    async () => {
      const { db, ids, env } = await world(400, 'side');
      // All three at once on a database they have never seen: they take turns at setup.
      const [api, first, second] = await Promise.all([
        start('api', env),
        start('worker', env),
        start('worker', env),
      ]);
      const callsBefore = emu.state.requestTotals()['/v25.0/me'] ?? 0;
      // Instagram's own pace (tens of milliseconds a call), not the loopback emulator's: on a fast
      // machine one worker otherwise finished all 400 before the other's next poll (1 s).
      emu.state.inject({ kind: 'hang', path: '/v25.0/me', delayMs: 100, count: ids.length });
      const started = Date.now();
      await sweep(env.DATABASE_URL);
      await until(
        async () => (await syncedCount(db, ids)) === ids.length,
        'every account synced',
        90_000,
        200,
      );
      const ms = Date.now() - started;

      const perAccount = await syncedEvents(db, ids);
      expect(perAccount.filter((a) => a.n !== 1)).toEqual([]);
      const snapshots = await db.one<{ n: number }>(
        'SELECT count(*)::int AS n FROM account_metric_snapshots WHERE account_id = ANY($1::uuid[])',
        [ids],
      );
      expect(snapshots.n).toBe(ids.length);
      // Each account called once: no job ran twice, none was lost.
      expect((emu.state.requestTotals()['/v25.0/me'] ?? 0) - callsBefore).toBe(ids.length);
      const jobs = await db.one<{ n: number; retried: number; done: number }>(
        `SELECT count(*)::int AS n, count(*) FILTER (WHERE retry_count > 0)::int AS retried,
           count(*) FILTER (WHERE state = 'completed')::int AS done
         FROM pgboss.job WHERE name = 'account.sync'`,
      );
      expect(jobs).toEqual({ n: ids.length, retried: 0, done: ids.length });
      // Both workers took their share; the api process ran none.
      const shares = [callsBy(first), callsBy(second)];
      expect(shares[0]! + shares[1]!).toBe(ids.length);
      expect(Math.min(...shares)).toBeGreaterThan(ids.length * 0.1);
      expect(callsBy(api)).toBe(0);
      expect((await fetch(`${api.url}/health/ready`)).status).toBe(200);
      console.log(
        `two workers: ${ids.length} accounts in ${ms} ms (${Math.round((ids.length * 1000) / ms)}/s), shares ${shares.join(' + ')}`,
      );
    },
  );

  it(
    'kill -9 of one worker mid-sweep loses nothing: the other finishes and retries its jobs',
    { timeout: 150_000 },
    async () => {
      const made = await world(1200, 'kill');
      const { db, ids, platformIds } = made;
      // Calls that hang stay in flight until the kill (not cut short by the test's usual 1 s).
      const env = { ...made.env, INSTAGRAM_TIMEOUT_MS: '110000', INSTAGRAM_DEADLINE_MS: '120000' };
      const api = await start('api', env);
      // Eight at a time, six of them soon hanging: it is still at work when the second joins.
      const doomed = await start('worker', { ...env, JOBS_CONCURRENCY: '8' });
      // A tenth of the accounts hang on their first call: the doomed worker is soon in the middle
      // of several when it dies (which ones depends on the queue's order, so it is read back).
      const hangs = new Map(
        ids.filter((_, i) => i % 10 === 0).map((id) => [id, platformIds[ids.indexOf(id)]!]),
      );
      for (const platformId of hangs.values()) {
        emu.state.inject({ kind: 'hang', delayMs: 120_000, account: platformId });
      }
      await sweep(env.DATABASE_URL);
      /** Accounts whose first call is hanging now: their injection has been taken. */
      const hanging = () => {
        const pending = new Set(emu.state.listInjections().map((i) => i.userId));
        return [...hangs].filter(([, platformId]) => !pending.has(platformId)).map(([id]) => id);
      };
      const activeOf = (wanted: string[]) =>
        db.manyOrNone<{ id: string; account_id: string }>(
          `SELECT id, data->>'accountId' AS account_id FROM pgboss.job
           WHERE name = 'account.sync' AND state = 'active' AND data->>'accountId' = ANY($1)`,
          [wanted],
        );
      await until(
        async () => hanging().length >= 3,
        'the doomed worker to be stuck in three hanging syncs',
        20_000,
      );
      const stuck = hanging();
      // The rest will not hang: only the doomed worker's calls are held up.
      emu.state.clearInjections();
      // The second worker joins mid-sweep and works beside the first for a while.
      const survivor = await start('worker', env);
      await until(async () => callsBy(survivor) >= 20, 'the second worker to sync some', 30_000);
      const syncedBeforeKill = await syncedCount(db, ids);
      expect(syncedBeforeKill).toBeLessThan(ids.length);
      const stranded = (await activeOf(stuck)).map((j) => j.id);
      expect(stranded.length).toBe(stuck.length);
      expect(stranded.length).toBeGreaterThanOrEqual(3);

      await doomed.kill9();
      const killedAt = Date.now();
      await until(
        async () => (await syncedCount(db, ids)) === ids.length,
        'the surviving worker to sync every account',
        60_000,
        200,
      );
      const finishedMs = Date.now() - killedAt;
      // The dead worker's jobs went back to the queue and ran again, once each, on the survivor.
      const rerun = await until(
        async () => {
          const rows = await db.manyOrNone<{ state: string; retry_count: number }>(
            `SELECT state, retry_count FROM pgboss.job WHERE id = ANY($1::uuid[])`,
            [stranded],
          );
          return rows.every((r) => r.state === 'completed') && rows;
        },
        'the stranded jobs to complete',
        60_000,
        200,
      );
      expect(rerun.map((r) => r.retry_count)).toEqual(stranded.map(() => 1));
      expect(
        survivor.logs.filter((l) => l.msg === 'job left running by a stopped process: queued again')
          .length,
      ).toBeGreaterThanOrEqual(stranded.length);

      // Nothing lost: every account synced. At least once: a job the dead worker had finished
      // with Instagram but not yet marked done may run again; nothing more runs twice.
      const perAccount = await syncedEvents(db, ids);
      expect(perAccount.filter((a) => a.n === 0)).toEqual([]);
      const twice = perAccount.filter((a) => a.n > 1);
      expect(twice.length).toBeLessThanOrEqual(8);
      expect(perAccount.every((a) => a.n <= 2)).toBe(true);
      expect((await fetch(`${api.url}/health/ready`)).status).toBe(200);
      console.log(
        `kill -9: ${syncedBeforeKill}/${ids.length} synced before; the rest ${finishedMs} ms after; ${stranded.length} stranded jobs rerun; ${twice.length} account(s) synced twice`,
      );
      expect(finishedMs).toBeLessThan(60_000);
    },
  );
});
