import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccountEventType } from '../src/domain/entities/account-event.entity';
import {
  AccountStatus,
  type ClientAccount,
  InstagramAccountType,
  SocialPlatform,
} from '../src/domain/entities/client-account.entity';
import type { ConnectAccountInput } from '../src/domain/repositories/client-account.repository.interface';
import type { Queryable } from '../src/domain/repositories/queryable';
import { generateKeyringEntry } from '../src/config/keyring';
import { TokenCipher } from '../src/infrastructure/crypto/token-cipher';
import { TokenVault } from '../src/infrastructure/crypto/token-vault';
import {
  createDatabase,
  type DatabaseHandle,
  type Db,
} from '../src/infrastructure/database/database';
import { PostgresAccountEventRepository } from '../src/infrastructure/database/repositories/postgres-account-event.repository';
import { PostgresAccountMetricsRepository } from '../src/infrastructure/database/repositories/postgres-account-metrics.repository';
import { PostgresClientAccountRepository } from '../src/infrastructure/database/repositories/postgres-client-account.repository';
import { createTestDatabase, type TestDatabase } from './helpers/database';

let database: TestDatabase;
let handle: DatabaseHandle;
let db: Db;
let repo: PostgresClientAccountRepository;
let events: PostgresAccountEventRepository;

const HOUR = 3_600_000;
let sequence = 0;
const platformId = () => `17841${Date.now()}${String((sequence += 1)).padStart(4, '0')}`;

async function newUser(): Promise<string> {
  const row = await db.one<{ id: string }>(
    `INSERT INTO users (email, password_hash) VALUES ($1, 'scrypt$test') RETURNING id`,
    [`repo.${randomUUID()}@example.com`],
  );
  return row.id;
}

function connectInput(
  userId: string,
  overrides: Partial<ConnectAccountInput> = {},
): ConnectAccountInput {
  return {
    userId,
    platformAccountId: platformId(),
    username: `seller_${(sequence += 1)}`,
    displayName: 'Seller',
    followerCount: 10,
    followingCount: 2,
    mediaCount: 3,
    accountType: InstagramAccountType.BUSINESS,
    metadata: { igId: '9007199254740993' },
    permissions: ['instagram_business_basic'],
    tokenExpiresAt: new Date(Date.now() + 60 * 24 * HOUR),
    ...overrides,
  };
}

/**
 * A maker of `userId`'s accounts whose tokens expire the given hours from now (`null`: no expiry
 * known), for the expiry-window queries.
 */
function accountsExpiringFor(userId: string) {
  return (username: string, expiresInHours: number | null, status = AccountStatus.ACTIVE) =>
    repo.create({
      userId,
      platformAccountId: platformId(),
      username,
      status,
      tokenExpiresAt:
        expiresInHours === null ? undefined : new Date(Date.now() + expiresInHours * HOUR),
    });
}

/** `userId`'s usernames in a query's answer, in its order (other tests' accounts left out). */
function usernamesOf(userId: string) {
  return (list: ClientAccount[]) => list.filter((a) => a.userId === userId).map((a) => a.username);
}

async function rawRow(id: string): Promise<Record<string, unknown> | null> {
  return db.oneOrNone('SELECT * FROM client_accounts WHERE id = $1', [id]);
}

beforeAll(async () => {
  database = await createTestDatabase();
  handle = createDatabase(database.url, 10, () => undefined);
  db = handle.db;
  repo = new PostgresClientAccountRepository(db);
  events = new PostgresAccountEventRepository(db);
});

afterAll(async () => {
  await handle.close();
  await database.drop();
});

/** A user's count of accounts, as the list reads it. */
const countOf = async (userId: string) => (await repo.listPageWithTotal(userId, 1, null)).total;

