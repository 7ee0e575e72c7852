import { randomUUID } from 'node:crypto';
import { ConflictException } from '@nestjs/common';
import {
  afterAll,
  afterEach,
  beforeAll,
  beforeEach,
  describe,
  expect,
  it,
  type RunnerTask,
  vi,
} from 'vitest';
import type { RunningEmulator } from '../emulator/emulator';
import { TokenVault } from '../src/infrastructure/crypto/token-vault';
import type { TestApp } from './helpers/app';
import { http, registerUser, type HttpResult, type RequestOptions } from './helpers/http';
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
type User = Awaited<ReturnType<typeof registerUser>>;
let owner: User;
let other: User;
/** Every response body (and its headers) of the file, for the leak scan. */
const bodies: string[] = [];
/** How much of `bodies` and of the logs the leak scan has read so far. */
const scanned = { bodies: 0, logs: 0 };

const BASE = '/instagram/accounts';
const RESPONSE_KEYS = [
  'accountType',
  'avatarUrl',
  'biography',
  'createdAt',
  'displayName',
  'followerCount',
  'followingCount',
  'id',
  'isCurrent',
  'lastRefreshAt',
  'lastRefreshError',
  'lastSyncAt',
  'mediaCount',
  'permissions',
  'platform',
  'profilePictureUrl',
  'rateLimitedUntil',
  'refreshAttempts',
  'status',
  'statusDetail',
  'tokenExpiresAt',
  'updatedAt',
  'username',
  'website',
];

async function call<T = any>(
  method: string,
  path: string,
  user: User | undefined,
  options: RequestOptions = {},
): Promise<HttpResult<T>> {
  const res = await http<T>(t.url, method, path, {
    ...options,
    ...(user ? { token: user.token } : {}),
  });
  bodies.push(res.text, JSON.stringify([...res.headers]));
  return res;
}

function expectError(res: HttpResult, status: number, message?: RegExp) {
  expect(res.status, res.text).toBe(status);
  expect(res.body).toMatchObject({ statusCode: status, error: expect.any(String) });
  if (message) expect(res.body.message).toMatch(message);
  expect(res.text).not.toMatch(/SELECT|INSERT|UPDATE client|at .+\.(ts|js):\d+/);
}

const rowOf = (id: string) =>
  t.db.oneOrNone<Record<string, any>>('SELECT * FROM client_accounts WHERE id = $1', [id]);
const tokenRowOf = (id: string) =>
  t.db.oneOrNone('SELECT * FROM account_tokens WHERE account_id = $1', [id]);
const eventsOf = (id: string) =>
  t.db.manyOrNone<{ type: string; data: any }>(
    'SELECT type, data FROM account_events WHERE account_id = $1 ORDER BY created_at, id',
    [id],
  );
const snapshotCount = async (id: string) =>
  (
    await t.db.one<{ n: number }>(
      'SELECT count(*)::int AS n FROM account_metric_snapshots WHERE account_id = $1',
      [id],
    )
  ).n;
const emulatorRequests = () => emu.state.requests().length;

/** Everything an unauthorised call could have touched. */
async function footprint(id: string) {
  return {
    row: await rowOf(id),
    token: await tokenRowOf(id),
    events: await eventsOf(id),
    snapshots: await snapshotCount(id),
    emulator: emulatorRequests(),
  };
}

const connect = (user: User = owner, options = {}) => connectAccount(app, user.userId, options);

beforeAll(async () => {
  app = await startInstagramTestApp();
  ({ t, emu } = app);
  owner = await registerUser(t.url);
  other = await registerUser(t.url);
});

afterAll(async (file) => {
  try {
    // Log lines are written asynchronously: the last test's may land after its own scan.
    await expectNoTokenLeaked();
    if (everyTestRan(file)) {
      // The scans saw the whole file's traffic, not an empty run.
      expect(issuedTokens(emu).length).toBeGreaterThan(40);
      expect(bodies.length).toBeGreaterThan(100);
      expect(t.logs.some((l) => l.includes('Instagram account sync failed'))).toBe(true);
    }
  } finally {
    await app.close();
  }
});

beforeEach(() => {
  emu.state.clearInjections();
});

// Every test ends with the leak scan, so a leak fails the test that caused it, in any order.
afterEach(async () => {
  await expectNoTokenLeaked();
});

/**
 * No response, log line or account row may hold a token the emulator issued. Reads the answers
 * and log lines added since the last scan, and every account and event row.
 */
