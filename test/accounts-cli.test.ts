/**
 * `npm run accounts`: the operators' CLI, run in this process (the same function the npm script
 * calls) against the test's database and the emulator, its output captured. It builds its own
 * Nest application context, as it does for an operator: only the database and the emulator are
 * shared with the test app, which is used here to connect accounts.
 */
import { Writable } from 'node:stream';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../emulator/emulator';
import { runAccountsCli, USAGE } from '../scripts/accounts/cli';
import type { TestApp } from './helpers/app';
import {
  connectAccount,
  issuedTokens,
  startInstagramTestApp,
  type ConnectedAccount,
  type InstagramTestApp,
} from './helpers/instagram-fixtures';
import { http, registerUser } from './helpers/http';
import { startWebhookReceiver, type WebhookReceiver } from './helpers/webhook-receiver';

const HOUR = 60 * 60 * 1000;
const DAY = 24 * HOUR;

let app: InstagramTestApp;
let emu: RunningEmulator;
let t: TestApp;
const cliLogs: string[] = [];
const outputs: string[] = [];

/** A stream that keeps what is written, optionally claiming to be a terminal. */
function capture(isTTY = false): Writable & { text: () => string; isTTY: boolean } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString('utf8'));
      done();
    },
  }) as Writable & { text: () => string; isTTY: boolean; columns: number };
  stream.isTTY = isTTY;
  stream.columns = 200;
  stream.text = () => chunks.join('');
  return stream;
}

async function cli(argv: string[], options: { tty?: boolean } = {}) {
  const out = capture();
  const err = capture(options.tty ?? false);
  const logSink = {
    write: (line: string) => {
      cliLogs.push(line);
    },
  };
  const code = await runAccountsCli(argv, {
    out,
    err,
    config: t.config,
    logDestination: logSink,
  });
  outputs.push(out.text(), err.text());
  return { code, out: out.text(), err: err.text() };
}

const row = (id: string) =>
  t.db.one<{ status: string; last_sync_at: Date | null; metadata: Record<string, any> }>(
    'SELECT status, last_sync_at, metadata FROM client_accounts WHERE id = $1',
    [id],
  );

/** Sets every account aside but `keep` (disconnected ones are skipped by a sync). */
const onlyThese = (keep: ConnectedAccount[]) =>
  t.db.none(`UPDATE client_accounts SET status = 'disconnected' WHERE NOT (id = ANY($1::uuid[]))`, [
    keep.map((k) => k.account.id),
  ]);

beforeAll(async () => {
  // No workers: what the CLI delivers, it delivers itself.
  app = await startInstagramTestApp({
    JOBS_ENABLED: 'false',
    WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true',
  });
  ({ t, emu } = app);
});

beforeEach(() => {
  emu.state.clearInjections();
});

afterAll(async () => {
  await app?.close();
});

describe('usage', () => {
  it.each([
    [['sync'], /exactly one of --all, --user <id>, --account <id>/],
    [['sync', '--all', '--user', '0b6f3c1e-8d5f-4f5e-9a51-2f1b6b7f8a90'], /exactly one/],
    [['sync', '--user', 'bob'], /--user must be a UUID/],
    [['sync', '--all', '--concurrency', '0'], /--concurrency must be an integer from 1 to 50/],
    [['refresh-tokens'], /refresh-tokens takes --due/],
    [['refresh-tokens', '--due', '--all'], /refresh-tokens takes --due/],
    [['sync', '--all', '--colour'], /Unknown option '--colour'/],
    [['rotate'], /unknown command "rotate"/],
    [['webhooks', 'redeliver', '--failed'], /webhooks redeliver takes --failed --since/],
    [['webhooks', 'redeliver', '--since', '2026-01-01'], /webhooks redeliver takes --failed/],
    [['webhooks', 'redeliver', '--failed', '--since', 'yesterday'], /--since must be an ISO date/],
    [
      ['webhooks', 'redeliver', '--failed', '--since', '2026-01-01', '--endpoint', 'x'],
      /--endpoint must be a UUID/,
    ],
    [['webhooks', 'purge'], /unknown command "webhooks purge"/],
  ])('%j → exit 2 with the reason and the usage', async (argv, message) => {
    const result = await cli(argv);
    expect(result.code).toBe(2);
    expect(result.err).toMatch(message);
    expect(result.err).toContain('Usage: npm run accounts');
    expect(result.out).toBe('');
  });

  it('--help and no command print the usage, exit 0', async () => {
    for (const argv of [[], ['--help'], ['sync', '--help']]) {
      expect(await cli(argv)).toEqual({ code: 0, out: `${USAGE}\n`, err: '' });
    }
  });
});