describe('create / find', () => {
  it('creates with the spec defaults and reads it back typed', async () => {
    const userId = await newUser();
    const created = await repo.create({
      userId,
      platformAccountId: '17841405822304914',
      username: 'metricsaurus',
    });
    expect(created).toMatchObject({
      userId,
      platform: SocialPlatform.INSTAGRAM,
      platformAccountId: '17841405822304914',
      username: 'metricsaurus',
      followerCount: 0,
      followingCount: 0,
      mediaCount: 0,
      status: AccountStatus.ACTIVE,
      accountType: InstagramAccountType.PERSONAL,
      metadata: {},
      permissions: [],
    });
    expect(created.displayName).toBeUndefined();
    expect(created.createdAt).toBeInstanceOf(Date);
    expect(await repo.findById(created.id)).toEqual(created);
    expect(await repo.findByPlatformAccountId('instagram', '17841405822304914')).toEqual(created);
    expect(await repo.findByPlatformAccountId('whatsapp', '17841405822304914')).toBeNull();
    expect(await repo.findById(randomUUID())).toBeNull();
  });

  it('refuses a create without its identity', async () => {
    await expect(repo.create({ username: 'x' })).rejects.toThrow(TypeError);
  });

  it('refuses a duplicate (platform, platform_account_id) with a unique violation', async () => {
    const userId = await newUser();
    const id = platformId();
    await repo.create({ userId, platformAccountId: id, username: 'first' });
    await expect(
      repo.create({ userId, platformAccountId: id, username: 'second' }),
    ).rejects.toMatchObject({ code: '23505', constraint: 'unique_platform_account' });
  });

  it("lists a user's accounts newest first, and only theirs", async () => {
    const [a, b] = [await newUser(), await newUser()];
    const first = await repo.create({ userId: a, platformAccountId: platformId(), username: 'a1' });
    const second = await repo.create({
      userId: a,
      platformAccountId: platformId(),
      username: 'a2',
    });
    await repo.create({ userId: b, platformAccountId: platformId(), username: 'b1' });
    expect((await repo.findByUserId(a)).map((x) => x.id)).toEqual([second.id, first.id]);
    expect(await countOf(a)).toBe(2);
    expect(await countOf(b)).toBe(1);
    expect(await countOf(randomUUID())).toBe(0);
  });

  it('finds accounts by either Instagram id (professional or app-scoped)', async () => {
    const userId = await newUser();
    const professional = platformId();
    const appScoped = `2${Date.now()}77`;
    const { account } = (await repo.upsertConnected(
      connectInput(userId, { platformAccountId: professional, metadata: { igId: appScoped } }),
    )) as { account: ClientAccount };
    expect((await repo.findByInstagramUserId(professional)).map((x) => x.id)).toEqual([account.id]);
    expect((await repo.findByInstagramUserId(appScoped)).map((x) => x.id)).toEqual([account.id]);
    expect(await repo.findByInstagramUserId('1')).toEqual([]);
  });
});