async function expectNoTokenLeaked(): Promise<void> {
  const rows = await t.db.manyOrNone<{ text: string }>(
    `SELECT row_to_json(a)::text AS text FROM client_accounts a
     UNION ALL SELECT row_to_json(e)::text FROM account_events e`,
  );
  const texts = [
    ...bodies.slice(scanned.bodies),
    ...t.logs.slice(scanned.logs),
    ...rows.map((r) => r.text),
  ];
  scanned.bodies = bodies.length;
  scanned.logs = t.logs.length;
  for (const token of issuedTokens(emu)) {
    const leak = texts.find((text) => text.includes(token));
    expect(leak, `token ${token.slice(0, 8)}… leaked`).toBeUndefined();
  }
}

/** False when the run was filtered (`-t`, `.only`): the file-wide floors do not apply then. */
function everyTestRan(task: RunnerTask): boolean {
  if (task.type === 'test') return task.mode === 'run';
  return 'tasks' in task && task.tasks.every(everyTestRan);
}

// The six spec routes plus the history, each with a body that would be valid.
const ROUTES: Array<[string, (id: string) => string, RequestOptions?]> = [
  ['GET', (id) => `${BASE}/${id}`],
  ['PATCH', (id) => `${BASE}/${id}`, { body: { displayName: 'Changed' } }],
  ['DELETE', (id) => `${BASE}/${id}`],
  ['POST', (id) => `${BASE}/${id}/sync`],
  ['POST', (id) => `${BASE}/${id}/refresh-status`],
  ['GET', (id) => `${BASE}/${id}/events`],
];

describe('authentication, ids, ownership', () => {
  const ALL_ROUTES: Array<[string, (id: string) => string, RequestOptions?]> = [
    ['GET', () => BASE],
    ...ROUTES,
  ];
  it.each(ALL_ROUTES)('401 without a session: %s', async (method, path, options) => {
    const res = await call(method, path(randomUUID()), undefined, options ?? {});
    expectError(res, 401);
  });

  it.each(ROUTES)('400 for a malformed id: %s', async (method, path, options) => {
    for (const id of ['not-a-uuid', '123', "1' OR '1'='1"]) {
      const res = await call(method, path(encodeURIComponent(id)), owner, options ?? {});
      expectError(res, 400, /id must be a UUID/);
    }
  });

  it.each(ROUTES)('404 for an account that does not exist: %s', async (method, path, options) => {
    const res = await call(method, path(randomUUID()), owner, options ?? {});
    expectError(res, 404, /Account not found/);
  });

  it("403 for another user's account on every route, with nothing changed", async () => {
    const { account } = await connect(owner);
    const before = await footprint(account.id);
    for (const [method, path, options] of ROUTES) {
      const res = await call(method, path(account.id), other, options ?? {});
      expectError(res, 403, /Access denied/);
    }
    expect(await footprint(account.id)).toEqual(before);
    // The owner still has it, untouched.
    expect((await call('GET', `${BASE}/${account.id}`, owner)).status).toBe(200);
  });
});

