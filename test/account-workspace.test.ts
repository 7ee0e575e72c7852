/**
 * The accounts a person works in: the current account (switching, its fallback, the header
 * resolver), metric history, kept pictures and expiring soon. The real service on a fresh
 * database, Instagram emulated over HTTP, and the service's clock following the emulator's.
 */
import { createHash, createHmac, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../emulator/emulator';
import { METRIC_POINTS_SQL } from '../src/infrastructure/database/repositories/postgres-account-metrics.repository';
import type { TestApp } from './helpers/app';
import { http, registerUser, type HttpResult, type RegisteredUser } from './helpers/http';
import {
  connectAccount,
  control,
  issuedTokens,
  startInstagramTestApp,
  type ConnectedAccount,
  type InstagramTestApp,
} from './helpers/instagram-fixtures';

let app: InstagramTestApp;
let t: TestApp;
let emu: RunningEmulator;
const bodies: string[] = [];

const BASE = '/instagram/accounts';
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const HEADER = 'X-Instagram-Account-Id';

type Credential = 'bearer' | 'cookie';

async function call<T = any>(
  method: string,
  path: string,
  user: RegisteredUser | undefined,
  options: { via?: Credential; body?: unknown; headers?: Record<string, string> } = {},
): Promise<HttpResult<T>> {
  const via = options.via ?? 'bearer';
  const res = await http<T>(t.url, method, path, {
    ...(options.body !== undefined ? { body: options.body } : {}),
    ...(options.headers ? { headers: options.headers } : {}),
    ...(user ? (via === 'bearer' ? { token: user.token } : { cookie: user.cookie }) : {}),
  });
  bodies.push(res.text);
  return res;
}

function expectError(res: HttpResult, status: number, message?: RegExp) {
  expect(res.status, res.text).toBe(status);
  expect(res.body).toMatchObject({ statusCode: status, error: expect.any(String) });
  if (message) expect(res.body.message).toMatch(message);
}

const connect = (user: RegisteredUser, options = {}) => connectAccount(app, user.userId, options);
const currentOf = async (user: RegisteredUser, via: Credential = 'bearer') =>
  call('GET', `${BASE}/current`, user, { via });

function signedRequest(payload: Record<string, unknown>): string {
  const encoded = Buffer.from(JSON.stringify(payload)).toString('base64url');
  const signature = createHmac('sha256', emu.appSecret).update(encoded).digest('base64url');
  return `signed_request=${encodeURIComponent(`${signature}.${encoded}`)}`;
}

async function metaCallback(path: string, igUserId: string): Promise<HttpResult> {
  const issued = Math.floor(emu.state.now().getTime() / 1000);
  return http(t.url, 'POST', path, {
    rawBody: signedRequest({
      user_id: igUserId,
      algorithm: 'HMAC-SHA256',
      issued_at: issued,
      expires: issued + 3600,
    }),
    contentType: 'application/x-www-form-urlencoded',
  });
}

beforeAll(async () => {
  app = await startInstagramTestApp();
  ({ t, emu } = app);
});

afterAll(async () => {
  await app.close();
});

beforeEach(() => {
  emu.state.clearInjections();
});

describe('schema (migration 008)', () => {
  it('keeps the choice per user and one picture per account, both going with their rows', async () => {
    const constraints = await t.db.many<{ conname: string; def: string }>(
      `SELECT conname, pg_get_constraintdef(oid) AS def FROM pg_constraint
       WHERE conrelid IN ('user_current_accounts'::regclass, 'account_pictures'::regclass)
       ORDER BY conname`,
    );
    const byName = Object.fromEntries(constraints.map((c) => [c.conname, c.def]));
    expect(byName.user_current_accounts_user_fk).toMatch(
      /REFERENCES users\(id\) ON DELETE CASCADE/,
    );
    expect(byName.user_current_accounts_account_fk).toMatch(
      /REFERENCES client_accounts\(id\) ON DELETE SET NULL/,
    );
    expect(byName.account_pictures_account_fk).toMatch(/ON DELETE CASCADE/);
    expect(byName.account_pictures_size_check).toMatch(/5242880/);
    const indexes = (
      await t.db.many<{ indexname: string }>(
        `SELECT indexname FROM pg_indexes WHERE tablename = 'account_metric_snapshots'`,
      )
    ).map((r) => r.indexname);
    expect(indexes).toContain('account_metric_snapshots_history_idx');
    expect(indexes).not.toContain('account_metric_snapshots_account_time_idx');
  });
});

describe('the current account', () => {
  it('defaults to the newest connected account, is the same for cookie and Bearer, and switches per user', async () => {
    const alice = await registerUser(t.url);
    const bob = await registerUser(t.url);
    expectError(await currentOf(alice), 404, /No current account/);
    // `current` is its own route, not an account id the /:id routes would refuse as malformed.
    expect((await currentOf(alice)).body.message).not.toMatch(/UUID/);

    const [a1, a2, a3] = [await connect(alice), await connect(alice), await connect(alice)];
    for (const via of ['bearer', 'cookie'] as const) {
      const res = await currentOf(alice, via);
      expect(res.status, res.text).toBe(200);
      expect(res.body).toMatchObject({ id: a3.account.id, isCurrent: true });
    }

    const chosen = await call('PUT', `${BASE}/current`, alice, {
      via: 'cookie',
      body: { accountId: a1.account.id },
    });
    expect(chosen.status, chosen.text).toBe(200);
    expect(chosen.body).toMatchObject({ id: a1.account.id, isCurrent: true });
    for (const via of ['bearer', 'cookie'] as const) {
      expect((await currentOf(alice, via)).body.id).toBe(a1.account.id);
    }
    // Kept in PostgreSQL, per user.
    expect(
      await t.db.one('SELECT account_id FROM user_current_accounts WHERE user_id = $1', [
        alice.userId,
      ]),
    ).toEqual({ account_id: a1.account.id });

    // Every account in the list and GET /:id says whether it is the current one.
    const list = await call('GET', BASE, alice);
    expect(list.status).toBe(200);
    expect(Object.fromEntries(list.body.accounts.map((a: any) => [a.id, a.isCurrent]))).toEqual({
      [a1.account.id]: true,
      [a2.account.id]: false,
      [a3.account.id]: false,
    });
    expect((await call('GET', `${BASE}/${a1.account.id}`, alice)).body.isCurrent).toBe(true);
    expect(
      (await call('GET', `${BASE}/${a2.account.id}`, alice, { via: 'cookie' })).body.isCurrent,
    ).toBe(false);

    // A new connect does not take over a choice the person made.
    await connect(alice);
    expect((await currentOf(alice)).body.id).toBe(a1.account.id);

    // Bob is unaffected, and cannot choose Alice's account.
    expectError(await currentOf(bob), 404);
    const b1 = await connect(bob);
    expect((await currentOf(bob, 'cookie')).body.id).toBe(b1.account.id);
    expectError(
      await call('PUT', `${BASE}/current`, bob, { body: { accountId: a2.account.id } }),
      403,
      /Access denied/,
    );
    expect((await currentOf(bob)).body.id).toBe(b1.account.id);
    expect((await currentOf(alice)).body.id).toBe(a1.account.id);
  });

  it('refuses a bad switch: malformed 400, unknown 404, unknown fields 400, no body 400, no session 401', async () => {
    const user = await registerUser(t.url);
    const { account } = await connect(user);
    expectError(
      await call('PUT', `${BASE}/current`, user, { body: { accountId: 'nope' } }),
      400,
      /accountId must be an account id/,
    );
    expectError(
      await call('PUT', `${BASE}/current`, user, { body: { accountId: randomUUID() } }),
      404,
      /Account not found/,
    );
    expectError(
      await call('PUT', `${BASE}/current`, user, {
        body: { accountId: account.id, userId: randomUUID() },
      }),
      400,
      /userId should not exist/,
    );
    expectError(await call('PUT', `${BASE}/current`, user), 400);
    expectError(
      await call('PUT', `${BASE}/current`, undefined, { body: { accountId: account.id } }),
      401,
    );
    expectError(await call('GET', `${BASE}/current`, undefined), 401);
  });

  it('any status may be chosen, a disconnected account included', async () => {
    const user = await registerUser(t.url);
    const paused = await connect(user);
    await connect(user);
    await call('PATCH', `${BASE}/${paused.account.id}`, user, { body: { status: 'disconnected' } });
    const res = await call('PUT', `${BASE}/current`, user, {
      body: { accountId: paused.account.id },
    });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({
      id: paused.account.id,
      status: 'disconnected',
      isCurrent: true,
    });
    expect((await currentOf(user)).body.id).toBe(paused.account.id);
  });

  it('falls back to the newest remaining account after DELETE, a pause, a deauthorize and a data deletion, then to none', async () => {
    const user = await registerUser(t.url);
    const other = await registerUser(t.url);
    const [c1, c2, c3, c4] = [
      await connect(user),
      await connect(user),
      await connect(user),
      await connect(user),
    ] as ConnectedAccount[];
    const otherAccount = await connect(other);
    const choose = (c: ConnectedAccount) =>
      call('PUT', `${BASE}/current`, user, { body: { accountId: c.account.id } });

    // DELETE the chosen account: the newest remaining one (c4) takes over.
    expect((await choose(c2!)).status).toBe(200);
    expect((await call('DELETE', `${BASE}/${c2!.account.id}`, user)).status).toBe(204);
    expect((await currentOf(user)).body.id).toBe(c4!.account.id);

    // Pausing it (PATCH status disconnected) moves on past it.
    await call('PATCH', `${BASE}/${c4!.account.id}`, user, { body: { status: 'disconnected' } });
    expect((await currentOf(user, 'cookie')).body.id).toBe(c3!.account.id);

    // Meta's deauthorize of the current account: the choice moves to c1 (c4 is disconnected).
    expect((await choose(c3!)).status).toBe(200);
    const deauthorized = await metaCallback(
      '/instagram/webhooks/deauthorize',
      c3!.emulatorAccount.appScopedId,
    );
    expect(deauthorized.status, deauthorized.text).toBe(200);
    expect((await call('GET', `${BASE}/${c3!.account.id}`, user)).body.status).toBe('disconnected');
    expect((await currentOf(user)).body.id).toBe(c1!.account.id);
    expect((await call('GET', `${BASE}/${c1!.account.id}`, user)).body.isCurrent).toBe(true);

    // A data deletion of the last usable account leaves none: only disconnected ones remain.
    const erased = await metaCallback(
      '/instagram/webhooks/data-deletion',
      c1!.emulatorAccount.userId,
    );
    expect(erased.status, erased.text).toBe(200);
    expectError(await currentOf(user), 404, /No current account/);
    const list = await call('GET', BASE, user);
    expect(list.body.accounts.map((a: any) => a.isCurrent)).toEqual([false, false]);

    // The other user's choice never moved.
    expect((await currentOf(other)).body.id).toBe(otherAccount.account.id);
  });

  it('an unchosen default moves by itself when its account goes', async () => {
    const user = await registerUser(t.url);
    const older = await connect(user);
    const newer = await connect(user);
    expect((await currentOf(user)).body.id).toBe(newer.account.id);
    expect((await call('DELETE', `${BASE}/${newer.account.id}`, user)).status).toBe(204);
    expect((await currentOf(user)).body.id).toBe(older.account.id);
  });
});

describe('the header resolver (X-Instagram-Account-Id)', () => {
  it("gives the header's account (owner-checked) instead of the current one", async () => {
    const user = await registerUser(t.url);
    const intruder = await registerUser(t.url);
    const named = await connect(user);
    const current = await connect(user);
    const res = await call('GET', `${BASE}/current`, user, {
      via: 'cookie',
      headers: { [HEADER]: named.account.id },
    });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({ id: named.account.id, isCurrent: false });
    // Upper case is the same id.
    const upper = await call('GET', `${BASE}/current`, user, {
      headers: { [HEADER]: named.account.id.toUpperCase() },
    });
    expect(upper.body.id).toBe(named.account.id);
    expect((await currentOf(user)).body.id).toBe(current.account.id);

    expectError(
      await call('GET', `${BASE}/current`, user, { headers: { [HEADER]: 'not-a-uuid' } }),
      400,
      /X-Instagram-Account-Id must be one account id/,
    );
    expectError(
      await call('GET', `${BASE}/current`, user, {
        headers: { [HEADER]: `${named.account.id}, ${current.account.id}` },
      }),
      400,
    );
    expectError(await call('GET', `${BASE}/current`, user, { headers: { [HEADER]: '' } }), 400);
    expectError(
      await call('GET', `${BASE}/current`, user, { headers: { [HEADER]: randomUUID() } }),
      404,
      /Account not found/,
    );
    expectError(
      await call('GET', `${BASE}/current`, intruder, { headers: { [HEADER]: named.account.id } }),
      403,
      /Access denied/,
    );
    // A person with no current account can still name one of theirs... and only theirs.
    expectError(await currentOf(intruder), 404);
  });

  it('is documented as a header parameter with its 400/403/404', async () => {
    const doc = (await http(t.url, 'GET', '/docs-json')).body;
    const op = doc.paths['/instagram/accounts/current'].get;
    expect(op.parameters).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ name: HEADER, in: 'header', required: false }),
      ]),
    );
    for (const status of ['400', '401', '403', '404']) {
      expect(Object.keys(op.responses)).toContain(status);
    }
  });
});

