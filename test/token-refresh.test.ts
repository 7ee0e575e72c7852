/**
 * Tokens that never lapse, across a 60-day token life: both clocks move forward together. The
 * emulator's (Meta's) through its control API; the service's follows it (the test app's clock is
 * the emulator's, as startInstagramTestApp wires it). The refresh sweep runs as the hourly cron
 * would run it, and the refresh jobs it queues run on the real queue against the emulator.
 * Everything else (the database, pg-boss) runs in real time.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../emulator/emulator';
import { CLOCK, type Clock } from '../src/common/clock/clock';
import { AccountSweepsProcessor } from '../src/modules/instagram/jobs/account-sweeps.processor';
import type { TestApp } from './helpers/app';
import { http, registerUser, type RegisteredUser } from './helpers/http';
import {
  connectViaOAuth,
  control,
  startInstagramTestApp,
  type InstagramTestApp,
} from './helpers/instagram-fixtures';

const HOUR = 60 * 60 * 1000;
const DAY = 24 * HOUR;
/** What the emulator (like Meta) answers as a long-lived token's lifetime. */
const LONG_TOKEN_SECONDS = 5_183_944;

let app: InstagramTestApp;
let emu: RunningEmulator;
let t: TestApp;
let user: RegisteredUser;
let sweeps: AccountSweepsProcessor;