describe('GET /instagram/accounts', () => {
  let lister: User;
  beforeAll(async () => {
    lister = await registerUser(t.url);
    for (let i = 0; i < 25; i++) await connect(lister);
  });

  it('pages 25 accounts by 10: 10, 10, 5, each once, newest first, total 25', async () => {
    const expected = (
      await t.db.many<{ id: string }>(
        'SELECT id FROM client_accounts WHERE user_id = $1 ORDER BY created_at DESC, id DESC',
        [lister.userId],
      )
    ).map((r) => r.id);
    const sizes: number[] = [];
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const query: string = cursor ? `?limit=10&cursor=${encodeURIComponent(cursor)}` : '?limit=10';
      const res = await call('GET', `${BASE}${query}`, lister);
      expect(res.status).toBe(200);
      expect(res.body.total).toBe(25);
      sizes.push(res.body.accounts.length);
      seen.push(...res.body.accounts.map((a: { id: string }) => a.id));
      cursor = res.body.nextCursor;
    } while (cursor);
    expect(sizes).toEqual([10, 10, 5]);
    expect(seen).toEqual(expected);
  });

  it("defaults to 20 and shows only the caller's accounts, in the documented shape", async () => {
    const res = await call('GET', BASE, lister);
    expect(res.status).toBe(200);
    expect(res.body.accounts).toHaveLength(20);
    expect(res.body.nextCursor).toEqual(expect.any(String));
    const account = res.body.accounts[0];
    expect(Object.keys(account).sort()).toEqual(RESPONSE_KEYS);
    expect(account).toMatchObject({
      platform: 'instagram',
      status: 'active',
      statusDetail: null,
      rateLimitedUntil: null,
      accountType: 'business',
      permissions: ['instagram_business_basic'],
      createdAt: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T.*Z$/),
      tokenExpiresAt: expect.stringMatching(/Z$/),
      lastRefreshAt: null,
      lastRefreshError: null,
      refreshAttempts: 0,
    });
    const fresh = await registerUser(t.url);
    expect((await call('GET', BASE, fresh)).body).toEqual({
      accounts: [],
      total: 0,
      nextCursor: null,
    });
  });

  it.each([
    ['limit=0', /limit must be an integer from 1 to 100/],
    ['limit=101', /limit must be an integer from 1 to 100/],
    ['limit=abc', /limit must be an integer from 1 to 100/],
    ['limit=1.5', /limit must be an integer from 1 to 100/],
    ['cursor=not*base64', /cursor is not valid/],
    ['cursor=Zm9v', /cursor is not valid/],
    [`cursor=${Buffer.from('{"createdAt":"x","id":"y"}').toString('base64url')}`, /cursor/],
    [`cursor=${'A'.repeat(600)}`, /cursor/],
    ['sort=username', /sort should not exist/],
  ])('400 for ?%s', async (query, message) => {
    expectError(await call('GET', `${BASE}?${query}`, lister), 400, message);
  });
});

describe('GET /instagram/accounts/:id', () => {
  it('returns the account without a token or raw metadata', async () => {
    const connected = await connect();
    const res = await call('GET', `${BASE}/${connected.account.id}`, owner);
    expect(res.status).toBe(200);
    expect(Object.keys(res.body).sort()).toEqual(RESPONSE_KEYS);
    expect(res.body).toMatchObject({
      id: connected.account.id,
      username: connected.emulatorAccount.username,
      displayName: 'Test Seller',
      followerCount: 100,
      status: 'active',
    });
    expect(res.text).not.toContain(connected.accessToken);
    expect(res.text).not.toContain(connected.emulatorAccount.appScopedId);
  });
});