/** The next UTC midnight plus `hours`, as an offset the emulator's clock can advance by. */
function untilNextUtcDay(hours: number): number {
  const now = emu.state.now();
  const midnight = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1);
  return midnight + hours * HOUR - now.getTime();
}

const utcDay = (date: Date) =>
  new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate()));
/** The Monday (UTC) of the ISO week `date` is in. */
const mondayOf = (date: Date) => {
  const day = utcDay(date);
  return new Date(day.getTime() - ((day.getUTCDay() + 6) % 7) * DAY);
};
const isoDate = (date: Date) => date.toISOString().slice(0, 10);

describe('metric history', () => {
  let owner: RegisteredUser;
  let connected: ConnectedAccount;
  /** What each sync saw, in order. */
  const synced: Array<{ at: Date; followers: number; following: number; media: number }> = [];

  beforeAll(async () => {
    owner = await registerUser(t.url);
    connected = await connect(owner, { profile: { followersCount: 1000 } });
    emu.state.advanceClock(untilNextUtcDay(9));
    // Eight days: one sync a day, two on the third day (the later one counts), and a failed
    // sync on the fifth day that records nothing.
    for (let day = 0; day < 8; day++) {
      const syncs = day === 2 ? 2 : 1;
      for (let n = 0; n < syncs; n++) {
        const counts = {
          followers: 1000 + day * 50 + n * 7,
          following: 100 - day,
          media: 10 + day,
        };
        await control(emu, 'PATCH', `/accounts/${connected.emulatorAccount.userId}`, {
          followersCount: counts.followers,
          followsCount: counts.following,
          mediaCount: counts.media,
        });
        const res = await call('POST', `${BASE}/${connected.account.id}/sync`, owner);
        expect(res.status, res.text).toBe(200);
        synced.push({ at: emu.state.now(), ...counts });
        emu.state.advanceClock(2 * HOUR);
      }
      if (day === 4) {
        const before = await snapshots(connected.account.id);
        await control(emu, 'POST', '/inject', {
          kind: 'error',
          account: connected.emulatorAccount.userId,
          status: 400,
          error: { code: 190, subcode: 460 },
        });
        expect((await call('POST', `${BASE}/${connected.account.id}/sync`, owner)).status).toBe(
          409,
        );
        expect(await snapshots(connected.account.id)).toBe(before);
      }
      emu.state.advanceClock(DAY - syncs * 2 * HOUR);
    }
  });

  const snapshots = async (id: string) =>
    (
      await t.db.one<{ n: number }>(
        'SELECT count(*)::int AS n FROM account_metric_snapshots WHERE account_id = $1',
        [id],
      )
    ).n;

  it('one snapshot per successful sync, stamped with the time of the sync', async () => {
    const rows = await t.db.many<{ captured_at: Date; follower_count: number }>(
      'SELECT captured_at, follower_count FROM account_metric_snapshots WHERE account_id = $1 ORDER BY captured_at',
      [connected.account.id],
    );
    expect(rows.map((r) => r.follower_count)).toEqual(synced.map((s) => s.followers));
    rows.forEach((row, i) => {
      expect(Math.abs(row.captured_at.getTime() - synced[i]!.at.getTime())).toBeLessThan(60_000);
    });
  });

  it('by day: the last snapshot of each day, and the change from the first to the last', async () => {
    const from = isoDate(synced[0]!.at);
    const to = isoDate(synced[synced.length - 1]!.at);
    const res = await call(
      'GET',
      `${BASE}/${connected.account.id}/metrics?from=${from}&to=${to}&interval=day`,
      owner,
    );
    expect(res.status, res.text).toBe(200);
    const lastOfDay = new Map<string, (typeof synced)[number]>();
    for (const s of synced) lastOfDay.set(utcDay(s.at).toISOString(), s);
    expect(res.body).toEqual({
      accountId: connected.account.id,
      interval: 'day',
      points: [...lastOfDay].map(([at, s]) => ({
        at,
        followerCount: s.followers,
        followingCount: s.following,
        mediaCount: s.media,
      })),
      change: {
        followerCount: synced.at(-1)!.followers - synced[0]!.followers,
        followingCount: synced.at(-1)!.following - synced[0]!.following,
        mediaCount: synced.at(-1)!.media - synced[0]!.media,
      },
    });
    expect(res.body.points).toHaveLength(8);
    // The third day had two syncs: the later one is its point.
    expect(res.body.points[2].followerCount).toBe(1000 + 2 * 50 + 7);

    // The default: the 30 days up to now (the service's clock), by day.
    const byDefault = await call('GET', `${BASE}/${connected.account.id}/metrics`, owner);
    expect(byDefault.body).toEqual(res.body);

    // A narrower range: the points inside it only.
    const middle = await call(
      'GET',
      `${BASE}/${connected.account.id}/metrics?from=${isoDate(synced[3]!.at)}&to=${isoDate(synced[5]!.at)}`,
      owner,
    );
    expect(middle.body.points.map((p: any) => p.followerCount)).toEqual(
      res.body.points.slice(2, 5).map((p: any) => p.followerCount),
    );
    expect(middle.body.change.followerCount).toBe(
      middle.body.points[2].followerCount - middle.body.points[0].followerCount,
    );
  });

  it('by week: the last snapshot of each ISO week (from Monday)', async () => {
    const res = await call(
      'GET',
      `${BASE}/${connected.account.id}/metrics?interval=week&from=${isoDate(synced[0]!.at)}`,
      owner,
    );
    expect(res.status, res.text).toBe(200);
    const lastOfWeek = new Map<string, (typeof synced)[number]>();
    for (const s of synced) lastOfWeek.set(mondayOf(s.at).toISOString(), s);
    expect(lastOfWeek.size).toBeGreaterThanOrEqual(2);
    expect(res.body.points).toEqual(
      [...lastOfWeek].map(([at, s]) => ({
        at,
        followerCount: s.followers,
        followingCount: s.following,
        mediaCount: s.media,
      })),
    );
    const first = [...lastOfWeek.values()][0]!;
    expect(res.body.change.followerCount).toBe(synced.at(-1)!.followers - first.followers);
  });

  it('an empty range has no points and no change', async () => {
    const res = await call(
      'GET',
      `${BASE}/${connected.account.id}/metrics?from=2020-01-01&to=2020-01-31`,
      owner,
    );
    expect(res.body).toMatchObject({
      points: [],
      change: { followerCount: null, followingCount: null, mediaCount: null },
    });
  });

  it.each([
    ['an unknown interval', 'interval=month', /interval must be day or week/],
    ['a month 13', 'from=2025-13-01', /from is not a calendar date/],
    ['a date that does not exist', 'from=2025-02-30', /not a calendar date/],
    ['a date-time without a zone', 'to=2025-06-01T10:00', /to must be an ISO date/],
    ['from after to', 'from=2025-06-10&to=2025-06-01', /from must be before to/],
    ['more than 366 days', 'from=2024-01-01&to=2025-01-01', /at most 366 days/],
    ['an unknown parameter', 'limit=5', /property limit should not exist/],
  ])('400 for %s', async (_case, query, message) => {
    expectError(
      await call('GET', `${BASE}/${connected.account.id}/metrics?${query}`, owner),
      400,
      message,
    );
  });

  it('accepts exactly 366 days', async () => {
    const res = await call(
      'GET',
      `${BASE}/${connected.account.id}/metrics?from=2024-01-01&to=2024-12-31`,
      owner,
    );
    expect(res.status, res.text).toBe(200);
  });

  it("reads one account's year through the covering index (index-only), however many accounts there are", async () => {
    const user = await registerUser(t.url);
    await t.db.none(
      `INSERT INTO client_accounts (user_id, platform, platform_account_id, username)
       SELECT $1, 'instagram', (17841499000000000 + g)::text, 'explain_' || g FROM generate_series(1, 40) g`,
      [user.userId],
    );
    // 40 accounts × 500 snapshots, interleaved in time as real syncs are.
    await t.db.none(
      `INSERT INTO account_metric_snapshots (account_id, follower_count, following_count, media_count, captured_at)
       SELECT a.id, g, 1, 1, now() - g * interval '18 hours'
       FROM generate_series(0, 499) g, client_accounts a WHERE a.user_id = $1`,
      [user.userId],
    );
    await t.db.none('VACUUM ANALYZE account_metric_snapshots');
    const { id } = await t.db.one<{ id: string }>(
      'SELECT id FROM client_accounts WHERE user_id = $1 LIMIT 1',
      [user.userId],
    );
    const plan = await t.db.one<{ 'QUERY PLAN': unknown }>(
      `EXPLAIN (FORMAT JSON) ${METRIC_POINTS_SQL}`,
      [id, new Date(Date.now() - 366 * DAY), new Date(), 'day'],
    );
    const text = JSON.stringify(plan['QUERY PLAN']);
    expect(text).toContain('"Index Name":"account_metric_snapshots_history_idx"');
    expect(text).toContain('"Node Type":"Index Only Scan"');
    expect(text).not.toContain('Seq Scan');
  });

  it("is the owner's only: 403, 404, 400 malformed id, 401", async () => {
    const intruder = await registerUser(t.url);
    expectError(await call('GET', `${BASE}/${connected.account.id}/metrics`, intruder), 403);
    expectError(await call('GET', `${BASE}/${randomUUID()}/metrics`, owner), 404);
    expectError(await call('GET', `${BASE}/nope/metrics`, owner), 400, /id must be a UUID/);
    expectError(await call('GET', `${BASE}/${connected.account.id}/metrics`, undefined), 401);
  });
});