describe('update', () => {
  it('writes whitelisted fields, JSON included, and null clears', async () => {
    const userId = await newUser();
    const account = await repo.create({
      userId,
      platformAccountId: platformId(),
      username: 'before',
      displayName: 'Before',
    });
    const until = new Date(Date.now() + HOUR);
    const updated = await repo.update(account.id, {
      username: 'after',
      displayName: null,
      followerCount: 99,
      status: AccountStatus.RATE_LIMITED,
      metadata: { rateLimitedUntil: until, igId: '1' },
      permissions: ['a', 'b'],
      lastSyncAt: until,
    });
    expect(updated).toMatchObject({
      username: 'after',
      followerCount: 99,
      status: AccountStatus.RATE_LIMITED,
      metadata: { rateLimitedUntil: until, igId: '1' },
      permissions: ['a', 'b'],
      lastSyncAt: until,
    });
    expect(updated!.displayName).toBeUndefined();
    expect(await repo.update(account.id, {})).toEqual(await repo.findById(account.id));
    expect(await repo.update(randomUUID(), { username: 'ghost' })).toBeNull();
  });

  it.each([
    'userId',
    'id',
    'platform',
    'platformAccountId',
    'createdAt',
    'updatedAt',
    "user_id = 'x' --",
  ])('refuses the non-whitelisted key %s and changes nothing', async (key) => {
    const userId = await newUser();
    const account = await repo.create({ userId, platformAccountId: platformId(), username: 'u' });
    const before = await rawRow(account.id);
    await expect(
      repo.update(account.id, { username: 'changed', [key]: randomUUID() }),
    ).rejects.toThrow(TypeError);
    expect(await rawRow(account.id)).toEqual(before);
  });

  it('moves updated_at through the trigger, and keeps created_at', async () => {
    const userId = await newUser();
    const account = await repo.create({ userId, platformAccountId: platformId(), username: 'u' });
    await new Promise((resolve) => setTimeout(resolve, 15));
    const updated = await repo.update(account.id, { displayName: 'New' });
    expect(updated!.updatedAt.getTime()).toBeGreaterThan(account.updatedAt.getTime());
    expect(updated!.createdAt).toEqual(account.createdAt);
    await new Promise((resolve) => setTimeout(resolve, 15));
    await repo.updateStatus(account.id, AccountStatus.ERROR);
    const after = await repo.findById(account.id);
    expect(after!.status).toBe(AccountStatus.ERROR);
    expect(after!.updatedAt.getTime()).toBeGreaterThan(updated!.updatedAt.getTime());
  });

  it('updateMetadata replaces metadata and stamps last_sync_at; dates come back as Dates', async () => {
    const userId = await newUser();
    const account = await repo.create({ userId, platformAccountId: platformId(), username: 'u' });
    const when = new Date('2030-01-02T03:04:05.678Z');
    await repo.updateMetadata(account.id, {
      lastMetadataUpdate: when,
      errorDetails: { code: '190', message: 'dead token', timestamp: when, subcode: '460' },
    });
    const after = await repo.findById(account.id);
    expect(after!.metadata).toEqual({
      lastMetadataUpdate: when,
      errorDetails: { code: '190', message: 'dead token', timestamp: when, subcode: '460' },
    });
    expect(after!.lastSyncAt).toBeInstanceOf(Date);
  });

  it('rejects a status the CHECK constraint does not know', async () => {
    const userId = await newUser();
    const account = await repo.create({ userId, platformAccountId: platformId(), username: 'u' });
    await expect(repo.updateStatus(account.id, 'paused' as AccountStatus)).rejects.toMatchObject({
      code: '23514',
    });
  });

  it('deletes', async () => {
    const userId = await newUser();
    const account = await repo.create({ userId, platformAccountId: platformId(), username: 'u' });
    await repo.delete(account.id);
    expect(await repo.findById(account.id)).toBeNull();
    await expect(repo.delete(account.id)).resolves.toBeUndefined();
  });
});

describe('findExpiringSoon', () => {
  it.each([
    ['a fraction', 1.5],
    ['zero', 0],
    ['a negative number', -1],
    ['more than a year', 8761],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['an injection string', "1 hours'; DROP TABLE users; --"],
    ['a numeric string', '24'],
  ])('rejects %s with a RangeError before any SQL', async (_label, hours) => {
    await expect(repo.findExpiringSoon(hours as number)).rejects.toThrow(RangeError);
  });

  it('binds the window and returns only active accounts inside it, soonest first', async () => {
    const userId = await newUser();
    const make = accountsExpiringFor(userId);
    const in10h = await make('in10h', 10);
    const in2h = await make('in2h', 2);
    const in48h = await make('in48h', 48);
    await make('erroredIn2h', 2, AccountStatus.ERROR);
    await make('never', null);
    const mine = usernamesOf(userId);
    expect(mine(await repo.findExpiringSoon(24))).toEqual([in2h.username, in10h.username]);
    expect(mine(await repo.findExpiringSoon(72))).toEqual([
      in2h.username,
      in10h.username,
      in48h.username,
    ]);
    expect(mine(await repo.findExpiringSoon(1))).toEqual([]);
    // The injection attempt above reached no SQL.
    expect(await db.one('SELECT count(*)::int AS n FROM users')).toEqual({
      n: expect.any(Number),
    });
  });
});