describe('PATCH /instagram/accounts/:id', () => {
  let target: ConnectedAccount;
  beforeAll(async () => {
    target = await connect();
  });

  it('updates the spec fields and records what changed', async () => {
    const res = await call('PATCH', `${BASE}/${target.account.id}`, owner, {
      body: {
        displayName: 'Lena – Home Baking',
        profilePictureUrl: 'https://cdn.example.com/p.jpg',
      },
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      displayName: 'Lena – Home Baking',
      profilePictureUrl: 'https://cdn.example.com/p.jpg',
    });
    const row = await rowOf(target.account.id);
    expect(row!.display_name).toBe('Lena – Home Baking');
    expect((await eventsOf(target.account.id)).at(-1)).toEqual({
      type: 'updated',
      data: {
        changed: {
          displayName: { from: 'Test Seller', to: 'Lena – Home Baking' },
          profilePictureUrl: { from: null, to: 'https://cdn.example.com/p.jpg' },
        },
      },
    });
    const cleared = await call('PATCH', `${BASE}/${target.account.id}`, owner, {
      body: { displayName: null },
    });
    expect(cleared.body.displayName).toBeNull();
  });

  it.each([
    ['userId', { userId: randomUUID() }, /userId should not exist/],
    ['platform', { platform: 'whatsapp' }, /platform should not exist/],
    ['platformAccountId', { platformAccountId: '1' }, /platformAccountId should not exist/],
    ['id', { id: randomUUID() }, /id should not exist/],
    ['followerCount', { followerCount: 1_000_000 }, /followerCount should not exist/],
    ['mediaCount', { mediaCount: 1 }, /mediaCount should not exist/],
    ['metadata', { metadata: { igId: '1' } }, /metadata should not exist/],
    ['permissions', { permissions: ['all'] }, /permissions should not exist/],
    ['tokenExpiresAt', { tokenExpiresAt: '2099-01-01' }, /tokenExpiresAt should not exist/],
    ['createdAt', { createdAt: '2000-01-01' }, /createdAt should not exist/],
    ['accountType', { accountType: 'business' }, /accountType should not exist/],
    ['biography', { biography: 'x' }, /biography should not exist/],
    ['a long username', { username: 'u'.repeat(256) }, /username must be an Instagram username/],
    ['a 31-char username', { username: 'u'.repeat(31) }, /username must be an Instagram username/],
    ['a username with spaces', { username: 'bad name' }, /username must be/],
    ['a null username', { username: null }, /username must be/],
    ['a long displayName', { displayName: 'd'.repeat(256) }, /displayName must be shorter/],
    [
      'a long profilePictureUrl',
      { profilePictureUrl: `https://cdn.example.com/${'p'.repeat(2030)}` },
      /profilePictureUrl must be an http or https URL/,
    ],
    ['a javascript: URL', { profilePictureUrl: 'javascript:alert(1)' }, /profilePictureUrl/],
    ['an ftp URL', { profilePictureUrl: 'ftp://example.com/p.jpg' }, /profilePictureUrl/],
    ['status active', { status: 'active' }, /status is managed by the service/],
    ['status rate_limited', { status: 'rate_limited' }, /status is managed by the service/],
    ['an unknown status', { status: 'paused' }, /status is managed by the service/],
    ['an empty body', {}, /Nothing to update/],
  ])('400 for %s, nothing written', async (_label, body, message) => {
    const before = await footprint(target.account.id);
    const res = await call('PATCH', `${BASE}/${target.account.id}`, owner, { body });
    expectError(res, 400, message);
    expect(await footprint(target.account.id)).toEqual(before);
  });

  it('400 for no body at all', async () => {
    expectError(
      await call('PATCH', `${BASE}/${target.account.id}`, owner),
      400,
      /Nothing to update/,
    );
  });

  it('status disconnected pauses the account: sync refuses, status check leaves it', async () => {
    const paused = await connect();
    const res = await call('PATCH', `${BASE}/${paused.account.id}`, owner, {
      body: { status: 'disconnected' },
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      status: 'disconnected',
      statusDetail: expect.stringMatching(/paused/),
    });
    expect((await eventsOf(paused.account.id)).at(-1)).toEqual({
      type: 'status_changed',
      data: { from: 'active', to: 'disconnected', reason: 'paused_by_user' },
    });
    const requests = emulatorRequests();
    expectError(await call('POST', `${BASE}/${paused.account.id}/sync`, owner), 409, /Reconnect/);
    const status = await call('POST', `${BASE}/${paused.account.id}/refresh-status`, owner);
    expect(status.body).toEqual({ status: 'disconnected' });
    expect(emulatorRequests()).toBe(requests);
  });
});