describe('kept pictures', () => {
  let owner: RegisteredUser;

  beforeAll(async () => {
    owner = await registerUser(t.url);
  });

  const pictureRow = (id: string) =>
    t.db.oneOrNone<{ sha256: string; content_type: string; fetched_at: Date; size: number }>(
      'SELECT sha256, content_type, fetched_at, octet_length(content) AS size FROM account_pictures WHERE account_id = $1',
      [id],
    );
  const syncedEvents = async (id: string) =>
    (
      await t.db.manyOrNone<{ data: any }>(
        `SELECT data FROM account_events WHERE account_id = $1 AND type = 'synced' ORDER BY created_at, id`,
        [id],
      )
    ).map((e) => e.data);
  const sync = (id: string) => call('POST', `${BASE}/${id}/sync`, owner);
  const avatar = (id: string, via: Credential = 'bearer', headers: Record<string, string> = {}) =>
    fetch(`${t.url}${BASE}/${id}/avatar`, {
      headers: {
        ...headers,
        ...(via === 'bearer'
          ? { authorization: `Bearer ${owner.token}` }
          : { cookie: owner.cookie }),
      },
    });

  it("serves the emulator's bytes with an ETag, 304 on If-None-Match, and keeps them past the link's expiry", async () => {
    const { account } = await connect(owner);
    expect((await call('GET', `${BASE}/${account.id}`, owner)).body.avatarUrl).toBeNull();
    expect((await avatar(account.id)).status).toBe(404);

    const first = await sync(account.id);
    expect(first.status, first.text).toBe(200);
    expect(first.body.avatarUrl).toBe(`${BASE}/${account.id}/avatar`);
    const instagramUrl: string = first.body.profilePictureUrl;
    expect(instagramUrl).toContain(`${emu.url}/__pictures/`);
    const original = Buffer.from(await (await fetch(instagramUrl)).arrayBuffer());

    const served = await avatar(account.id, 'cookie');
    expect(served.status).toBe(200);
    expect(served.headers.get('content-type')).toBe('image/png');
    expect(served.headers.get('cache-control')).toBe('private');
    const etag = `"${createHash('sha256').update(original).digest('hex')}"`;
    expect(served.headers.get('etag')).toBe(etag);
    expect(Buffer.from(await served.arrayBuffer()).equals(original)).toBe(true);

    const revalidated = await avatar(account.id, 'bearer', { 'if-none-match': etag });
    expect(revalidated.status).toBe(304);
    expect(revalidated.headers.get('etag')).toBe(etag);
    expect((await revalidated.arrayBuffer()).byteLength).toBe(0);
    expect((await avatar(account.id, 'bearer', { 'if-none-match': `W/${etag}, "x"` })).status).toBe(
      304,
    );
    expect((await avatar(account.id, 'bearer', { 'if-none-match': '"other"' })).status).toBe(200);

    // A re-sync soon after: Instagram re-signs the link (a new oe=), the picture is the same:
    // nothing is downloaded again and the history does not say the picture changed.
    const keptAt = (await pictureRow(account.id))!.fetched_at;
    emu.state.advanceClock(HOUR);
    const resync = await sync(account.id);
    expect(resync.body.profilePictureUrl).not.toBe(instagramUrl);
    expect(new URL(resync.body.profilePictureUrl).pathname).toBe(new URL(instagramUrl).pathname);
    expect((await pictureRow(account.id))!.fetched_at).toEqual(keptAt);
    const events = await syncedEvents(account.id);
    expect(events[0].changed.profilePictureUrl).toMatchObject({ from: null });
    expect(events[1].changed.profilePictureUrl).toBeUndefined();

    // Four days on, Instagram's link is dead (403 like its CDN); the kept copy is not.
    emu.state.advanceClock(4 * DAY);
    const dead = await fetch(resync.body.profilePictureUrl);
    expect(dead.status).toBe(403);
    expect(await dead.text()).toBe('URL signature expired');
    const stillServed = await avatar(account.id, 'cookie');
    expect(stillServed.status).toBe(200);
    expect(Buffer.from(await stillServed.arrayBuffer()).equals(original)).toBe(true);

    // The next sync fetches again (the kept link has expired): same bytes, same ETag, no change.
    const later = await sync(account.id);
    expect(later.status).toBe(200);
    const refetched = (await pictureRow(account.id))!;
    expect(refetched.fetched_at.getTime()).toBeGreaterThan(keptAt.getTime());
    expect(`"${refetched.sha256}"`).toBe(etag);
    expect((await syncedEvents(account.id))[2].changed.profilePictureUrl).toBeUndefined();

    // A new picture on Instagram: new path, new bytes, a new ETag, and the history says so.
    await control(emu, 'POST', `/accounts/${await emuAccountOf(account.id)}/picture`, {});
    const changed = await sync(account.id);
    const fresh = Buffer.from(await (await fetch(changed.body.profilePictureUrl)).arrayBuffer());
    expect(fresh.equals(original)).toBe(false);
    const newServed = await avatar(account.id, 'bearer', { 'if-none-match': etag });
    expect(newServed.status).toBe(200);
    expect(Buffer.from(await newServed.arrayBuffer()).equals(fresh)).toBe(true);
    expect(newServed.headers.get('etag')).not.toBe(etag);
    expect((await syncedEvents(account.id))[3].changed.profilePictureUrl).toMatchObject({
      from: later.body.profilePictureUrl,
      to: changed.body.profilePictureUrl,
    });
  });

  const emuAccountOf = async (accountId: string) =>
    (
      await t.db.one<{ id: string }>(
        'SELECT platform_account_id AS id FROM client_accounts WHERE id = $1',
        [accountId],
      )
    ).id;

  it('refuses a text/html or 6 MB "picture"; the sync still succeeds, the old copy stays, the next sync retries', async () => {
    const { account, emulatorAccount } = await connect(owner);
    expect((await sync(account.id)).status).toBe(200);
    const kept = (await pictureRow(account.id))!;

    for (const [kind, reason] of [
      ['html', 'unsupported_type'],
      ['oversized', 'too_large'],
    ] as const) {
      await control(emu, 'POST', `/accounts/${emulatorAccount.userId}/picture`, { kind });
      const res = await sync(account.id);
      expect(res.status, res.text).toBe(200);
      expect(res.body.status).toBe('active');
      expect(res.body.avatarUrl).toBe(`${BASE}/${account.id}/avatar`);
      const row = await t.db.one('SELECT metadata FROM client_accounts WHERE id = $1', [
        account.id,
      ]);
      expect(row.metadata.pictureError).toMatchObject({ reason });
      expect(await pictureRow(account.id)).toEqual(kept);
    }

    // Instagram serves a real picture again at the same path: the recorded failure makes the
    // next sync try again, and it is kept.
    await control(emu, 'PATCH', `/accounts/${emulatorAccount.userId}`, { pictureKind: 'png' });
    expect((await sync(account.id)).status).toBe(200);
    const row = await t.db.one('SELECT metadata FROM client_accounts WHERE id = $1', [account.id]);
    expect(row.metadata.pictureError).toBeUndefined();
    expect((await pictureRow(account.id))!.sha256).not.toBe(kept.sha256);
  });

  it('with no copy yet, a refused picture leaves avatarUrl null and the avatar 404', async () => {
    const { account, emulatorAccount } = await connect(owner);
    await control(emu, 'POST', `/accounts/${emulatorAccount.userId}/picture`, { kind: 'html' });
    const res = await sync(account.id);
    expect(res.status, res.text).toBe(200);
    expect(res.body.avatarUrl).toBeNull();
    const missing = await avatar(account.id);
    expect(missing.status).toBe(404);
  });

  it('an account whose picture Instagram removed loses its copy', async () => {
    const { account, emulatorAccount } = await connect(owner);
    await sync(account.id);
    expect(await pictureRow(account.id)).not.toBeNull();
    await control(emu, 'PATCH', `/accounts/${emulatorAccount.userId}`, {
      hasProfilePicture: false,
    });
    const res = await sync(account.id);
    expect(res.body).toMatchObject({ profilePictureUrl: null, avatarUrl: null });
    expect(await pictureRow(account.id)).toBeNull();
  });

  it("is the owner's only: 403, 404, 400, 401", async () => {
    const { account } = await connect(owner);
    await sync(account.id);
    const intruder = await registerUser(t.url);
    const as = (user: RegisteredUser | undefined, id: string) =>
      call('GET', `${BASE}/${id}/avatar`, user, { via: 'cookie' });
    expectError(await as(intruder, account.id), 403);
    expectError(await as(owner, randomUUID()), 404, /Account not found/);
    expectError(await as(owner, 'nope'), 400);
    expectError(await as(undefined, account.id), 401);
  });

  it('the demo accounts: pictures table size', async () => {
    // Measured for the report: the three seeded accounts' kept pictures.
    const user = await registerUser(t.url);
    for (const username of ['metricsaurus', 'lena.bakes', 'northwind.coffee']) {
      const { account } = await connectAccount(app, user.userId, { emulatorAccount: username });
      expect((await call('POST', `${BASE}/${account.id}/sync`, user)).status).toBe(200);
    }
    const sizes = await t.db.many<{ size: number }>(
      `SELECT octet_length(p.content) AS size FROM account_pictures p
       JOIN client_accounts a ON a.id = p.account_id WHERE a.user_id = $1`,
      [user.userId],
    );
    expect(sizes).toHaveLength(3);
    for (const { size } of sizes) expect(size).toBeLessThan(5000);
  });
});