describe('findRefreshable', () => {
  it.each([
    ['a fraction', 1.5],
    ['zero', 0],
    ['more than a year', 8761],
    ['NaN', Number.NaN],
    ['an injection string', "1 hours'; DROP TABLE users; --"],
    ['a numeric string', '24'],
  ])('rejects hours of %s with a RangeError before any SQL', async (_label, hours) => {
    await expect(repo.findRefreshable(hours as number, 10)).rejects.toThrow(RangeError);
  });

  it.each([
    ['zero', 0],
    ['a negative number', -5],
    ['a fraction', 2.5],
    ['more than 10000', 10_001],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['a numeric string', '10'],
  ])('rejects a limit of %s with a RangeError before any SQL', async (_label, limit) => {
    await expect(repo.findRefreshable(24, limit as number)).rejects.toThrow(RangeError);
  });

  it('returns active, rate-limited and failed accounts inside the window, soonest first', async () => {
    const userId = await newUser();
    const make = accountsExpiringFor(userId);
    const active = await make('r_active', 10, AccountStatus.ACTIVE);
    const failed = await make('r_error', 2, AccountStatus.ERROR);
    const limited = await make('r_limited', 5, AccountStatus.RATE_LIMITED);
    // Already past its expiry: still returned, so the sweep can mark it expired.
    const lapsedFailure = await make('r_lapsed_error', -3, AccountStatus.ERROR);
    const later = await make('r_later', 48, AccountStatus.ERROR);
    await make('r_expired', 1, AccountStatus.TOKEN_EXPIRED);
    await make('r_disconnected', 1, AccountStatus.DISCONNECTED);
    await make('r_no_expiry', null, AccountStatus.ACTIVE);
    const mine = usernamesOf(userId);

    expect(mine(await repo.findRefreshable(24, 10_000))).toEqual([
      lapsedFailure.username,
      failed.username,
      limited.username,
      active.username,
    ]);
    expect(mine(await repo.findRefreshable(72, 10_000))).toEqual([
      lapsedFailure.username,
      failed.username,
      limited.username,
      active.username,
      later.username,
    ]);
    // The spec's findExpiringSoon is unchanged: active accounts only.
    expect(mine(await repo.findExpiringSoon(24))).toEqual([active.username]);
    // The injection attempt above reached no SQL.
    expect(await db.one('SELECT count(*)::int AS n FROM users')).toEqual({
      n: expect.any(Number),
    });
  });

  it('returns at most `limit` accounts: the first ones of the full, ordered list', async () => {
    const make = accountsExpiringFor(await newUser());
    for (const [i, status] of [
      AccountStatus.ACTIVE,
      AccountStatus.ERROR,
      AccountStatus.RATE_LIMITED,
    ].entries()) {
      await make(`r_batch_${i}`, i + 1, status);
    }
    const all = await repo.findRefreshable(24, 10_000);
    expect(all.length).toBeGreaterThanOrEqual(3);
    const expiries = all.map((a) => a.tokenExpiresAt!.getTime());
    expect(expiries).toEqual([...expiries].sort((a, b) => a - b));
    const two = await repo.findRefreshable(24, 2);
    expect(two.map((a) => a.id)).toEqual(all.slice(0, 2).map((a) => a.id));
  });
});

describe('findRefreshable: backoff', () => {
  it('leaves out a token backing off until its next attempt, unless it is near expiry or past it', async () => {
    const userId = await newUser();
    const make = accountsExpiringFor(userId);
    const now = new Date();
    const backoff = (nextInHours: number, expiresInHours: number) => ({
      tokenRefresh: {
        tokenExpiresAt: new Date(now.getTime() + expiresInHours * HOUR),
        attempts: 2,
        warnedDays: [],
        nextAttemptAt: new Date(now.getTime() + nextInHours * HOUR),
      },
    });
    const waiting = await make('b_waiting', 20 * 24);
    const retryNow = await make('b_retry_now', 21 * 24);
    const nearExpiry = await make('b_near', 5 * 24);
    const lapsed = await make('b_lapsed', -1);
    await repo.update(waiting.id, { metadata: backoff(3, 20 * 24) });
    await repo.update(retryNow.id, { metadata: backoff(-1, 21 * 24) });
    await repo.update(nearExpiry.id, { metadata: backoff(3, 5 * 24) });
    await repo.update(lapsed.id, { metadata: backoff(3, -1) });
    const mine = usernamesOf(userId);
    const window = 30 * 24;
    expect(mine(await repo.findRefreshable(window, 10_000, { now }))).toEqual([
      'b_lapsed',
      'b_retry_now',
    ]);
    expect(
      mine(await repo.findRefreshable(window, 10_000, { now, revisitWithinHours: 14 * 24 })),
    ).toEqual(['b_lapsed', 'b_near', 'b_retry_now']);
    // Counted from the `now` given: four hours on, the waiting one is due too.
    const later = new Date(now.getTime() + 4 * HOUR);
    expect(mine(await repo.findRefreshable(window, 10_000, { now: later }))).toEqual([
      'b_lapsed',
      'b_near',
      'b_waiting',
      'b_retry_now',
    ]);
  });
});