describe('POST /instagram/accounts/:id/sync', () => {
  it('updates the account from Instagram, snapshots the counts and records the changes', async () => {
    const connected = await connect();
    const { account, emulatorAccount } = connected;
    await control(emu, 'PATCH', `/accounts/${emulatorAccount.userId}`, {
      followersCount: 4321,
      followsCount: 12,
      mediaCount: 99,
      name: 'Renamed Seller',
      biography: 'Fresh bio',
      website: 'https://shop.example.com/',
    });
    const res = await call('POST', `${BASE}/${account.id}/sync`, owner);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      id: account.id,
      followerCount: 4321,
      followingCount: 12,
      mediaCount: 99,
      displayName: 'Renamed Seller',
      biography: 'Fresh bio',
      website: 'https://shop.example.com/',
      accountType: 'business',
      status: 'active',
      profilePictureUrl: expect.stringContaining(`${emu.url}/__pictures/`),
      lastSyncAt: expect.any(String),
    });
    const row = await rowOf(account.id);
    expect(row!.metadata).toMatchObject({
      igId: emulatorAccount.appScopedId,
      igBusinessAccountId: emulatorAccount.userId,
      lastMetadataUpdate: expect.any(String),
      profilePictureExpiresAt: expect.any(String),
    });
    expect(new Date(row!.metadata.profilePictureExpiresAt).getTime()).toBeGreaterThan(Date.now());
    expect(await snapshotCount(account.id)).toBe(1);
    const synced = (await eventsOf(account.id)).filter((e) => e.type === 'synced');
    expect(synced).toHaveLength(1);
    expect(synced[0]!.data).toMatchObject({
      reason: 'manual',
      changed: {
        followerCount: { from: 100, to: 4321 },
        followingCount: { from: 10, to: 12 },
        mediaCount: { from: 5, to: 99 },
        displayName: { from: 'Test Seller', to: 'Renamed Seller' },
        biography: { from: null, to: 'Fresh bio' },
      },
    });
    expect(synced[0]!.data.changed.username).toBeUndefined();
  });

  it('409 after Instagram invalidates the token (190/460): token_expired, details kept', async () => {
    const connected = await connect();
    await control(emu, 'POST', `/accounts/${connected.emulatorAccount.userId}/invalidate-tokens`, {
      reason: 'password_changed',
    });
    const res = await call('POST', `${BASE}/${connected.account.id}/sync`, owner);
    expectError(
      res,
      409,
      /^Instagram rejected this account's access \(code 190\/460: password changed\)\. Reconnect the account\.$/,
    );
    expect(res.text).not.toContain(connected.accessToken);
    const row = await rowOf(connected.account.id);
    expect(row!.status).toBe('token_expired');
    expect(row!.metadata.errorDetails).toEqual({
      code: '190',
      subcode: '460',
      message: expect.stringContaining('changed their password'),
      fbtraceId: expect.any(String),
      timestamp: expect.any(String),
    });
    const shown = await call('GET', `${BASE}/${connected.account.id}`, owner);
    expect(shown.body.statusDetail).toBe(
      'Instagram says the password was changed (190/460). Reconnect the account.',
    );
    // The change, then the owner's call to action (webhooks: account.needs_reconnect).
    expect((await eventsOf(connected.account.id)).slice(-2)).toEqual([
      {
        type: 'status_changed',
        data: {
          from: 'active',
          to: 'token_expired',
          code: '190',
          subcode: '460',
          reason: 'password_changed',
        },
      },
      {
        type: 'needs_reconnect',
        data: { status: 'token_expired', reason: 'token_invalid', code: '190', subcode: '460' },
      },
    ]);

    // Reconnecting re-activates the same account with a working token.
    const again = await connect(owner, { emulatorAccount: connected.emulatorAccount.userId });
    expect(again.outcome).toBe('reconnected');
    expect(again.account.id).toBe(connected.account.id);
    expect(again.account.status).toBe('active');
    expect((await call('POST', `${BASE}/${connected.account.id}/sync`, owner)).status).toBe(200);
  });

  it.each([
    ['rate_limit_app', 4, {}, [3500, 3600]],
    ['rate_limit_account', 80002, { regainMinutes: 7 }, [400, 420]],
  ] as const)(
    '429 with Retry-After under %s (code %s); the next sync waits without calling Instagram',
    async (kind, code, extra, [low, high]) => {
      const connected = await connect();
      const id = connected.account.id;
      await control(emu, 'POST', '/inject', {
        kind,
        account: connected.emulatorAccount.userId,
        ...extra,
      });
      const res = await call('POST', `${BASE}/${id}/sync`, owner);
      expectError(res, 429, /rate-limited this account until/);
      const retryAfter = Number(res.headers.get('retry-after'));
      expect(retryAfter).toBeGreaterThanOrEqual(low);
      expect(retryAfter).toBeLessThanOrEqual(high);
      const row = await rowOf(id);
      expect(row!.status).toBe('rate_limited');
      expect(row!.metadata.errorDetails.code).toBe(String(code));
      const until = new Date(row!.metadata.rateLimitedUntil).getTime();
      expect(until).toBeGreaterThan(Date.now() + (low - 5) * 1000);

      const requests = emulatorRequests();
      const again = await call('POST', `${BASE}/${id}/sync`, owner);
      expectError(again, 429);
      expect(Number(again.headers.get('retry-after'))).toBeLessThanOrEqual(retryAfter);
      expect((await call('POST', `${BASE}/${id}/refresh-status`, owner)).body).toEqual({
        status: 'rate_limited',
      });
      expect(emulatorRequests()).toBe(requests);

      const shown = await call('GET', `${BASE}/${id}`, owner);
      expect(shown.body.rateLimitedUntil).toBe(new Date(until).toISOString());
      expect(shown.body.statusDetail).toMatch(/^Rate limited by Instagram until \d\d:\d\d UTC\.$/);

      // Once the limit has lifted, a sync goes through and clears the marks.
      await t.db.none(
        `UPDATE client_accounts SET metadata = jsonb_set(metadata, '{rateLimitedUntil}', to_jsonb(now() - interval '1 second')) WHERE id = $1`,
        [id],
      );
      const ok = await call('POST', `${BASE}/${id}/sync`, owner);
      expect(ok.status).toBe(200);
      expect(ok.body).toMatchObject({
        status: 'active',
        rateLimitedUntil: null,
        statusDetail: null,
      });
      expect((await rowOf(id))!.metadata.rateLimitedUntil).toBeUndefined();
    },
  );

  it('502 when Instagram keeps failing beyond the retries; the third such sync in a row makes it error, a good one active again', async () => {
    const connected = await connect();
    const id = connected.account.id;
    await control(emu, 'POST', '/inject', {
      kind: 'transient',
      count: 6,
      account: connected.emulatorAccount.userId,
    });
    for (const [n, status] of [
      [1, 'active'],
      [2, 'active'],
      [3, 'error'],
    ] as const) {
      const requests = emulatorRequests();
      const res = await call('POST', `${BASE}/${id}/sync`, owner);
      expectError(res, 502, /temporary problem/);
      expect(emulatorRequests() - requests).toBe(2);
      const row = await rowOf(id);
      expect({ n, status: row!.status, count: row!.metadata.transientFailures }).toEqual({
        n,
        status,
        count: n,
      });
    }
    expect((await rowOf(id))!.metadata.errorDetails).toMatchObject({ code: '2' });

    const ok = await call('POST', `${BASE}/${id}/sync`, owner);
    expect(ok.body).toMatchObject({ status: 'active', statusDetail: null });
    const after = (await rowOf(id))!;
    expect(after.metadata.errorDetails).toBeUndefined();
    expect(after.metadata.transientFailures).toBeUndefined();
    expect(
      (await eventsOf(id)).filter((e) => e.type === 'status_changed').map((e) => e.data),
    ).toEqual([
      expect.objectContaining({ from: 'active', to: 'error', code: '2' }),
      { from: 'error', to: 'active', reason: 'sync_succeeded' },
    ]);
  });

  it('502 when Instagram hangs past the timeout (after two transient failures: error)', async () => {
    const connected = await connect();
    await t.db.none(
      `UPDATE client_accounts SET metadata = metadata || '{"transientFailures": 2}' WHERE id = $1`,
      [connected.account.id],
    );
    await control(emu, 'POST', '/inject', {
      kind: 'hang',
      delayMs: 1500,
      count: 2,
      account: connected.emulatorAccount.userId,
    });
    const started = Date.now();
    const res = await call('POST', `${BASE}/${connected.account.id}/sync`, owner);
    expectError(res, 502, /^Instagram did not answer in time; try again$/);
    expect(Date.now() - started).toBeLessThan(5000);
    const row = await rowOf(connected.account.id);
    expect(row!.status).toBe('error');
    expect(row!.metadata.errorDetails).toMatchObject({ code: 'TIMEOUT' });
    const shown = await call('GET', `${BASE}/${connected.account.id}`, owner);
    expect(shown.body.statusDetail).toMatch(/did not answer in time/);
  });

  it('502 when the connection drops: active until the third time in a row', async () => {
    const connected = await connect();
    const id = connected.account.id;
    await control(emu, 'POST', '/inject', {
      kind: 'drop',
      count: 6,
      account: connected.emulatorAccount.userId,
    });
    const statuses: string[] = [];
    for (let i = 0; i < 3; i++) {
      expectError(await call('POST', `${BASE}/${id}/sync`, owner), 502);
      statuses.push((await rowOf(id))!.status);
    }
    expect(statuses).toEqual(['active', 'active', 'error']);
    expect((await rowOf(id))!.metadata.errorDetails.code).toBe('NETWORK');
  });

  it('409 (reconnect) for an account without a stored token', async () => {
    const connected = await connect();
    await t.db.none('DELETE FROM account_tokens WHERE account_id = $1', [connected.account.id]);
    expectError(
      await call('POST', `${BASE}/${connected.account.id}/sync`, owner),
      409,
      /Reconnect the account/,
    );
  });
});