describe('expiring soon', () => {
  it('lists the caller’s accounts whose token expires within N days, soonest first, with bounds', async () => {
    const user = await registerUser(t.url);
    const other = await registerUser(t.url);
    // Tokens last 5,183,944 s (~60 days); aging one by (60 - d) days leaves it d days.
    const lifetime = 5_183_944_000;
    const expiringIn = (days: number) => connect(user, { tokenAgeMs: lifetime - days * DAY });
    const in5 = await expiringIn(5);
    const in2 = await expiringIn(2);
    const in69 = await expiringIn(6.9);
    const in71 = await expiringIn(7.1);
    const fresh = await connect(user);
    const paused = await expiringIn(1);
    await call('PATCH', `${BASE}/${paused.account.id}`, user, { body: { status: 'disconnected' } });
    await expiringIn(-1); // already expired: a reconnect, not a refresh, fixes it
    await connectAccount(app, other.userId, { tokenAgeMs: lifetime - 3 * DAY });

    const ids = (res: HttpResult) => res.body.accounts.map((a: any) => a.id);
    const week = await call('GET', `${BASE}/expiring`, user);
    expect(week.status, week.text).toBe(200);
    expect(ids(week)).toEqual([in2.account.id, in5.account.id, in69.account.id]);
    expect(week.body).toMatchObject({ total: 3, nextCursor: null });
    expect(week.body.accounts[0]).toMatchObject({
      tokenExpiresAt: in2.account.tokenExpiresAt!.toISOString(),
      isCurrent: false,
    });

    expect(ids(await call('GET', `${BASE}/expiring?days=5`, user))).toEqual([
      in2.account.id,
      in5.account.id,
    ]);
    expect(ids(await call('GET', `${BASE}/expiring?days=1`, user, { via: 'cookie' }))).toEqual([]);
    const all = await call('GET', `${BASE}/expiring?days=60`, user);
    expect(ids(all)).toEqual([
      in2.account.id,
      in5.account.id,
      in69.account.id,
      in71.account.id,
      fresh.account.id,
    ]);

    const page1 = await call('GET', `${BASE}/expiring?days=60&limit=2`, user);
    expect(ids(page1)).toEqual(ids(all).slice(0, 2));
    expect(page1.body.total).toBe(5);
    const page2 = await call(
      'GET',
      `${BASE}/expiring?days=60&limit=2&cursor=${page1.body.nextCursor}`,
      user,
    );
    const page3 = await call(
      'GET',
      `${BASE}/expiring?days=60&limit=2&cursor=${page2.body.nextCursor}`,
      user,
    );
    expect([...ids(page2), ...ids(page3)]).toEqual(ids(all).slice(2));
    expect(page3.body.nextCursor).toBeNull();

    for (const bad of [
      'days=0',
      'days=61',
      'days=1.5',
      'days=soon',
      'limit=0',
      'cursor=%21',
      'hours=3',
    ]) {
      expectError(await call('GET', `${BASE}/expiring?${bad}`, user), 400);
    }
    expectError(await call('GET', `${BASE}/expiring`, undefined), 401);
  });
});

describe('leaks', () => {
  it('no response of this file held a token the emulator issued', () => {
    const tokens = issuedTokens(emu);
    expect(tokens.length).toBeGreaterThan(10);
    for (const body of bodies) for (const token of tokens) expect(body).not.toContain(token);
    for (const line of t.logs) for (const token of tokens) expect(line).not.toContain(token);
  });
});