describe('sync', () => {
  it('--all: every account once, as the job does it; plain lines and the summary', async () => {
    const owner = await registerUser(t.url);
    const other = await registerUser(t.url);
    const made = await Promise.all([
      connectAccount(app, owner.userId, { profile: { followersCount: 11 } }),
      connectAccount(app, owner.userId, { profile: { followersCount: 12 } }),
      connectAccount(app, other.userId, { profile: { followersCount: 13 } }),
      connectAccount(app, owner.userId),
      connectAccount(app, owner.userId),
      connectAccount(app, other.userId),
    ]);
    const [ok1, ok2, ok3, flaky, limited, paused] = made;
    await onlyThese(made);
    await t.db.none(`UPDATE client_accounts SET status = 'disconnected' WHERE id = $1`, [
      paused.account.id,
    ]);
    // Both of the client's attempts fail: the sync fails transiently once.
    emu.state.inject({ kind: 'transient', count: 2, account: flaky.emulatorAccount.userId });
    emu.state.inject({
      kind: 'rate_limit_account',
      account: limited.emulatorAccount.userId,
      regainMinutes: 20,
    });
    // The connects queued syncs of their own; the workers would have run them long ago.
    await t.db.none(`DELETE FROM pgboss.job WHERE name = 'account.sync'`);
    const started = new Date();

    const result = await cli(['sync', '--all', '--concurrency', '3']);
    expect(result.code).toBe(1);
    const lines = result.out.trim().split('\n');
    const perAccount = lines.filter((l) => l.startsWith('['));
    expect(perAccount).toHaveLength(made.length);
    const lineOf = (c: ConnectedAccount) => perAccount.find((l) => l.includes(c.account.id));
    for (const c of [ok1, ok2, ok3]) expect(lineOf(c)).toMatch(/ done$/);
    expect(lineOf(flaky)).toMatch(/ failed \(transient, now active\)$/);
    expect(lineOf(limited)).toMatch(/ rate limited \(queued again for 20\d\d-[^)]+\)$/);
    expect(lineOf(paused)).toMatch(/ skipped \(disconnected\)$/);
    expect(lines).toContainEqual(
      expect.stringMatching(
        /^sync: 6 account\(s\) in \d+\.\d s: done 3, failed 1, skipped 1, rate limited 1$/,
      ),
    );
    expect(lines).toContain(`  failed ${flaky.account.id}: transient, now active`);

    // What the job would have left: synced rows with their events, the failure counted, the
    // rate-limited sync queued again for when the limit lifts.
    for (const [c, followers] of [
      [ok1, 11],
      [ok2, 12],
      [ok3, 13],
    ] as const) {
      const synced = await row(c.account.id);
      expect(synced.status).toBe('active');
      expect(synced.last_sync_at!.getTime()).toBeGreaterThanOrEqual(started.getTime() - 1000);
      const events = await t.db.manyOrNone<{ data: { reason: string } }>(
        `SELECT data FROM account_events WHERE account_id = $1 AND type = 'synced'`,
        [c.account.id],
      );
      expect(events.map((e) => e.data.reason)).toEqual(['operator']);
      const snapshot = await t.db.one<{ follower_count: number }>(
        'SELECT follower_count FROM account_metric_snapshots WHERE account_id = $1',
        [c.account.id],
      );
      expect(snapshot.follower_count).toBe(followers);
    }
    expect((await row(flaky.account.id)).metadata.transientFailures).toBe(1);
    expect((await row(limited.account.id)).status).toBe('rate_limited');
    const requeued = await t.db.one<{ start_after: Date; data: Record<string, unknown> }>(
      `SELECT start_after, data FROM pgboss.job WHERE name = 'account.sync' AND data->>'accountId' = $1`,
      [limited.account.id],
    );
    expect(requeued.data).toEqual({ accountId: limited.account.id, reason: 'operator' });
    expect(requeued.start_after.getTime()).toBeGreaterThan(Date.now() + 19 * 60_000);
  });

  it("--user: that user's accounts only; --account: that one; an unknown account exits 1", async () => {
    const owner = await registerUser(t.url);
    const mine = await Promise.all([
      connectAccount(app, owner.userId),
      connectAccount(app, owner.userId),
    ]);
    const someoneElse = await connectAccount(app, (await registerUser(t.url)).userId);
    const before = (await row(someoneElse.account.id)).last_sync_at;

    const byUser = await cli(['sync', '--user', owner.userId]);
    expect(byUser.code).toBe(0);
    expect(byUser.out).toMatch(
      /^sync: 2 account\(s\) in .*: done 2, failed 0, skipped 0, rate limited 0$/m,
    );
    for (const c of mine) expect((await row(c.account.id)).last_sync_at).not.toBeNull();
    expect((await row(someoneElse.account.id)).last_sync_at).toEqual(before);

    const one = await cli(['sync', '--account', someoneElse.account.id]);
    expect(one.code).toBe(0);
    expect(one.out).toContain(`[1/1] ${someoneElse.account.id} done`);
    expect((await row(someoneElse.account.id)).last_sync_at).not.toEqual(before);

    const missing = await cli(['sync', '--account', '0b6f3c1e-8d5f-4f5e-9a51-2f1b6b7f8a90']);
    expect(missing).toMatchObject({ code: 1, out: '' });
    expect(missing.err).toContain('no account 0b6f3c1e-8d5f-4f5e-9a51-2f1b6b7f8a90');

    const nobody = await cli(['sync', '--user', '0b6f3c1e-8d5f-4f5e-9a51-2f1b6b7f8a90']);
    expect(nobody.code).toBe(0);
    expect(nobody.out).toMatch(/^sync: 0 account\(s\)/);
  });

  it('on a terminal: a progress bar on stderr, no per-account lines, the summary on stdout', async () => {
    const owner = await registerUser(t.url);
    await Promise.all([connectAccount(app, owner.userId), connectAccount(app, owner.userId)]);
    const result = await cli(['sync', '--user', owner.userId], { tty: true });
    expect(result.code).toBe(0);
    expect(result.err).toMatch(
      /sync \[[█░]+\] 2\/2 \| done 2 · failed 0 · skipped 0 · rate limited 0/,
    );
    expect(result.out.trim().split('\n')).toEqual([
      expect.stringMatching(
        /^sync: 2 account\(s\) in .*: done 2, failed 0, skipped 0, rate limited 0$/,
      ),
    ]);
  });
});