describe('POST /instagram/accounts/:id/refresh-status', () => {
  it('a token past its expiry is token_expired without asking Instagram', async () => {
    const connected = await connect();
    await t.db.none(
      "UPDATE client_accounts SET token_expires_at = now() - interval '1 hour' WHERE id = $1",
      [connected.account.id],
    );
    const requests = emulatorRequests();
    const res = await call('POST', `${BASE}/${connected.account.id}/refresh-status`, owner);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'token_expired' });
    expect(emulatorRequests()).toBe(requests);
    const shown = await call('GET', `${BASE}/${connected.account.id}`, owner);
    expect(shown.body.statusDetail).toMatch(
      /^The token expired on .+ UTC\. Reconnect the account\.$/,
    );
  });

  it('a valid token makes the account active again', async () => {
    const connected = await connect();
    await t.db.none("UPDATE client_accounts SET status = 'error' WHERE id = $1", [
      connected.account.id,
    ]);
    const requests = emulatorRequests();
    const res = await call('POST', `${BASE}/${connected.account.id}/refresh-status`, owner);
    expect(res.body).toEqual({ status: 'active' });
    expect(emulatorRequests()).toBe(requests + 1);
    expect((await rowOf(connected.account.id))!.status).toBe('active');
  });

  it('an invalidated token is token_expired', async () => {
    const connected = await connect();
    await control(emu, 'POST', `/accounts/${connected.emulatorAccount.userId}/invalidate-tokens`, {
      reason: 'invalid',
    });
    const res = await call('POST', `${BASE}/${connected.account.id}/refresh-status`, owner);
    expect(res.body).toEqual({ status: 'token_expired' });
    expect((await rowOf(connected.account.id))!.metadata.errorDetails).toMatchObject({
      code: '190',
      subcode: '467',
    });
  });
});