describe('listIds', () => {
  it("pages every id in id order, or one user's", async () => {
    const userId = await newUser();
    const make = accountsExpiringFor(userId);
    const made = await Promise.all([0, 1, 2, 3, 4].map((i) => make(`ids_${i}`, null)));
    const expected = made.map((a) => a.id).sort();
    const first = await repo.listIds({ userId, limit: 2 });
    const second = await repo.listIds({ userId, afterId: first[1]!, limit: 2 });
    const third = await repo.listIds({ userId, afterId: second[1]!, limit: 2 });
    expect([...first, ...second, ...third]).toEqual(expected);
    const all = await repo.listIds({ limit: 10_000 });
    expect(all).toEqual([...all].sort());
    expect(all).toEqual(expect.arrayContaining(expected));
    await expect(repo.listIds({ limit: 0 })).rejects.toThrow(RangeError);
  });
});

describe('listPageWithTotal (keyset)', () => {
  it('pages 45 rows with ties in created_at: every row exactly once, in order', async () => {
    const userId = await newUser();
    // 15 instants × 3 rows each; some instants differ only in microseconds.
    await db.none(
      `INSERT INTO client_accounts (user_id, platform, platform_account_id, username, created_at)
       SELECT $1, 'instagram', $2 || g, 'tie_' || g,
              timestamptz '2030-01-01 00:00:00Z' + ((g / 3) * interval '1 microsecond')
       FROM generate_series(0, 44) AS g`,
      [userId, `p${Date.now()}_`],
    );
    const expected = (
      await db.many<{ id: string }>(
        'SELECT id FROM client_accounts WHERE user_id = $1 ORDER BY created_at DESC, id DESC',
        [userId],
      )
    ).map((r) => r.id);
    expect(expected).toHaveLength(45);

    for (const size of [10, 15, 1, 100]) {
      const seen: string[] = [];
      const sizes: number[] = [];
      let after = null;
      for (let guard = 0; guard < 100; guard++) {
        const page = await repo.listPageWithTotal(userId, size, after);
        expect(page.total).toBe(45);
        seen.push(...page.accounts.map((a) => a.id));
        sizes.push(page.accounts.length);
        if (!page.next) break;
        after = page.next;
      }
      expect(seen).toEqual(expected);
      expect(sizes.at(-1)).toBe(45 % size || Math.min(size, 45));
    }
  });

  it('has a cursor at microsecond precision and an empty first page for a new user', async () => {
    const userId = await newUser();
    await repo.create({ userId, platformAccountId: platformId(), username: 'a' });
    await repo.create({ userId, platformAccountId: platformId(), username: 'b' });
    const page = await repo.listPageWithTotal(userId, 1, null);
    expect(page.next!.createdAt).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/);
    expect(await repo.listPageWithTotal(randomUUID(), 10, null)).toEqual({
      accounts: [],
      next: null,
      total: 0,
      currentId: null,
    });
  });
});