describe('refresh-tokens --due', () => {
  /** Backdates a token: obtained `issuedAgo` ms ago, expiring `expiresIn` ms from now. */
  const setToken = (id: string, issuedAgo: number, expiresIn: number) =>
    t.db.tx(async (tx) => {
      await tx.none(
        `UPDATE account_tokens SET issued_at = now() - make_interval(secs => $2),
           expires_at = now() + make_interval(secs => $3) WHERE account_id = $1`,
        [id, issuedAgo / 1000, expiresIn / 1000],
      );
      await tx.none(
        `UPDATE client_accounts SET token_expires_at = now() + make_interval(secs => $2)
         WHERE id = $1`,
        [id, expiresIn / 1000],
      );
    });

  it('refreshes what the sweep finds due, marks the lapsed, warns the unrefreshable, and says so', async () => {
    const owner = await registerUser(t.url);
    const [due, lapsed, failing, distant] = (await Promise.all(
      [0, 1, 2, 3].map(() => connectAccount(app, owner.userId, { tokenAgeMs: 40 * DAY })),
    )) as [ConnectedAccount, ConnectedAccount, ConnectedAccount, ConnectedAccount];
    await onlyThese([due, lapsed, failing, distant]);
    await setToken(due.account.id, 40 * DAY, 20 * DAY);
    await setToken(lapsed.account.id, 61 * DAY, -HOUR);
    await setToken(failing.account.id, 50 * DAY, 10 * DAY);
    await setToken(distant.account.id, 2 * DAY, 45 * DAY);
    emu.state.inject({
      kind: 'transient',
      count: 2,
      account: failing.emulatorAccount.userId,
      path: '/refresh_access_token',
    });

    const result = await cli(['refresh-tokens', '--due']);
    expect(result.code).toBe(1);
    const lines = result.out.trim().split('\n');
    expect(lines.filter((l) => l.startsWith('['))).toHaveLength(2);
    expect(result.out).toMatch(new RegExp(`${due.account.id} done \\(expires 20\\d\\d-`));
    expect(result.out).toMatch(
      new RegExp(`${failing.account.id} failed \\(transient, next attempt 20\\d\\d-.*\\)`),
    );
    expect(lines).toContainEqual(
      expect.stringMatching(
        /^refresh-tokens: 2 account\(s\) in .*: done 1, failed 1, skipped 0, rate limited 0$/,
      ),
    );
    expect(lines).toContain(
      '  looked at 3 token(s) in the refresh window: 0 backing off or too young, 1 past expiry (marked token_expired), 1 expiry warning(s) written',
    );

    const tokenOf = (id: string) =>
      t.db.one<{ expires_at: Date }>(
        'SELECT expires_at FROM account_tokens WHERE account_id = $1',
        [id],
      );
    expect((await tokenOf(due.account.id)).expires_at.getTime()).toBeGreaterThan(
      Date.now() + 59 * DAY,
    );
    expect((await row(lapsed.account.id)).status).toBe('token_expired');
    const failed = await row(failing.account.id);
    expect(failed.status).toBe('active');
    expect(failed.metadata.tokenRefresh).toMatchObject({ attempts: 1, warnedDays: [14] });
    const warning = await t.db.one<{ data: Record<string, unknown> }>(
      `SELECT data FROM account_events WHERE account_id = $1 AND type = 'token_expiring'`,
      [failing.account.id],
    );
    expect(warning.data).toMatchObject({ daysLeft: 14 });

    // At once again: the failing one backs off, the refreshed one is out of the window.
    const again = await cli(['refresh-tokens', '--due']);
    expect(again.code).toBe(0);
    expect(again.out).toMatch(/^refresh-tokens: 0 account\(s\)/m);
    expect(again.out).toContain('looked at 1 token(s) in the refresh window: 1 backing off');
  });
});