describe('DELETE /instagram/accounts/:id', () => {
  it('204; token and row gone; the disconnect and its revocation outcome kept in history', async () => {
    const connected = await connect();
    const id = connected.account.id;
    expect(await tokenRowOf(id)).not.toBeNull();
    const res = await call('DELETE', `${BASE}/${id}`, owner);
    expect(res.status).toBe(204);
    expect(res.text).toBe('');
    expect(await tokenRowOf(id)).toBeNull();
    expect(await rowOf(id)).toBeNull();
    expectError(await call('GET', `${BASE}/${id}`, owner), 404);
    expectError(await call('DELETE', `${BASE}/${id}`, owner), 404);
    expectError(await call('GET', `${BASE}/${id}/events`, owner), 404);
    expect((await eventsOf(id)).at(-1)).toEqual({
      type: 'disconnected',
      data: {
        by: 'user',
        username: connected.emulatorAccount.username,
        platformAccountId: connected.emulatorAccount.userId,
        revocation: {
          revoked: false,
          reason: 'unsupported',
          detail: expect.stringMatching(/no token revocation endpoint/),
        },
      },
    });
  });
});

describe('GET /instagram/accounts/:id/events', () => {
  it('pages the history newest first', async () => {
    const connected = await connect();
    for (const name of ['One', 'Two', 'Three', 'Four']) {
      await call('PATCH', `${BASE}/${connected.account.id}`, owner, {
        body: { displayName: name },
      });
    }
    const pages: any[][] = [];
    let cursor: string | null = null;
    do {
      const query: string = cursor ? `?limit=2&cursor=${cursor}` : '?limit=2';
      const res = await call('GET', `${BASE}/${connected.account.id}/events${query}`, owner);
      expect(res.status).toBe(200);
      pages.push(res.body.events);
      cursor = res.body.nextCursor;
    } while (cursor);
    expect(pages.map((p) => p.length)).toEqual([2, 2, 1]);
    const all = pages.flat();
    expect(all.map((e) => e.type)).toEqual([
      'updated',
      'updated',
      'updated',
      'updated',
      'connected',
    ]);
    expect(all[0].data).toEqual({ changed: { displayName: { from: 'Three', to: 'Four' } } });
    for (const event of all) {
      expect(Object.keys(event).sort()).toEqual(['createdAt', 'data', 'id', 'type']);
    }
    expectError(
      await call('GET', `${BASE}/${connected.account.id}/events?cursor=Zm9v`, owner),
      400,
      /cursor/,
    );
    expectError(await call('GET', `${BASE}/${connected.account.id}/events?limit=0`, owner), 400);
  });
});