describe('upsertConnected', () => {
  it("creates, then re-activates the owner's row, clearing the old error marks", async () => {
    const userId = await newUser();
    const input = connectInput(userId);
    const created = await repo.upsertConnected(input);
    expect(created.outcome).toBe('created');
    const { account } = created as { account: ClientAccount };
    expect(account).toMatchObject({ status: AccountStatus.ACTIVE, username: input.username });

    await repo.update(account.id, {
      status: AccountStatus.TOKEN_EXPIRED,
      metadata: {
        ...account.metadata,
        lastMetadataUpdate: new Date('2030-01-01T00:00:00Z'),
        errorDetails: { code: '190', message: 'x', timestamp: new Date() },
        rateLimitedUntil: new Date(),
      },
    });
    const again = await repo.upsertConnected({
      ...input,
      username: 'renamed',
      displayName: undefined,
      followerCount: 50,
      metadata: { igBusinessAccountId: input.platformAccountId },
      tokenExpiresAt: new Date('2031-01-01T00:00:00Z'),
    });
    expect(again).toMatchObject({ outcome: 'reconnected', previousStatus: 'token_expired' });
    const reconnected = (again as { account: ClientAccount }).account;
    expect(reconnected.id).toBe(account.id);
    expect(reconnected).toMatchObject({
      status: AccountStatus.ACTIVE,
      username: 'renamed',
      // Not given this time: the old value stays.
      displayName: input.displayName,
      followerCount: 50,
      tokenExpiresAt: new Date('2031-01-01T00:00:00Z'),
    });
    expect(reconnected.metadata).toEqual({
      igId: '9007199254740993',
      igBusinessAccountId: input.platformAccountId,
      lastMetadataUpdate: new Date('2030-01-01T00:00:00Z'),
    });
  });

  it("leaves another user's account untouched: owned_by_other", async () => {
    const [owner, intruder] = [await newUser(), await newUser()];
    const input = connectInput(owner);
    const { account } = (await repo.upsertConnected(input)) as { account: ClientAccount };
    const before = await rawRow(account.id);
    const outcome = await repo.upsertConnected({
      ...connectInput(intruder, { platformAccountId: input.platformAccountId }),
      username: 'hijack',
    });
    expect(outcome).toEqual({ outcome: 'owned_by_other' });
    expect(await rawRow(account.id)).toEqual(before);
    expect(await countOf(intruder)).toBe(0);
  });

  it('20 concurrent connects of one account make one row', async () => {
    const userId = await newUser();
    const input = connectInput(userId);
    const outcomes = await Promise.all(
      Array.from({ length: 20 }, () => repo.upsertConnected(input)),
    );
    const rows = await db.many('SELECT id FROM client_accounts WHERE platform_account_id = $1', [
      input.platformAccountId,
    ]);
    expect(rows).toHaveLength(1);
    expect(outcomes.filter((o) => o.outcome === 'created')).toHaveLength(1);
    expect(outcomes.filter((o) => o.outcome === 'reconnected')).toHaveLength(19);
    expect(new Set(outcomes.map((o) => (o as { account: ClientAccount }).account.id))).toEqual(
      new Set([rows[0].id]),
    );
  });
});

describe('findByIdForUpdate, snapshots', () => {
  it('locks the row until the transaction ends', async () => {
    const userId = await newUser();
    const account = await repo.create({ userId, platformAccountId: platformId(), username: 'u' });
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let locked!: () => void;
    const isLocked = new Promise<void>((resolve) => (locked = resolve));
    const holder = db.tx(async (tx) => {
      expect((await repo.findByIdForUpdate(account.id, tx))!.id).toBe(account.id);
      locked();
      await held;
    });
    await isLocked;
    await expect(
      db.tx(async (tx) => {
        await tx.none("SET LOCAL lock_timeout = '150ms'");
        return repo.findByIdForUpdate(account.id, tx);
      }),
    ).rejects.toMatchObject({ code: '55P03' });
    release();
    await holder;
    await db.tx(async (tx) => {
      expect(await repo.findByIdForUpdate(account.id, tx)).not.toBeNull();
      expect(await repo.findByIdForUpdate(randomUUID(), tx)).toBeNull();
    });
  });

  it('records metric snapshots', async () => {
    const userId = await newUser();
    const account = await repo.create({
      userId,
      platformAccountId: platformId(),
      username: 'u',
      followerCount: 7,
      followingCount: 8,
      mediaCount: 9,
    });
    await repo.recordMetricSnapshot(account);
    expect(
      await db.many(
        'SELECT follower_count, following_count, media_count FROM account_metric_snapshots WHERE account_id = $1',
        [account.id],
      ),
    ).toEqual([{ follower_count: 7, following_count: 8, media_count: 9 }]);
  });
});

