/**
 * The Instagram jobs on the real queue (pg-boss on the test database) with workers running, the
 * emulator as Instagram. pg-boss polls every second, so waits here are a few seconds at most.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../emulator/emulator';
import {
  CLIENT_ACCOUNT_REPOSITORY,
  type IClientAccountRepository,
} from '../src/domain/repositories/client-account.repository.interface';
import { JobQueue } from '../src/infrastructure/jobs/job-queue';
import { AccountSweepsProcessor } from '../src/modules/instagram/jobs/account-sweeps.processor';
import { AccountSyncProcessor } from '../src/modules/instagram/jobs/account-sync.processor';
import {
  REFRESH_SWEEP_CRON,
  SYNC_SWEEP_CRON,
} from '../src/modules/instagram/jobs/instagram-jobs.scheduler';
import { RESCHEDULE_JITTER_MS } from '../src/modules/instagram/jobs/job-failure';
import { WEBHOOK_SWEEP_CRON } from '../src/modules/webhooks/jobs/webhook-jobs.scheduler';
import type { TestApp } from './helpers/app';
import { http, registerUser, type RegisteredUser } from './helpers/http';
import {
  connectViaOAuth,
  startInstagramTestApp,
  type InstagramTestApp,
} from './helpers/instagram-fixtures';

const PUBLIC_URL = 'http://ssell.test';
const HOUR = 60 * 60 * 1000;
const DAY = 24 * HOUR;

let app: InstagramTestApp;
let emu: RunningEmulator;
let t: TestApp;
let queue: JobQueue;
let user: RegisteredUser;

/** Polls `probe` until it returns something truthy. */
async function until<T>(
  probe: () => Promise<T | null | undefined | false>,
  what: string,
  timeoutMs = 8000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Connects the emulator account `username` for `user` through the OAuth flow; its id. */
const connect = async (username: string) => (await connectViaOAuth(t, user, username)).accountId;

interface JobRow {
  id: string;
  state: string;
  retry_count: number;
  start_after: Date;
  data: Record<string, unknown>;
  output: { message?: string } | null;
}

const jobsOf = (name: string, accountId: string) =>
  t.db.manyOrNone<JobRow>(
    `SELECT id, state, retry_count, start_after, data, output FROM pgboss.job
     WHERE name = $1 AND data->>'accountId' = $2 ORDER BY created_on, id`,
    [name, accountId],
  );

const account = (id: string) =>
  t.db.one(
    `SELECT status, last_sync_at, metadata, token_expires_at FROM client_accounts WHERE id = $1`,
    [id],
  );

/**
 * Backdates a stored token on the service's clock (the emulator's, in this app): obtained
 * `issuedAgo` ms ago, expiring `expiresIn` ms from now.
 */
const setToken = (id: string, issuedAgo: number, expiresIn: number) =>
  t.db.tx(async (tx) => {
    const now = emu.state.now();
    await tx.none(
      `UPDATE account_tokens SET issued_at = $4::timestamptz - make_interval(secs => $2),
         expires_at = $4::timestamptz + make_interval(secs => $3) WHERE account_id = $1`,
      [id, issuedAgo / 1000, expiresIn / 1000, now],
    );
    await tx.none(
      `UPDATE client_accounts SET token_expires_at = $3::timestamptz + make_interval(secs => $2)
       WHERE id = $1`,
      [id, expiresIn / 1000, now],
    );
  });

/** Puts a manual sync of the account on the queue (one at a time: keyed by the account). */
const syncNow = (id: string) =>
  queue.enqueue('account.sync', { accountId: id, reason: 'manual' }, { singletonKey: id });

/** Waits for the manual sync job of the account to reach `state`; the job. */
const manualSyncIn = (id: string, state: string) =>
  until(async () => {
    const jobs = await jobsOf('account.sync', id);
    return jobs.find((j) => j.data.reason === 'manual' && j.state === state);
  }, `the manual sync to be in ${state}`);

/** Connect, then wait until the connect's own sync has finished, so later steps start quiet. */
async function connectedAndSynced(username: string): Promise<string> {
  emu.state.createAccount({ username });
  const id = await connect(username);
  await until(
    async () => (await jobsOf('account.sync', id)).every((j) => j.state === 'completed') && id,
    `the connect sync of ${username}`,
  );
  return id;
}

beforeAll(async () => {
  app = await startInstagramTestApp({
    PUBLIC_URL,
    JOBS_ENABLED: 'true',
    INSTAGRAM_TIMEOUT_MS: '2000',
  });
  ({ t, emu } = app);
  queue = t.app.get(JobQueue);
  user = await registerUser(t.url);
});

beforeEach(() => {
  emu.state.clearInjections();
});

afterAll(async () => {
  await app?.close();
});

describe('schedules', () => {
  it('registers both account sweeps as hourly crons, and the webhook sweep', async () => {
    const schedules = await t.db.manyOrNone<{ name: string; cron: string }>(
      'SELECT name, cron FROM pgboss.schedule ORDER BY name',
    );
    expect(schedules).toEqual([
      { name: 'accounts.sync-sweep', cron: SYNC_SWEEP_CRON },
      { name: 'tokens.refresh-sweep', cron: REFRESH_SWEEP_CRON },
      { name: 'webhooks.sweep', cron: WEBHOOK_SWEEP_CRON },
    ]);
    // From here on the tests run the sweeps themselves; a cron firing mid-test would race them.
    await t.db.none('DELETE FROM pgboss.schedule');
  });
});

describe('account.sync', () => {
  it('runs after a connect, to completion', async () => {
    emu.state.createAccount({ username: 'jobs.first', followersCount: 321 });
    const id = await connect('jobs.first');
    const synced = await until(async () => {
      const res = await http(t.url, 'GET', `/instagram/accounts/${id}`, { token: user.token });
      return res.body.lastSyncAt ? res.body : null;
    }, 'lastSyncAt');
    expect(synced).toMatchObject({ status: 'active', followerCount: 321 });
    // pg-boss records the completion just after the handler's transaction commits.
    const jobs = await until(async () => {
      const rows = await jobsOf('account.sync', id);
      return rows.length > 0 && rows.every((j) => j.state === 'completed') && rows;
    }, 'the sync job to complete');
    expect(jobs).toHaveLength(1);
    expect(jobs[0]).toMatchObject({ state: 'completed', retry_count: 0 });
    expect(jobs[0]!.data).toEqual({ accountId: id, reason: 'connect' });
  });

  it('is retried by the queue after a transient failure, then succeeds', async () => {
    const id = await connectedAndSynced('jobs.transient');
    const syncedBefore = (await account(id)).last_sync_at as Date;
    // More failures than the client retries (1 retry = 2 attempts): the sync fails as transient.
    emu.state.inject({ kind: 'transient', account: 'jobs.transient', count: 2 });
    await syncNow(id);

    const failed = await manualSyncIn(id, 'retry');
    expect(failed.retry_count).toBe(0);
    expect(failed.output?.message).toMatch(/^InstagramTransientError: /);
    // pg-boss's backoff: 30 s and up. Only a message was stored with the failure, no values.
    expect(failed.start_after.getTime()).toBeGreaterThan(Date.now() + 10_000);
    expect(Object.keys(failed.output ?? {}).sort()).toEqual(['message', 'name', 'stack']);
    // One transient failure is no sign the account is broken: counted, the status stands.
    const between = await account(id);
    expect(between.status).toBe('active');
    expect(between.metadata.transientFailures).toBe(1);

    // Bring the retry forward instead of waiting for the backoff.
    await t.db.none('UPDATE pgboss.job SET start_after = now() WHERE id = $1', [failed.id]);
    const done = await until(async () => {
      const jobs = await jobsOf('account.sync', id);
      return jobs.find((j) => j.id === failed.id && j.state === 'completed');
    }, 'the retried job to complete');
    expect(done.retry_count).toBe(1);
    const after = await account(id);
    expect(after.status).toBe('active');
    expect(after.metadata.transientFailures).toBeUndefined();
    expect((after.last_sync_at as Date).getTime()).toBeGreaterThan(syncedBefore.getTime());
  });

  it('ends without retries when the token is dead (the status says why)', async () => {
    const id = await connectedAndSynced('jobs.deadtoken');
    emu.state.invalidateTokens('jobs.deadtoken', 'password_changed');
    await syncNow(id);
    const job = await manualSyncIn(id, 'completed');
    expect(job.retry_count).toBe(0);
    const row = await account(id);
    expect(row.status).toBe('token_expired');
    expect(row.metadata.errorDetails).toMatchObject({ code: '190', subcode: '460' });
  });

  it('is queued again for when a rate limit lifts, without spending a retry', async () => {
    const id = await connectedAndSynced('jobs.ratelimited');
    emu.state.inject({
      kind: 'rate_limit_account',
      account: 'jobs.ratelimited',
      regainMinutes: 15,
    });
    const enqueuedAt = Date.now();
    await syncNow(id);

    const later = await until(async () => {
      const jobs = await jobsOf('account.sync', id);
      const first = jobs.find((j) => j.data.reason === 'manual');
      const next = jobs.find((j) => j.state === 'created');
      return first?.state === 'completed' && next ? { first, next } : null;
    }, 'the sync to be queued again');
    expect(later.first.retry_count).toBe(0);
    expect(later.next.data).toEqual({ accountId: id, reason: 'manual' });
    const resetAt = enqueuedAt + 15 * 60_000;
    const delay = later.next.start_after.getTime() - resetAt;
    expect(delay).toBeGreaterThanOrEqual(-1000);
    expect(delay).toBeLessThanOrEqual(RESCHEDULE_JITTER_MS + 10_000);

    const row = await account(id);
    expect(row.status).toBe('rate_limited');
    expect(
      Math.abs(new Date(row.metadata.rateLimitedUntil).getTime() - resetAt),
    ).toBeLessThanOrEqual(10_000);

    // Run directly while still limited: skipped by the service, queued again, nothing thrown.
    await t.db.none(
      `DELETE FROM pgboss.job WHERE name = 'account.sync' AND state = 'created'
                     AND data->>'accountId' = $1`,
      [id],
    );
    const processor = t.app.get(AccountSyncProcessor);
    await processor.handle({
      id: randomUUID(),
      name: 'account.sync',
      data: { accountId: id, reason: 'periodic' },
    });
    const requeued = (await jobsOf('account.sync', id)).filter((j) => j.state === 'created');
    expect(requeued).toHaveLength(1);
    expect(
      requeued[0]!.start_after.getTime() - new Date(row.metadata.rateLimitedUntil).getTime(),
    ).toBeGreaterThanOrEqual(0);
  });
});

describe('tokens.refresh-sweep', () => {
  it('queues refreshes only for tokens in the window and at least 24 h old; they run', async () => {
    const [ripe, young, distant, expired] = await Promise.all(
      ['refresh.ripe', 'refresh.young', 'refresh.distant', 'refresh.expired'].map((u) =>
        connectedAndSynced(u),
      ),
    );
    // Meta (the emulator) checks the token's age on its own clock, from when it issued it; the
    // service's clock follows the emulator's, and the stored tokens are dated on it.
    emu.state.advanceClock(25 * HOUR);
    await setToken(ripe!, 30 * HOUR, 3 * DAY);
    await setToken(young!, 2 * HOUR, 3 * DAY);
    // Outside TOKEN_REFRESH_WINDOW_DAYS (30 by default).
    await setToken(distant!, 30 * DAY, 31 * DAY);
    await setToken(expired!, 60 * DAY, -HOUR);
    const oldToken = await t.db.one('SELECT ciphertext FROM account_tokens WHERE account_id = $1', [
      ripe,
    ]);

    const result = await t.app.get(AccountSweepsProcessor).refreshSweep();
    expect(result).toMatchObject({ queued: 1, expired: 1 });
    for (const [id, queued] of [
      [ripe, 1],
      [young, 0],
      [distant, 0],
      [expired, 0],
    ] as const) {
      expect({ id, n: (await jobsOf('account.refresh-token', id!)).length }).toEqual({
        id,
        n: queued,
      });
    }
    expect((await account(expired!)).status).toBe('token_expired');

    // The queued refresh runs: a new 60-day token, stored encrypted, and an event.
    const refreshed = await until(async () => {
      const row = await t.db.oneOrNone(
        `SELECT ciphertext, last_refreshed_at, expires_at FROM account_tokens
         WHERE account_id = $1 AND last_refreshed_at IS NOT NULL`,
        [ripe],
      );
      return row;
    }, 'the refresh to be stored');
    expect(refreshed.ciphertext.equals(oldToken.ciphertext)).toBe(false);
    expect(refreshed.expires_at.getTime()).toBeGreaterThan(Date.now() + 59 * DAY);
    expect((await account(ripe!)).token_expires_at.getTime()).toBe(refreshed.expires_at.getTime());
    const events = await t.db.manyOrNone<{ type: string }>(
      `SELECT type FROM account_events WHERE account_id = $1 AND type = 'token_refreshed'`,
      [ripe],
    );
    expect(events).toHaveLength(1);
    const job = await until(
      async () =>
        (await jobsOf('account.refresh-token', ripe!)).find((j) => j.state === 'completed'),
      'the refresh job to complete',
    );
    expect(job.retry_count).toBe(0);

    // A second sweep finds nothing more to do for it.
    await t.app.get(AccountSweepsProcessor).refreshSweep();
    expect(await jobsOf('account.refresh-token', ripe!)).toHaveLength(1);
  });

  it('also refreshes accounts waiting in rate_limited or error; never expired or disconnected ones', async () => {
    const names = ['failed', 'limited', 'lapsed', 'dead', 'gone'] as const;
    const ids = Object.fromEntries(
      await Promise.all(
        names.map(async (n) => [n, await connectedAndSynced(`refresh.${n}`)] as const),
      ),
    ) as Record<(typeof names)[number], string>;
    emu.state.advanceClock(25 * HOUR);
    for (const n of names) {
      await setToken(ids[n], 30 * HOUR, n === 'lapsed' ? -HOUR : 3 * DAY);
    }
    const setStatus = (id: string, status: string, metadata: Record<string, unknown> = {}) =>
      t.db.none(
        `UPDATE client_accounts SET status = $2, metadata = metadata || $3::jsonb WHERE id = $1`,
        [id, status, metadata],
      );
    const failure = { code: '2', message: 'Service temporarily unavailable' };
    // A week of failed syncs must not cost the account its token as well.
    await setStatus(ids.failed, 'error', {
      errorDetails: { ...failure, timestamp: new Date().toISOString() },
    });
    await setStatus(ids.limited, 'rate_limited', {
      rateLimitedUntil: new Date(Date.now() + HOUR).toISOString(),
    });
    await setStatus(ids.lapsed, 'error', {
      errorDetails: { ...failure, timestamp: new Date().toISOString() },
    });
    await setStatus(ids.dead, 'token_expired');
    await setStatus(ids.gone, 'disconnected');

    await t.app.get(AccountSweepsProcessor).refreshSweep();
    const queued = async (id: string) => (await jobsOf('account.refresh-token', id)).length;
    expect({
      failed: await queued(ids.failed),
      limited: await queued(ids.limited),
      lapsed: await queued(ids.lapsed),
      dead: await queued(ids.dead),
      gone: await queued(ids.gone),
    }).toEqual({ failed: 1, limited: 1, lapsed: 0, dead: 0, gone: 0 });
    // A failed account whose token ran out meanwhile now says so, instead of staying `error`.
    expect((await account(ids.lapsed)).status).toBe('token_expired');
    expect((await account(ids.dead)).status).toBe('token_expired');
    expect((await account(ids.gone)).status).toBe('disconnected');

    // The refreshes run: new 60-day tokens. The status is the sync's business; it stays.
    for (const [id, status] of [
      [ids.failed, 'error'],
      [ids.limited, 'rate_limited'],
    ] as const) {
      const refreshed = await until(
        () =>
          t.db.oneOrNone<{ expires_at: Date }>(
            `SELECT expires_at FROM account_tokens
             WHERE account_id = $1 AND last_refreshed_at IS NOT NULL`,
            [id],
          ),
        `the refresh of ${status} account to be stored`,
      );
      expect(refreshed.expires_at.getTime()).toBeGreaterThan(Date.now() + 59 * DAY);
      const row = await account(id);
      expect(row.token_expires_at.getTime()).toBe(refreshed.expires_at.getTime());
      expect(row.status).toBe(status);
    }
  });
});

describe('accounts.sync-sweep', () => {
  it('queues periodic syncs for due accounts only, and holds back when Meta usage is high', async () => {
    const owner = user.userId;
    const insert = async (
      username: string,
      status: string,
      lastSyncAgo: number | null,
      metadata: Record<string, unknown> = {},
    ): Promise<string> => {
      const row = await t.db.one<{ id: string }>(
        `INSERT INTO client_accounts (user_id, platform, platform_account_id, username, status,
           last_sync_at, metadata)
         VALUES ($1, 'instagram', $2, $3, $4,
           CASE WHEN $5::float8 IS NULL THEN NULL ELSE now() - make_interval(secs => $5) END,
           $6::jsonb)
         RETURNING id`,
        [
          owner,
          `1784${Math.floor(Math.random() * 1e13)}`,
          username,
          status,
          lastSyncAgo === null ? null : lastSyncAgo / 1000,
          JSON.stringify(metadata),
        ],
      );
      return row.id;
    };
    const iso = (offset: number) => new Date(Date.now() + offset).toISOString();
    const due = {
      stale: await insert('sweep.stale', 'active', 25 * HOUR),
      never: await insert('sweep.never', 'active', null),
      picture: await insert('sweep.picture', 'active', 7 * HOUR, {
        profilePictureExpiresAt: iso(2 * HOUR),
      }),
      limitLifted: await insert('sweep.lifted', 'rate_limited', 25 * HOUR, {
        rateLimitedUntil: iso(-HOUR),
      }),
      failedLongAgo: await insert('sweep.failed', 'error', 25 * HOUR, {
        errorDetails: { code: '2', message: 'x', timestamp: iso(-25 * HOUR) },
      }),
      // Stale and its picture link expiring: found by both of the sweep's range scans.
      both: await insert('sweep.both', 'active', 25 * HOUR, {
        profilePictureExpiresAt: iso(2 * HOUR),
      }),
    };
    const notDue = {
      fresh: await insert('sweep.fresh', 'active', HOUR),
      pictureRecent: await insert('sweep.picture.recent', 'active', HOUR, {
        profilePictureExpiresAt: iso(2 * HOUR),
      }),
      limited: await insert('sweep.limited', 'rate_limited', 25 * HOUR, {
        rateLimitedUntil: iso(HOUR),
      }),
      failedRecently: await insert('sweep.failed.recent', 'error', 25 * HOUR, {
        errorDetails: { code: '2', message: 'x', timestamp: iso(-HOUR) },
      }),
      expired: await insert('sweep.expired', 'token_expired', 25 * HOUR),
      disconnected: await insert('sweep.disconnected', 'disconnected', 25 * HOUR),
      badDates: await insert('sweep.baddates', 'active', HOUR, {
        profilePictureExpiresAt: 'soon',
        rateLimitedUntil: 42,
      }),
    };
    const periodic = async (id: string) =>
      (await jobsOf('account.sync', id)).filter((j) => j.data.reason === 'periodic').length;
    const sweeps = t.app.get(AccountSweepsProcessor);

    // Meta says the app has used 85% of its hourly budget: nothing is queued this round. The
    // future observed_at keeps the emulator's own usage headers from overwriting it meanwhile.
    const setUsage = (percent: number) =>
      t.db.none(
        `INSERT INTO instagram_api_usage (scope, call_count, observed_at)
         VALUES ('app', $1, now() + interval '10 minutes')
         ON CONFLICT (scope) DO UPDATE SET call_count = $1, observed_at = EXCLUDED.observed_at`,
        [percent],
      );
    await setUsage(85);
    expect(await sweeps.syncSweep()).toEqual({ held: true, due: 0, queued: 0 });
    for (const id of [...Object.values(due), ...Object.values(notDue)]) {
      expect(await periodic(id)).toBe(0);
    }
    expect(t.logs.some((l) => l.includes('periodic syncs skipped this round'))).toBe(true);

    await setUsage(10);
    const result = await sweeps.syncSweep();
    expect(result.held).toBe(false);
    for (const [name, id] of Object.entries(due)) {
      expect({ name, n: await periodic(id) }).toEqual({ name, n: 1 });
    }
    for (const [name, id] of Object.entries(notDue)) {
      expect({ name, n: await periodic(id) }).toEqual({ name, n: 0 });
    }
    // Most overdue first, each account once.
    const found = await t.app
      .get<IClientAccountRepository>(CLIENT_ACCOUNT_REPOSITORY)
      .findDueForSync({
        staleHours: 24,
        pictureWithinHours: 24,
        pictureMinGapHours: 6,
        limit: 100,
      });
    expect(new Set(found).size).toBe(found.length);
    expect(found.indexOf(due.never)).toBeLessThan(found.indexOf(due.failedLongAgo));
    expect(found).toContain(due.both);
  });
});

describe('logs', () => {
  it('never contain a token', () => {
    const tokens = [...emu.state.tokens.keys()];
    expect(tokens.length).toBeGreaterThan(10);
    for (const line of t.logs) {
      for (const token of tokens) {
        if (line.includes(token)) throw new Error(`a token leaked into: ${line.slice(0, 300)}`);
      }
    }
  });
});