describe('createAccount and refreshToken against the database and the emulator', () => {
  const jobsOf = (accountId: string) =>
    t.db.manyOrNone<{ data: any; state: string }>(
      "SELECT data, state FROM pgboss.job WHERE name = 'account.sync' AND singleton_key = $1",
      [accountId],
    );

  it('queues one sync job with the account, in the same transaction', async () => {
    const connected = await connect();
    expect(connected.outcome).toBe('created');
    expect(await jobsOf(connected.account.id)).toEqual([
      { data: { accountId: connected.account.id, reason: 'connect' }, state: 'created' },
    ]);
    expect((await eventsOf(connected.account.id)).map((e) => e.type)).toEqual(['connected']);
  });

  it("refuses to move another user's account: 409, row and token unchanged", async () => {
    const connected = await connect(owner);
    const before = await footprint(connected.account.id);
    const error = await connect(other, { emulatorAccount: connected.emulatorAccount.userId }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ConflictException);
    expect((error as Error).message).toBe(
      'This Instagram account is already connected to another ssell user',
    );
    const after = await footprint(connected.account.id);
    expect({ ...after, emulator: 0 }).toEqual({ ...before, emulator: 0 });
    expect(
      await t.db.one('SELECT count(*)::int AS n FROM client_accounts WHERE user_id = $1', [
        other.userId,
      ]),
    ).toEqual({ n: 0 });
  });

  it('20 concurrent connects of one account: one row, one token, one queued job', async () => {
    const first = await connect(owner);
    const ref = first.emulatorAccount.userId;
    const results = await Promise.all(
      Array.from({ length: 20 }, () => connect(owner, { emulatorAccount: ref })),
    );
    expect(new Set(results.map((r) => r.account.id))).toEqual(new Set([first.account.id]));
    expect(
      await t.db.one(
        'SELECT count(*)::int AS n FROM client_accounts WHERE platform_account_id = $1',
        [ref],
      ),
    ).toEqual({ n: 1 });
    expect(await jobsOf(first.account.id)).toHaveLength(1);
    const stored = await t.app.get(TokenVault).read(first.account.id);
    expect(results.map((r) => r.accessToken)).toContain(stored!.accessToken);
  });

  it('refreshes a long-lived token that is old enough, and skips a young one', async () => {
    const old = await connect(owner, { tokenAgeMs: 25 * 3_600_000 });
    const outcome = await app.tokens.refreshToken(old.account.id);
    expect(outcome).toMatchObject({ status: 'refreshed', expiresAt: expect.any(Date) });
    const stored = await t.app.get(TokenVault).read(old.account.id);
    expect(stored!.accessToken).not.toBe(old.accessToken);
    expect(issuedTokens(emu)).toContain(stored!.accessToken);
    expect((await rowOf(old.account.id))!.token_expires_at).toEqual(stored!.expiresAt);
    expect((await eventsOf(old.account.id)).at(-1)!.type).toBe('token_refreshed');
    expect((await call('POST', `${BASE}/${old.account.id}/sync`, owner)).status).toBe(200);

    const young = await connect(owner);
    expect(await app.tokens.refreshToken(young.account.id)).toMatchObject({
      status: 'skipped',
      reason: 'too_young',
      retryAt: expect.any(Date),
    });
  });
});

describe('Swagger', () => {
  it('documents every route with its response types', async () => {
    const doc = (await call('GET', '/docs-json', undefined)).body;
    const paths = doc.paths;
    expect(Object.keys(paths['/instagram/accounts']).sort()).toEqual(['get']);
    expect(Object.keys(paths['/instagram/accounts/{id}']).sort()).toEqual([
      'delete',
      'get',
      'patch',
    ]);
    expect(paths['/instagram/accounts/{id}/sync'].post.responses).toHaveProperty('429');
    expect(paths['/instagram/accounts/{id}/sync'].post.responses).toHaveProperty('502');
    expect(paths['/instagram/accounts/{id}/refresh-status'].post.responses['200']).toBeDefined();
    expect(paths['/instagram/accounts/{id}/events'].get.responses['200']).toBeDefined();
    const schema = doc.components.schemas.AccountResponseDto;
    expect(Object.keys(schema.properties).sort()).toEqual(RESPONSE_KEYS);
    expect(schema.required.sort()).toEqual(RESPONSE_KEYS);
  });
});

describe('leaks', () => {
  it('a failed sync, a token refresh and a disconnect leave no token in answers, logs or rows', async () => {
    const connected = await connect(owner, { tokenAgeMs: 25 * 3_600_000 });
    const id = connected.account.id;
    const logsBefore = t.logs.length;
    await control(emu, 'POST', '/inject', {
      kind: 'transient',
      count: 2,
      account: connected.emulatorAccount.userId,
    });
    expectError(await call('POST', `${BASE}/${id}/sync`, owner), 502);
    expect(await app.tokens.refreshToken(id)).toMatchObject({ status: 'refreshed' });
    expect((await call('DELETE', `${BASE}/${id}`, owner)).status).toBe(204);
    await vi.waitFor(() =>
      expect(
        t.logs.slice(logsBefore).some((l) => l.includes('Instagram account sync failed')),
      ).toBe(true),
    );
    expect(issuedTokens(emu)).toContain(connected.accessToken);
    await expectNoTokenLeaked();
  });
});