describe('batched writes: findByIdsForUpdate, updateMany, recordAll', () => {
  /** `tx` with a count of the statements sent through it. */
  function counting(tx: Queryable) {
    const counter = { statements: 0, tx };
    counter.tx = new Proxy(tx, {
      get(target, key, receiver) {
        const value = Reflect.get(target, key, receiver) as unknown;
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          counter.statements += 1;
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
    return counter;
  }

  it('locks every account of a batch until the transaction ends, and returns those that exist in id order', async () => {
    const userId = await newUser();
    const made = await Promise.all(
      [1, 2, 3].map((i) =>
        repo.create({ userId, platformAccountId: platformId(), username: `b${i}` }),
      ),
    );
    const ids = made.map((a) => a.id);
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let locked!: () => void;
    const isLocked = new Promise<void>((resolve) => (locked = resolve));
    const holder = db.tx(async (tx) => {
      const found = await repo.findByIdsForUpdate([...ids, randomUUID()].reverse(), tx);
      expect(found.map((a) => a.id)).toEqual([...ids].sort());
      locked();
      await held;
    });
    await isLocked;
    for (const id of ids) {
      await expect(
        db.tx(async (tx) => {
          await tx.none("SET LOCAL lock_timeout = '100ms'");
          return repo.findByIdForUpdate(id, tx);
        }),
      ).rejects.toMatchObject({ code: '55P03' });
    }
    release();
    await holder;
    await db.tx(async (tx) => expect(await repo.findByIdsForUpdate([], tx)).toEqual([]));
  });

  it("writes many accounts' fields in one statement per set of fields: JSON, dates and null", async () => {
    const userId = await newUser();
    const [a, b, c] = await Promise.all(
      [1, 2, 3].map((i) =>
        repo.create({
          userId,
          platformAccountId: platformId(),
          username: `before${i}`,
          displayName: `Before ${i}`,
          followerCount: i,
        }),
      ),
    );
    const at = new Date(Date.now() - HOUR);
    const same = (i: number) => ({
      username: `after${i}`,
      displayName: null,
      followerCount: 100 + i,
      status: AccountStatus.ERROR,
      metadata: { lastMetadataUpdate: at, igId: `ig${i}`, nested: { n: i } },
      lastSyncAt: at,
    });
    const written = await db.tx(async (tx) => {
      const t = counting(tx);
      const rows = await repo.updateMany(
        [
          { id: a!.id, changes: same(1) },
          { id: randomUUID(), changes: same(9) },
          { id: b!.id, changes: same(2) },
          // Another set of fields: a statement of its own.
          { id: c!.id, changes: { permissions: ['x'], biography: 'bio', website: undefined } },
        ],
        t.tx,
      );
      expect(t.statements).toBe(2);
      return rows;
    });
    expect(written).toHaveLength(3);
    const byId = new Map(written.map((w) => [w.id, w]));
    for (const [account, i] of [
      [a!, 1],
      [b!, 2],
    ] as const) {
      const row = byId.get(account.id)!;
      expect(row).toMatchObject({
        username: `after${i}`,
        followerCount: 100 + i,
        status: AccountStatus.ERROR,
        metadata: { lastMetadataUpdate: at, igId: `ig${i}`, nested: { n: i } },
        lastSyncAt: at,
      });
      expect(row.displayName).toBeUndefined();
      expect(row.updatedAt.getTime()).toBeGreaterThan(account.updatedAt.getTime());
      expect(await repo.findById(account.id)).toEqual(row);
    }
    expect(await repo.findById(c!.id)).toMatchObject({
      username: 'before3',
      displayName: 'Before 3',
      followerCount: 3,
      permissions: ['x'],
      biography: 'bio',
    });
  });

  it.each([
    [
      'the same account twice',
      (id: string) => [
        { id, changes: { username: 'one' } },
        { id, changes: { username: 'two' } },
      ],
    ],
    [
      'a key off the whitelist',
      (id: string) => [{ id, changes: { username: 'x', userId: randomUUID() } as never }],
    ],
    ['an update with nothing to write', (id: string) => [{ id, changes: { username: undefined } }]],
  ])('refuses %s and changes nothing', async (_what, updates) => {
    const userId = await newUser();
    const account = await repo.create({ userId, platformAccountId: platformId(), username: 'u' });
    const before = await rawRow(account.id);
    await expect(db.tx((tx) => repo.updateMany(updates(account.id), tx))).rejects.toThrow(
      TypeError,
    );
    expect(await rawRow(account.id)).toEqual(before);
  });

  it("records a batch's metric snapshots in one statement", async () => {
    const userId = await newUser();
    const [a, b] = await Promise.all(
      [1, 2].map((i) =>
        repo.create({ userId, platformAccountId: platformId(), username: `m${i}` }),
      ),
    );
    const at = new Date(Date.now() - HOUR);
    const metrics = new PostgresAccountMetricsRepository(db);
    await db.tx(async (tx) => {
      const t = counting(tx);
      await metrics.recordAll(
        [
          { accountId: a!.id, counts: { followerCount: 1, followingCount: 2, mediaCount: 3 } },
          { accountId: b!.id, counts: { followerCount: null, followingCount: 5, mediaCount: 6 } },
        ],
        at,
        t.tx,
      );
      await metrics.recordAll([], at, t.tx);
      expect(t.statements).toBe(1);
    });
    expect(
      await db.many(
        `SELECT account_id, follower_count, following_count, media_count, captured_at
         FROM account_metric_snapshots WHERE account_id IN ($1, $2) ORDER BY follower_count NULLS LAST`,
        [a!.id, b!.id],
      ),
    ).toEqual([
      { account_id: a!.id, follower_count: 1, following_count: 2, media_count: 3, captured_at: at },
      {
        account_id: b!.id,
        follower_count: null,
        following_count: 5,
        media_count: 6,
        captured_at: at,
      },
    ]);
  });
});

describe('account events', () => {
  it('appends, pages newest first, survives the account and deletes per account', async () => {
    const userId = await newUser();
    const account = await repo.create({ userId, platformAccountId: platformId(), username: 'u' });
    for (let i = 0; i < 25; i++) {
      await events.append({
        accountId: account.id,
        userId,
        type: AccountEventType.SYNCED,
        data: { i },
      });
    }
    const seen: number[] = [];
    let after = null;
    for (;;) {
      const page = await events.listByAccount(account.id, 10, after);
      seen.push(...page.events.map((e) => e.data.i as number));
      if (!page.next) break;
      after = page.next;
    }
    expect(seen).toEqual(Array.from({ length: 25 }, (_, i) => 24 - i));

    await repo.delete(account.id);
    expect((await events.listByAccount(account.id, 100, null)).events).toHaveLength(25);
    await expect(
      db.none("UPDATE account_events SET type = 'updated' WHERE account_id = $1", [account.id]),
    ).rejects.toThrow(/append-only/);
    expect(await events.deleteByAccount(account.id)).toBe(25);
    expect((await events.listByAccount(account.id, 100, null)).events).toEqual([]);
  });
});

describe('cascade', () => {
  it('deleting a user removes their accounts, tokens, snapshots and events', async () => {
    const userId = await newUser();
    const vault = new TokenVault(db, TokenCipher.fromKeyString(generateKeyringEntry(1)));
    const { account } = (await repo.upsertConnected(connectInput(userId))) as {
      account: ClientAccount;
    };
    await vault.store(account.id, {
      accessToken: 'IGAAcascade-token',
      tokenType: 'long_lived',
      expiresAt: null,
      scopes: [],
    });
    await repo.recordMetricSnapshot(account);
    await events.append({ accountId: account.id, userId, type: AccountEventType.CONNECTED });

    await db.none('DELETE FROM users WHERE id = $1', [userId]);
    const count = async (sql: string) => (await db.one<{ n: number }>(sql, [account.id])).n;
    expect(await count('SELECT count(*)::int AS n FROM client_accounts WHERE id = $1')).toBe(0);
    expect(await count('SELECT count(*)::int AS n FROM account_tokens WHERE account_id = $1')).toBe(
      0,
    );
    expect(
      await count('SELECT count(*)::int AS n FROM account_metric_snapshots WHERE account_id = $1'),
    ).toBe(0);
    expect(await count('SELECT count(*)::int AS n FROM account_events WHERE account_id = $1')).toBe(
      0,
    );
  });
});