async function until<T>(
  probe: () => Promise<T | null | undefined | false>,
  what: string,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Moves Meta's time, and with it ours (see the top of this file). */
async function advanceBoth(ms: number): Promise<void> {
  await control(emu, 'POST', '/clock', { advanceMs: Math.round(ms) });
}

/** The service's time. */
const serviceNow = () => t.app.get<Clock>(CLOCK).now();

/** Moves both clocks to `daysLeft` days before `expiresAt` (never backwards). */
async function moveTo(expiresAt: Date, daysLeft: number): Promise<void> {
  const target = expiresAt.getTime() - daysLeft * DAY;
  const ms = target - serviceNow().getTime();
  expect(ms, `clock move to ${daysLeft} days left`).toBeGreaterThanOrEqual(0);
  await advanceBoth(ms);
}

const accountApi = async (id: string) =>
  (await http(t.url, 'GET', `/instagram/accounts/${id}`, { token: user.token })).body;

const tokenRow = (id: string) =>
  t.db.one<{ ciphertext: Buffer; expires_at: Date }>(
    'SELECT ciphertext, expires_at FROM account_tokens WHERE account_id = $1',
    [id],
  );

const eventsOf = (id: string, type: string) =>
  t.db.manyOrNone<{ data: Record<string, unknown> }>(
    `SELECT data FROM account_events WHERE account_id = $1 AND type = $2 ORDER BY created_at, id`,
    [id, type],
  );

const refreshJobs = (id: string) =>
  t.db.manyOrNone<{ state: string; retry_count: number }>(
    `SELECT state, retry_count FROM pgboss.job
     WHERE name = 'account.refresh-token' AND data->>'accountId' = $1`,
    [id],
  );

const refreshCalls = (platformId: string) =>
  emu.state
    .requests({ path: '/refresh_access_token' })
    .filter((r) => emu.state.accountOfToken(r.query.access_token)?.userId === platformId).length;

/** Every refresh job of the account has finished (the handler's writes are committed). */
const jobsSettled = (id: string) =>
  until(async () => {
    const jobs = await refreshJobs(id);
    return jobs.every((j) => j.state === 'completed') && jobs;
  }, 'the refresh jobs to finish');

/** A connected (and first-synced) account; its id, Instagram id and token expiry. */
async function connected(username: string) {
  const made = emu.state.createAccount({ username });
  const { accountId } = await connectViaOAuth(t, user, username);
  await until(async () => {
    const jobs = await t.db.manyOrNone<{ state: string }>(
      `SELECT state FROM pgboss.job WHERE name = 'account.sync' AND data->>'accountId' = $1`,
      [accountId],
    );
    return jobs.length > 0 && jobs.every((j) => j.state === 'completed');
  }, `the connect sync of ${username}`);
  const { expires_at } = await tokenRow(accountId);
  return { id: accountId, platformId: made.userId, expiresAt: expires_at };
}

beforeAll(async () => {
  app = await startInstagramTestApp({ PUBLIC_URL: 'http://ssell.test', JOBS_ENABLED: 'true' });
  ({ t, emu } = app);
  sweeps = t.app.get(AccountSweepsProcessor);
  user = await registerUser(t.url);
  // The tests run the sweeps themselves; a cron firing mid-test would race them.
  await t.db.none('DELETE FROM pgboss.schedule');
});

beforeEach(async () => {
  emu.state.clearInjections();
  emu.state.updateSettings({ refreshExtends: true });
  // The clocks only move forward, so earlier tests' accounts come due again: set them aside,
  // so that each sweep's counts are about this test's account alone.
  await t.db.none(`UPDATE client_accounts SET status = 'disconnected'`);
});

afterAll(async () => {
  await app?.close();
});

describe('the refresh window', () => {
  it('refreshes a token once it is 30 days from expiry, once, and moves its expiry 60 days out', async () => {
    const account = await connected('window.once');
    await moveTo(account.expiresAt, 31);
    expect((await sweeps.refreshSweep()).queued).toBe(0);
    expect(await refreshJobs(account.id)).toHaveLength(0);

    await moveTo(account.expiresAt, 29);
    // Both clocks are 31 days on from the connect.
    expect(Math.abs(serviceNow().getTime() - emu.state.now().getTime())).toBeLessThan(1000);
    expect(serviceNow().getTime() - Date.now()).toBeGreaterThan(30 * DAY);
    const refreshedAt = serviceNow();
    expect(await sweeps.refreshSweep()).toMatchObject({ queued: 1, expired: 0, warned: 0 });
    await until(async () => (await eventsOf(account.id, 'token_refreshed')).length > 0, 'refresh');
    await jobsSettled(account.id);

    const row = await tokenRow(account.id);
    // Dated by the service's clock: 60 days from the refresh, not from the original connect.
    const expected = refreshedAt.getTime() + LONG_TOKEN_SECONDS * 1000;
    expect(Math.abs(row.expires_at.getTime() - expected)).toBeLessThan(10_000);
    expect(row.expires_at.getTime() - account.expiresAt.getTime()).toBeGreaterThan(28 * DAY);
    const shown = await accountApi(account.id);
    expect(shown).toMatchObject({
      status: 'active',
      tokenExpiresAt: row.expires_at.toISOString(),
      lastRefreshError: null,
      refreshAttempts: 0,
    });
    expect(Math.abs(Date.parse(shown.lastRefreshAt) - refreshedAt.getTime())).toBeLessThan(10_000);
    expect(await eventsOf(account.id, 'token_refreshed')).toEqual([
      {
        data: {
          expiresAt: row.expires_at.toISOString(),
          previousExpiresAt: account.expiresAt.toISOString(),
        },
      },
    ]);

    // A day later, and a week later: the new token is far from its window; nothing more runs.
    for (const days of [1, 7]) {
      await advanceBoth(days * DAY);
      expect((await sweeps.refreshSweep()).queued).toBe(0);
    }
    expect(await refreshJobs(account.id)).toHaveLength(1);
    expect(refreshCalls(account.platformId)).toBe(1);
    expect(await eventsOf(account.id, 'token_expiring')).toEqual([]);
  });

  it('a refresh that does not move the expiry is a failed attempt: old token kept, retried', async () => {
    const account = await connected('window.stuck');
    const before = await tokenRow(account.id);
    emu.state.updateSettings({ refreshExtends: false });
    await moveTo(account.expiresAt, 29);
    expect((await sweeps.refreshSweep()).queued).toBe(1);
    await until(async () => (await accountApi(account.id)).refreshAttempts === 1, 'attempt');
    await jobsSettled(account.id);

    const shown = await accountApi(account.id);
    expect(shown).toMatchObject({
      status: 'active',
      tokenExpiresAt: account.expiresAt.toISOString(),
      lastRefreshAt: null,
      lastRefreshError: { code: 'REFRESH_NOT_EXTENDED', message: expect.any(String) },
    });
    const after = await tokenRow(account.id);
    expect(after.ciphertext.equals(before.ciphertext)).toBe(true);
    expect(after.expires_at.getTime()).toBe(account.expiresAt.getTime());
    expect(await eventsOf(account.id, 'token_refreshed')).toEqual([]);

    // Once Meta extends it again, the next attempt (after the backoff) succeeds.
    emu.state.updateSettings({ refreshExtends: true });
    expect((await sweeps.refreshSweep()).queued).toBe(0);
    await advanceBoth(2 * HOUR);
    expect((await sweeps.refreshSweep()).queued).toBe(1);
    await until(async () => (await eventsOf(account.id, 'token_refreshed')).length === 1, 'ok');
    await jobsSettled(account.id);
    expect(await accountApi(account.id)).toMatchObject({
      refreshAttempts: 0,
      lastRefreshError: null,
    });
  });
});

describe('a refresh that keeps failing', () => {
  it(
    'is retried with backoff until the token expires, warns at 14, 7 and 1 day once each, and never marks the account broken',
    { timeout: 90_000 },
    async () => {
      const account = await connected('failing.refresh');
      emu.state.inject({
        kind: 'transient',
        count: 10_000,
        account: account.platformId,
        path: '/refresh_access_token',
      });
      // The days left at which the hourly sweep is watched, out to expiry and past it.
      const stops = [29, 25, 20, 15, 13.9, 13.5, 10, 8, 6.9, 6.5, 4, 2, 0.95, 0.6, 0.3, 0.1];
      let attempts = 0;
      let backedOff = 0;
      let due = true;
      for (const daysLeft of stops) {
        await moveTo(account.expiresAt, daysLeft);
        const result = await sweeps.refreshSweep();
        expect({ daysLeft, queued: result.queued }).toEqual({ daysLeft, queued: due ? 1 : 0 });
        if (result.queued === 0) backedOff++;
        if (result.queued === 1) {
          attempts++;
          await until(
            async () => (await accountApi(account.id)).refreshAttempts === attempts,
            `attempt ${attempts}`,
          );
          await jobsSettled(account.id);
        }
        const shown = await accountApi(account.id);
        expect(shown.status).toBe('active');
        expect(shown.lastRefreshError).toMatchObject({ code: '2' });
        // The next stop is due exactly when the backoff the service chose has passed.
        const { metadata } = await t.db.one<{ metadata: Record<string, any> }>(
          'SELECT metadata FROM client_accounts WHERE id = $1',
          [account.id],
        );
        const next = stops[stops.indexOf(daysLeft) + 1];
        const nextAttemptAt = Date.parse(metadata.tokenRefresh.nextAttemptAt);
        expect(nextAttemptAt).toBeLessThan(account.expiresAt.getTime());
        due = next !== undefined && account.expiresAt.getTime() - next * DAY >= nextAttemptAt;
      }
      // Tried again and again, up to its last hours: not a fixed few tries.
      expect(attempts).toBeGreaterThanOrEqual(12);
      // …and not at every look either: the backoff held some sweeps back.
      expect(backedOff).toBeGreaterThanOrEqual(1);
      // Each attempt is one refresh call plus the client's own retry of the transient answer.
      expect(refreshCalls(account.platformId)).toBe(attempts * 2);
      expect((await eventsOf(account.id, 'token_expiring')).map((e) => e.data.daysLeft)).toEqual([
        14, 7, 1,
      ]);
      const warnings = await eventsOf(account.id, 'token_expiring');
      expect(warnings[0]!.data).toMatchObject({
        expiresAt: account.expiresAt.toISOString(),
        lastRefreshError: '2',
      });
      expect(await eventsOf(account.id, 'status_changed')).toEqual([]);

      // Past its expiry: token_expired (only a reconnect helps now), and no more attempts.
      await moveTo(account.expiresAt, -0.01);
      expect(await sweeps.refreshSweep()).toMatchObject({ queued: 0, expired: 1 });
      expect((await accountApi(account.id)).status).toBe('token_expired');
      await advanceBoth(DAY);
      expect(await sweeps.refreshSweep()).toMatchObject({ queued: 0, expired: 0 });
      expect(await refreshJobs(account.id)).toHaveLength(attempts);
      expect((await eventsOf(account.id, 'token_expiring')).length).toBe(3);
    },
  );

  it('190 on a refresh is token_expired at once: no backoff, no further attempt', async () => {
    const account = await connected('dead.refresh');
    emu.state.invalidateTokens('dead.refresh', 'password_changed');
    await moveTo(account.expiresAt, 29);
    expect((await sweeps.refreshSweep()).queued).toBe(1);
    await until(async () => (await accountApi(account.id)).status === 'token_expired', '190');
    await jobsSettled(account.id);
    expect(await accountApi(account.id)).toMatchObject({
      refreshAttempts: 1,
      lastRefreshError: { code: '190' },
      statusDetail: expect.stringMatching(/password was changed.*Reconnect/),
    });
    expect((await eventsOf(account.id, 'status_changed')).map((e) => e.data)).toEqual([
      expect.objectContaining({ from: 'active', to: 'token_expired', code: '190' }),
    ]);
    for (const days of [1, 20]) {
      await advanceBoth(days * DAY);
      expect((await sweeps.refreshSweep()).queued).toBe(0);
    }
    expect(refreshCalls(account.platformId)).toBe(1);
    expect(await eventsOf(account.id, 'token_expiring')).toEqual([]);
  });
});

describe('logs', () => {
  it('never contain a token', () => {
    const tokens = [...emu.state.tokens.keys()];
    expect(tokens.length).toBeGreaterThan(3);
    for (const line of t.logs) {
      for (const token of tokens) {
        if (line.includes(token)) throw new Error(`a token leaked into: ${line.slice(0, 300)}`);
      }
    }
  });
});