describe('webhooks redeliver --failed --since', () => {
  let receiver: WebhookReceiver;
  beforeAll(async () => {
    receiver = await startWebhookReceiver();
  });
  afterAll(async () => {
    await receiver.close();
  });

  it('sends the failed deliveries since the date again, in order, with their event ids', async () => {
    const owner = await registerUser(t.url);
    const created = await http(t.url, 'POST', '/webhooks', {
      token: owner.token,
      body: { url: `${receiver.url}/ops`, events: ['*'] },
    });
    expect(created.status, created.text).toBe(201);
    const endpointId = created.body.id as string;
    for (let i = 0; i < 2; i++) {
      const ping = await http(t.url, 'POST', `/webhooks/${endpointId}/test`, {
        token: owner.token,
      });
      expect(ping.status, ping.text).toBe(202);
    }
    // As if the receiver had been down for a day: both pings gave up.
    await t.db.none(
      `UPDATE webhook_deliveries SET status = 'failed', attempts = 9, last_status_code = 503
       WHERE endpoint_id = $1`,
      [endpointId],
    );
    const events = await t.db.map(
      'SELECT event_id FROM webhook_deliveries WHERE endpoint_id = $1 ORDER BY seq',
      [endpointId],
      (r: { event_id: string }) => r.event_id,
    );
    expect(events).toHaveLength(2);

    // Older than --since: left alone.
    const none = await cli([
      'webhooks',
      'redeliver',
      '--failed',
      '--since',
      new Date(Date.now() + 60_000).toISOString(),
    ]);
    expect(none.code).toBe(0);
    expect(none.out).toMatch(/^webhooks redeliver: 0 account\(s\)/m);
    expect(receiver.received).toHaveLength(0);

    const result = await cli([
      'webhooks',
      'redeliver',
      '--failed',
      '--since',
      new Date(Date.now() - 60_000).toISOString(),
      '--endpoint',
      endpointId,
    ]);
    expect(result.code, result.err).toBe(0);
    expect(result.out).toContain(`${endpointId}/no account done`);
    expect(result.out).toContain('2 delivered, 0 failed');
    expect(receiver.received.map((r) => r.headers['x-ssell-delivery'])).toEqual(events);
    const log = await http(t.url, 'GET', `/webhooks/${endpointId}/deliveries`, {
      token: owner.token,
    });
    expect(log.body.deliveries.map((d: { status: string }) => d.status)).toEqual([
      'delivered',
      'delivered',
    ]);

    // Nothing failed is left: a second run has nothing to send.
    const again = await cli([
      'webhooks',
      'redeliver',
      '--failed',
      '--since',
      new Date(Date.now() - 60_000).toISOString(),
    ]);
    expect(again.code).toBe(0);
    expect(receiver.received).toHaveLength(2);
  });

  it('reports a receiver that refuses again as failed, exit 1, left to the workers', async () => {
    const owner = await registerUser(t.url);
    const created = await http(t.url, 'POST', '/webhooks', {
      token: owner.token,
      body: { url: `${receiver.url}/still-down`, events: ['*'] },
    });
    const endpointId = created.body.id as string;
    await http(t.url, 'POST', `/webhooks/${endpointId}/test`, { token: owner.token });
    await t.db.none(`UPDATE webhook_deliveries SET status = 'failed' WHERE endpoint_id = $1`, [
      endpointId,
    ]);
    receiver.reply = (r) => (r.path === '/still-down' ? 500 : 200);
    const result = await cli([
      'webhooks',
      'redeliver',
      '--failed',
      '--since',
      new Date(Date.now() - 60_000).toISOString(),
      '--endpoint',
      endpointId,
    ]);
    expect(result.code).toBe(1);
    expect(result.out).toContain(`${endpointId}/no account failed`);
    const row = await t.db.one<{ status: string; next_attempt_at: Date }>(
      'SELECT status, next_attempt_at FROM webhook_deliveries WHERE endpoint_id = $1',
      [endpointId],
    );
    expect(row.status).toBe('pending');
    expect(row.next_attempt_at.getTime()).toBeGreaterThan(Date.now());
  });
});

describe('leaks', () => {
  it('no token in the CLI output or its logs', () => {
    const tokens = issuedTokens(emu);
    expect(tokens.length).toBeGreaterThan(5);
    for (const text of [...outputs, ...cliLogs]) {
      for (const token of tokens) {
        if (text.includes(token)) throw new Error(`a token leaked into: ${text.slice(0, 300)}`);
      }
    }
  });
});
