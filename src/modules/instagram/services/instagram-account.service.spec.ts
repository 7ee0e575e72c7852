import { randomUUID } from 'node:crypto';
import {
  BadGatewayException,
  BadRequestException,
  ConflictException,
  ForbiddenException,
  NotFoundException,
} from '@nestjs/common';
import pino from 'pino';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { TooManyRequestsException } from '../../../common/errors/too-many-requests.exception';
import { type AccountEvent, AccountEventType } from '../../../domain/entities/account-event.entity';
import {
  type AccountMetadata,
  AccountStatus,
  type ClientAccount,
  InstagramAccountType,
  SocialPlatform,
} from '../../../domain/entities/client-account.entity';
import type {
  AccountEventCursor,
  IAccountEventRepository,
  NewAccountEvent,
} from '../../../domain/repositories/account-event.repository.interface';
import {
  type AccountPage,
  type AccountPageCursor,
  type AccountUpdate,
  type ConnectAccountInput,
  type ConnectOutcome,
  type IClientAccountRepository,
  UPDATABLE_ACCOUNT_FIELDS,
} from '../../../domain/repositories/client-account.repository.interface';
import type {
  StoreTokenInput,
  StoredToken,
  TokenMetadata,
} from '../../../infrastructure/crypto/token-vault';
import {
  InstagramNetworkError,
  InstagramPermissionError,
  InstagramRateLimitError,
  InstagramTimeoutError,
  InstagramTokenInvalidError,
  InstagramTransientError,
  type InstagramProfile,
  type LongLivedToken,
  TokenRefreshNotAllowedError,
} from '../../../infrastructure/instagram';
import { toAccountResponse } from '../dto/account.dto';
import { decodeCursor, encodeCursor } from '../dto/pagination';
import { InstagramAccountService, OWNED_BY_OTHER_MESSAGE } from './instagram-account.service';

const HOUR = 3_600_000;
const TOKEN = 'IGAAunit-test-token-secret-value';
const FRESH_TOKEN = 'IGAAunit-fresh-token-secret-value';
const TX = { fake: 'transaction' };

// --- fakes ---------------------------------------------------------------------------------------

const clone = <T>(value: T): T => structuredClone(value);

class FakeAccounts implements IClientAccountRepository {
  rows = new Map<string, ClientAccount>();
  snapshots: ClientAccount[] = [];
  expiringHours: number[] = [];
  txSeen: unknown[] = [];
  /** Runs inside findByIdForUpdate: lets a test change the row "concurrently". */
  onLock: ((id: string) => void) | undefined;

  seed(overrides: Partial<ClientAccount> = {}): ClientAccount {
    const now = new Date(Date.now() - 60_000);
    const account: ClientAccount = {
      id: randomUUID(),
      userId: randomUUID(),
      platform: SocialPlatform.INSTAGRAM,
      platformAccountId: `17841${Math.floor(Math.random() * 1e12)}`,
      username: 'seller',
      displayName: 'Seller',
      followerCount: 10,
      followingCount: 5,
      mediaCount: 1,
      status: AccountStatus.ACTIVE,
      accountType: InstagramAccountType.BUSINESS,
      metadata: {},
      permissions: ['instagram_business_basic'],
      createdAt: now,
      updatedAt: now,
      tokenExpiresAt: new Date(Date.now() + 50 * 24 * HOUR),
      ...overrides,
    };
    this.rows.set(account.id, clone(account));
    return account;
  }

  get(id: string): ClientAccount {
    return clone(this.rows.get(id)!);
  }

  async create(): Promise<ClientAccount> {
    throw new Error('not used by the service');
  }
  async findById(id: string) {
    const row = this.rows.get(id);
    return row ? clone(row) : null;
  }
  async findByUserId(userId: string) {
    return [...this.rows.values()].filter((r) => r.userId === userId).map(clone);
  }
  async findByPlatformAccountId(platform: string, platformAccountId: string) {
    const row = [...this.rows.values()].find(
      (r) => (r.platform as string) === platform && r.platformAccountId === platformAccountId,
    );
    return row ? clone(row) : null;
  }
  async update(id: string, updates: AccountUpdate, tx?: unknown) {
    this.txSeen.push(tx);
    const row = this.rows.get(id);
    if (!row) return null;
    for (const [key, value] of Object.entries(updates)) {
      if (value === undefined) continue;
      if (!(UPDATABLE_ACCOUNT_FIELDS as readonly string[]).includes(key)) {
        throw new TypeError(`${key} is not updatable`);
      }
      (row as unknown as Record<string, unknown>)[key] = value === null ? undefined : value;
    }
    row.updatedAt = new Date();
    return clone(row);
  }
  async delete(id: string, tx?: unknown) {
    this.txSeen.push(tx);
    this.rows.delete(id);
  }
  async updateStatus(id: string, status: AccountStatus) {
    await this.update(id, { status });
  }
  async updateMetadata(id: string, metadata: AccountMetadata) {
    await this.update(id, { metadata, lastSyncAt: new Date() });
  }
  async findExpiringSoon(hours: number) {
    this.expiringHours.push(hours);
    return [];
  }
  async findRefreshable(): Promise<ClientAccount[]> {
    throw new Error('not used by the service');
  }
  async countByUserId(userId: string) {
    return (await this.findByUserId(userId)).length;
  }
  async listPageByUserId(
    userId: string,
    limit: number,
    after: AccountPageCursor | null,
  ): Promise<AccountPage> {
    const all = (await this.findByUserId(userId)).sort((a, b) => (a.id < b.id ? 1 : -1));
    const start = after ? all.findIndex((a) => a.id === after.id) + 1 : 0;
    const page = all.slice(start, start + limit);
    const last = page.at(-1);
    return {
      accounts: page,
      next:
        start + limit < all.length && last
          ? { createdAt: '2030-01-01T00:00:00.000000Z', id: last.id }
          : null,
    };
  }
  async upsertConnected(input: ConnectAccountInput, tx?: unknown): Promise<ConnectOutcome> {
    this.txSeen.push(tx);
    const existing = [...this.rows.values()].find(
      (r) => r.platformAccountId === input.platformAccountId,
    );
    if (existing && existing.userId !== input.userId) return { outcome: 'owned_by_other' };
    if (existing) {
      const previousStatus = existing.status;
      const metadata = { ...existing.metadata };
      delete metadata.errorDetails;
      delete metadata.rateLimitedUntil;
      Object.assign(existing, {
        username: input.username,
        status: AccountStatus.ACTIVE,
        metadata: { ...metadata, ...input.metadata },
        permissions: input.permissions,
        tokenExpiresAt: input.tokenExpiresAt ?? undefined,
      });
      return { outcome: 'reconnected', account: clone(existing), previousStatus };
    }
    const account = this.seed({
      userId: input.userId,
      platformAccountId: input.platformAccountId,
      username: input.username,
      displayName: input.displayName,
      profilePictureUrl: input.profilePictureUrl,
      followerCount: input.followerCount,
      followingCount: input.followingCount,
      mediaCount: input.mediaCount,
      biography: input.biography,
      website: input.website,
      accountType: input.accountType,
      metadata: input.metadata,
      permissions: input.permissions,
      tokenExpiresAt: input.tokenExpiresAt ?? undefined,
    });
    return { outcome: 'created', account };
  }
  async findByInstagramUserId() {
    return [];
  }
  async findDueForSync() {
    return [];
  }
  async findByIdForUpdate(id: string, tx: unknown) {
    this.txSeen.push(tx);
    this.onLock?.(id);
    return this.findById(id);
  }
  async recordMetricSnapshot(account: ClientAccount, tx?: unknown) {
    this.txSeen.push(tx);
    this.snapshots.push(clone(account));
  }
}

class FakeEvents implements IAccountEventRepository {
  list: AccountEvent[] = [];
  async append(event: NewAccountEvent) {
    this.list.push({
      id: randomUUID(),
      accountId: event.accountId,
      userId: event.userId,
      type: event.type,
      data: clone(event.data ?? {}),
      createdAt: new Date(),
    });
  }
  async listByAccount(accountId: string, limit: number, after: AccountEventCursor | null) {
    const all = this.list.filter((e) => e.accountId === accountId).reverse();
    const start = after ? all.findIndex((e) => e.id === after.id) + 1 : 0;
    const events = all.slice(start, start + limit);
    const last = events.at(-1);
    return {
      events,
      next:
        start + limit < all.length && last
          ? { createdAt: '2030-01-01T00:00:00.000000Z', id: last.id }
          : null,
    };
  }
  async deleteByAccount() {
    return 0;
  }
  of(accountId: string, type?: AccountEventType) {
    return this.list.filter((e) => e.accountId === accountId && (!type || e.type === type));
  }
}

class FakeVault {
  tokens = new Map<string, StoredToken>();
  destroyed: string[] = [];
  /** Runs inside metadata(): lets a test replace the token "concurrently". */
  onMetadata: ((id: string) => void) | undefined;

  put(accountId: string, overrides: Partial<StoredToken> = {}): StoredToken {
    const token: StoredToken = {
      accessToken: TOKEN,
      tokenType: 'long_lived',
      issuedAt: new Date(Date.now() - 10 * 24 * HOUR),
      expiresAt: new Date(Date.now() + 50 * 24 * HOUR),
      lastRefreshedAt: null,
      scopes: ['instagram_business_basic'],
      keyVersion: 1,
      ...overrides,
    };
    this.tokens.set(accountId, token);
    return token;
  }
  async store(accountId: string, input: StoreTokenInput): Promise<TokenMetadata> {
    const replaced = this.tokens.has(accountId);
    const token = this.put(accountId, {
      accessToken: input.accessToken,
      tokenType: input.tokenType,
      issuedAt: input.issuedAt ?? new Date(),
      expiresAt: input.expiresAt,
      scopes: input.scopes,
      lastRefreshedAt: replaced ? new Date() : null,
    });
    const { accessToken: _secret, ...metadata } = token;
    return metadata;
  }
  async read(accountId: string) {
    return this.tokens.get(accountId) ?? null;
  }
  async metadata(accountId: string): Promise<TokenMetadata | null> {
    this.onMetadata?.(accountId);
    const token = this.tokens.get(accountId);
    if (!token) return null;
    const { accessToken: _secret, ...metadata } = token;
    return metadata;
  }
  async destroy(accountId: string) {
    this.destroyed.push(accountId);
    return this.tokens.delete(accountId);
  }
}

class FakeJobs {
  enqueued: Array<{ name: string; data: unknown; options: Record<string, unknown> }> = [];
  async enqueue(name: string, data: unknown, options: Record<string, unknown> = {}) {
    this.enqueued.push({ name, data, options });
    return randomUUID();
  }
}

/** Tells whether a callback runs inside a transaction: Instagram must never be called there. */
class FakeDb {
  depth = 0;
  transactions: string[] = [];
  async tx<T>(tag: string, work: (tx: unknown) => Promise<T>): Promise<T> {
    this.transactions.push(tag);
    this.depth += 1;
    try {
      return await work(TX);
    } finally {
      this.depth -= 1;
    }
  }
}

function profileOf(account: ClientAccount, overrides: Partial<InstagramProfile> = {}) {
  return {
    id: '9007199254740993',
    userId: account.platformAccountId,
    username: account.username,
    name: account.displayName,
    accountType: 'Business',
    profilePictureUrl: 'https://scontent.cdninstagram.com/v/1_n.jpg?oh=00_x&oe=6A1BD339',
    followersCount: account.followerCount,
    followsCount: account.followingCount,
    mediaCount: account.mediaCount,
    ...overrides,
  } as InstagramProfile;
}

const tokenError = (subcode = 460) =>
  new InstagramTokenInvalidError(
    'Error validating access token: The session has been invalidated because the user changed their password',
    { code: 190, subcode, fbtraceId: 'AbCdEf123', type: 'OAuthException', httpStatus: 400 },
  );
const rateLimitError = (resetAt: Date, code = 4) =>
  new InstagramRateLimitError(
    `(#${code}) Application request limit reached`,
    { code, httpStatus: 403 },
    resetAt,
    code === 4 ? 'app' : 'business_use_case',
    true,
  );
const transientError = () =>
  new InstagramTransientError('An unexpected error has occurred', { code: 2, isTransient: true });
const timeoutError = () =>
  new InstagramTimeoutError('Instagram did not answer within 1000 ms (getProfile)', {}, 1000);
const networkError = () =>
  new InstagramNetworkError('Network error talking to Instagram', {}, 'ECONNRESET');
const permissionError = () =>
  new InstagramPermissionError('(#10) Application does not have permission', { code: 10 });

// --- setup ---------------------------------------------------------------------------------------

let accounts: FakeAccounts;
let events: FakeEvents;
let vault: FakeVault;
let jobs: FakeJobs;
let db: FakeDb;
let logLines: string[];
let client: {
  getProfile: ReturnType<typeof vi.fn>;
  refreshLongLivedToken: ReturnType<typeof vi.fn>;
  revokeToken: ReturnType<typeof vi.fn>;
};
let service: InstagramAccountService;

beforeEach(() => {
  accounts = new FakeAccounts();
  events = new FakeEvents();
  vault = new FakeVault();
  jobs = new FakeJobs();
  db = new FakeDb();
  logLines = [];
  client = {
    getProfile: vi.fn(),
    refreshLongLivedToken: vi.fn(),
    revokeToken: vi.fn(async () => ({
      revoked: false,
      reason: 'unsupported',
      detail: 'Instagram API with Instagram Login has no token revocation endpoint',
    })),
  };
  // Every Instagram call must happen with no transaction open.
  for (const fn of Object.values(client)) {
    const original = fn.getMockImplementation();
    fn.mockImplementation(async (...args: unknown[]) => {
      expect(db.depth, 'Instagram called inside a transaction').toBe(0);
      return original?.(...args);
    });
  }
  const logger = pino({ level: 'trace' }, { write: (line: string) => logLines.push(line) });
  service = new InstagramAccountService(
    accounts,
    events,
    vault as never,
    jobs as never,
    client as never,
    db as never,
    logger,
  );
});

/** Sets what the next Instagram call does, keeping the "no transaction open" check. */
function nextProfile(result: InstagramProfile | Error) {
  client.getProfile.mockImplementationOnce(async () => {
    expect(db.depth).toBe(0);
    if (result instanceof Error) throw result;
    return result;
  });
}

function connected(overrides: Partial<ClientAccount> = {}) {
  const account = accounts.seed(overrides);
  vault.put(account.id);
  return account;
}

// --- tests ---------------------------------------------------------------------------------------

describe('createAccount', () => {
  const dto = (platformAccountId: string) => ({
    platformAccountId,
    username: 'lena.bakes',
    displayName: 'Lena',
    profilePictureUrl: 'https://scontent.cdninstagram.com/v/1_n.jpg?oe=6A1BD339&oh=00_x',
    accountType: InstagramAccountType.CREATOR,
    permissions: ['instagram_business_basic'],
  });
  const token = {
    accessToken: TOKEN,
    tokenType: 'long_lived' as const,
    issuedAt: new Date(),
    expiresAt: new Date(Date.now() + 60 * 24 * HOUR),
    scopes: ['instagram_business_basic'],
  };

  it('creates: row, token, connected event and a sync job, all in one transaction', async () => {
    const userId = randomUUID();
    const { account, outcome } = await service.createAccount(userId, dto('178414001'), {
      token,
      metadata: { igId: '26181203548593114', igBusinessAccountId: '178414001' },
      profile: { followerCount: 5, biography: 'Sourdough' },
    });
    expect(outcome).toBe('created');
    expect(account).toMatchObject({
      userId,
      username: 'lena.bakes',
      status: AccountStatus.ACTIVE,
      accountType: InstagramAccountType.CREATOR,
      followerCount: 5,
      biography: 'Sourdough',
      tokenExpiresAt: token.expiresAt,
    });
    expect(account.metadata).toMatchObject({
      igId: '26181203548593114',
      profilePictureExpiresAt: new Date(0x6a1bd339 * 1000),
    });
    expect((await vault.read(account.id))!.accessToken).toBe(TOKEN);
    expect(events.of(account.id).map((e) => e.type)).toEqual([AccountEventType.CONNECTED]);
    expect(jobs.enqueued).toEqual([
      {
        name: 'account.sync',
        data: { accountId: account.id, reason: 'connect' },
        options: { tx: TX, singletonKey: account.id },
      },
    ]);
    expect(db.transactions).toEqual(['accounts-connect']);
    expect(accounts.txSeen).toEqual([TX]);
  });

  it("re-connects the same user's expired account: same id, active, new token, events", async () => {
    const existing = connected({ status: AccountStatus.TOKEN_EXPIRED });
    const { account, outcome } = await service.createAccount(
      existing.userId,
      dto(existing.platformAccountId),
      { token: { ...token, accessToken: FRESH_TOKEN } },
    );
    expect(outcome).toBe('reconnected');
    expect(account.id).toBe(existing.id);
    expect(account.status).toBe(AccountStatus.ACTIVE);
    expect((await vault.read(existing.id))!.accessToken).toBe(FRESH_TOKEN);
    expect(events.of(existing.id).map((e) => [e.type, e.data])).toEqual([
      [AccountEventType.RECONNECTED, expect.objectContaining({ previousStatus: 'token_expired' })],
      [
        AccountEventType.STATUS_CHANGED,
        { from: 'token_expired', to: 'active', reason: 'reconnected' },
      ],
    ]);
    expect(jobs.enqueued[0]!.data).toEqual({ accountId: existing.id, reason: 'reconnect' });
  });

  it("refuses another user's account with a 409 and stores nothing", async () => {
    const existing = accounts.seed();
    const before = accounts.get(existing.id);
    const error = await service
      .createAccount(randomUUID(), dto(existing.platformAccountId), { token })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConflictException);
    expect((error as ConflictException).message).toBe(OWNED_BY_OTHER_MESSAGE);
    expect(accounts.get(existing.id)).toEqual(before);
    expect(vault.tokens.size).toBe(0);
    expect(events.list).toEqual([]);
    expect(jobs.enqueued).toEqual([]);
  });

  it('without a token: no vault write, expiry from the dto', async () => {
    const expires = new Date(Date.now() + HOUR);
    const { account } = await service.createAccount(randomUUID(), {
      ...dto('178414002'),
      tokenExpiresAt: expires,
    });
    expect(vault.tokens.size).toBe(0);
    expect(account.tokenExpiresAt).toEqual(expires);
  });
});

describe('reading', () => {
  it('getAccountById: 404, 403, the account', async () => {
    const account = accounts.seed();
    await expect(service.getAccountById(randomUUID(), account.userId)).rejects.toBeInstanceOf(
      NotFoundException,
    );
    await expect(service.getAccountById(account.id, randomUUID())).rejects.toBeInstanceOf(
      ForbiddenException,
    );
    expect((await service.getAccountById(account.id, account.userId)).id).toBe(account.id);
  });

  it('listAccounts pages with an opaque cursor and counts everything', async () => {
    const userId = randomUUID();
    for (let i = 0; i < 5; i++) accounts.seed({ userId });
    accounts.seed();
    const first = await service.listAccounts(userId, { limit: 2 });
    expect(first.accounts).toHaveLength(2);
    expect(first.total).toBe(5);
    expect(decodeCursor(first.nextCursor!).id).toBe(first.accounts[1]!.id);
    const second = await service.listAccounts(userId, { limit: 2, cursor: first.nextCursor! });
    const third = await service.listAccounts(userId, { limit: 2, cursor: second.nextCursor! });
    expect(third.accounts).toHaveLength(1);
    expect(third.nextCursor).toBeNull();
    expect(
      new Set([...first.accounts, ...second.accounts, ...third.accounts].map((a) => a.id)).size,
    ).toBe(5);
    expect((await service.listAccounts(userId)).accounts).toHaveLength(5);
  });

  it.each([
    ['not base64 JSON', 'bm90IGpzb24'],
    ['JSON of another shape', Buffer.from('{"a":1}').toString('base64url')],
    ['a bad id', encodeCursor({ createdAt: '2030-01-01T00:00:00.000000Z', id: 'x' })],
    [
      'a millisecond time',
      encodeCursor({ createdAt: '2030-01-01T00:00:00.000Z', id: randomUUID() }),
    ],
  ])('listAccounts: 400 for a cursor that is %s', async (_label, cursor) => {
    await expect(service.listAccounts(randomUUID(), { cursor })).rejects.toBeInstanceOf(
      BadRequestException,
    );
  });

  it.each([0, 101, 1.5, Number.NaN])('listAccounts: 400 for limit %s', async (limit) => {
    await expect(service.listAccounts(randomUUID(), { limit })).rejects.toBeInstanceOf(
      BadRequestException,
    );
  });

  it('getExpiringAccounts defaults to a week; countUserAccounts counts', async () => {
    await service.getExpiringAccounts();
    await service.getExpiringAccounts(24);
    expect(accounts.expiringHours).toEqual([168, 24]);
    const account = accounts.seed();
    expect(await service.countUserAccounts(account.userId)).toBe(1);
    expect(await service.getUserAccounts(account.userId)).toHaveLength(1);
  });

  it('listEvents: owner only, newest first, paginated', async () => {
    const account = accounts.seed();
    for (let i = 0; i < 3; i++) {
      await events.append({
        accountId: account.id,
        userId: account.userId,
        type: AccountEventType.SYNCED,
        data: { i },
      });
    }
    await expect(service.listEvents(account.id, randomUUID())).rejects.toBeInstanceOf(
      ForbiddenException,
    );
    await expect(service.listEvents(randomUUID(), account.userId)).rejects.toBeInstanceOf(
      NotFoundException,
    );
    const page = await service.listEvents(account.id, account.userId, { limit: 2 });
    expect(page.events.map((e) => e.data.i)).toEqual([2, 1]);
    const rest = await service.listEvents(account.id, account.userId, {
      limit: 2,
      cursor: page.nextCursor!,
    });
    expect(rest.events.map((e) => e.data.i)).toEqual([0]);
    expect(rest.nextCursor).toBeNull();
  });
});

describe('updateAccount', () => {
  it('writes only the given spec fields and records what changed', async () => {
    const account = accounts.seed({ displayName: 'Old', username: 'same' });
    const updated = await service.updateAccount(account.id, account.userId, {
      displayName: 'New',
      username: 'same',
    });
    expect(updated.displayName).toBe('New');
    expect(events.of(account.id, AccountEventType.UPDATED).map((e) => e.data)).toEqual([
      { changed: { displayName: { from: 'Old', to: 'New' } } },
    ]);
  });

  it('ignores keys outside the spec fields even when a caller smuggles them in', async () => {
    const account = accounts.seed();
    await service.updateAccount(account.id, account.userId, {
      displayName: 'X',
      userId: randomUUID(),
      platformAccountId: '1',
      followerCount: 1e6,
    } as never);
    const after = accounts.get(account.id);
    expect(after.userId).toBe(account.userId);
    expect(after.platformAccountId).toBe(account.platformAccountId);
    expect(after.followerCount).toBe(account.followerCount);
  });

  it('null clears a nullable field; identical values write nothing', async () => {
    const account = accounts.seed({ displayName: 'Old' });
    const cleared = await service.updateAccount(account.id, account.userId, { displayName: null });
    expect(cleared.displayName).toBeUndefined();
    const writes = accounts.txSeen.length;
    await service.updateAccount(account.id, account.userId, { displayName: null });
    expect(events.of(account.id, AccountEventType.UPDATED)).toHaveLength(1);
    expect(accounts.txSeen.length).toBe(writes + 1); // the lock, no update
  });

  it.each([
    ['an empty body', {}],
    ['no body', undefined],
    ['status active', { status: AccountStatus.ACTIVE }],
    ['status error', { status: AccountStatus.ERROR }],
  ])('400 for %s', async (_label, dto) => {
    const account = accounts.seed();
    await expect(
      service.updateAccount(account.id, account.userId, dto as never),
    ).rejects.toBeInstanceOf(BadRequestException);
    expect(events.list).toEqual([]);
  });

  it('status disconnected pauses the account with a status_changed event', async () => {
    const account = accounts.seed({
      status: AccountStatus.ERROR,
      metadata: { errorDetails: { code: '2', message: 'x', timestamp: new Date() } },
    });
    const updated = await service.updateAccount(account.id, account.userId, {
      status: AccountStatus.DISCONNECTED,
    });
    expect(updated.status).toBe(AccountStatus.DISCONNECTED);
    expect(updated.metadata.errorDetails).toBeUndefined();
    expect(events.of(account.id).map((e) => e.data)).toEqual([
      { from: 'error', to: 'disconnected', reason: 'paused_by_user' },
    ]);
  });

  it("403 for another user's account, 404 for none; nothing changes", async () => {
    const account = accounts.seed();
    const before = accounts.get(account.id);
    await expect(
      service.updateAccount(account.id, randomUUID(), { displayName: 'hijack' }),
    ).rejects.toBeInstanceOf(ForbiddenException);
    await expect(
      service.updateAccount(randomUUID(), account.userId, { displayName: 'x' }),
    ).rejects.toBeInstanceOf(NotFoundException);
    expect(accounts.get(account.id)).toEqual(before);
    expect(events.list).toEqual([]);
  });
});

describe('deleteAccount', () => {
  it('attempts revocation with the token, destroys it, removes the row, keeps the event', async () => {
    const account = connected();
    await service.deleteAccount(account.id, account.userId);
    expect(client.revokeToken).toHaveBeenCalledWith(TOKEN);
    expect(vault.destroyed).toEqual([account.id]);
    expect(accounts.rows.has(account.id)).toBe(false);
    expect(events.of(account.id).map((e) => [e.type, e.data])).toEqual([
      [
        AccountEventType.DISCONNECTED,
        {
          by: 'user',
          username: account.username,
          platformAccountId: account.platformAccountId,
          revocation: expect.objectContaining({ revoked: false, reason: 'unsupported' }),
        },
      ],
    ]);
    expect(accounts.txSeen.every((tx) => tx === TX)).toBe(true);
  });

  it('without a token, or when revocation throws, still disconnects and says so', async () => {
    const noToken = accounts.seed();
    await service.deleteAccount(noToken.id, noToken.userId);
    expect(client.revokeToken).not.toHaveBeenCalled();
    expect(events.of(noToken.id)[0]!.data.revocation).toMatchObject({ reason: 'no_token' });

    const failing = connected();
    client.revokeToken.mockImplementationOnce(async () => {
      throw new InstagramTransientError(`boom with ${TOKEN}`, { code: 2 });
    });
    await service.deleteAccount(failing.id, failing.userId);
    const revocation = events.of(failing.id)[0]!.data.revocation as Record<string, string>;
    expect(revocation).toMatchObject({ revoked: false, reason: 'failed' });
    expect(revocation.detail).not.toContain(TOKEN);
    expect(accounts.rows.has(failing.id)).toBe(false);
  });

  it("403 for another user's account: revocation not attempted, nothing removed", async () => {
    const account = connected();
    await expect(service.deleteAccount(account.id, randomUUID())).rejects.toBeInstanceOf(
      ForbiddenException,
    );
    await expect(service.deleteAccount(randomUUID(), account.userId)).rejects.toBeInstanceOf(
      NotFoundException,
    );
    expect(client.revokeToken).not.toHaveBeenCalled();
    expect(vault.tokens.has(account.id)).toBe(true);
    expect(accounts.rows.has(account.id)).toBe(true);
  });
});

describe('performSync', () => {
  it('updates profile, counts, metadata and status, snapshots and records what changed', async () => {
    const account = connected({
      status: AccountStatus.ERROR,
      biography: 'old bio',
      metadata: {
        errorDetails: { code: '2', message: 'x', timestamp: new Date() },
        facebookPageId: 'kept',
      },
    });
    nextProfile(
      profileOf(account, {
        followersCount: 11,
        biography: undefined,
        website: 'https://shop.example.com',
        accountType: 'MEDIA_CREATOR',
      }),
    );
    const outcome = await service.performSync(account.id, 'periodic');
    expect(outcome.status).toBe('synced');
    const after = accounts.get(account.id);
    expect(after).toMatchObject({
      status: AccountStatus.ACTIVE,
      followerCount: 11,
      website: 'https://shop.example.com',
      accountType: InstagramAccountType.CREATOR,
      profilePictureUrl: expect.stringContaining('oe=6A1BD339'),
    });
    expect(after.biography).toBeUndefined();
    expect(after.lastSyncAt).toBeInstanceOf(Date);
    expect(after.metadata).toEqual({
      facebookPageId: 'kept',
      igId: '9007199254740993',
      igBusinessAccountId: account.platformAccountId,
      lastMetadataUpdate: expect.any(Date),
      profilePictureExpiresAt: new Date(0x6a1bd339 * 1000),
    });
    expect(accounts.snapshots).toHaveLength(1);
    const synced = events.of(account.id, AccountEventType.SYNCED);
    expect(synced.map((e) => e.data)).toEqual([
      {
        reason: 'periodic',
        changed: {
          followerCount: { from: 10, to: 11 },
          biography: { from: 'old bio', to: null },
          website: { from: null, to: 'https://shop.example.com' },
          accountType: { from: 'business', to: 'creator' },
          profilePictureUrl: { from: null, to: expect.any(String) },
        },
      },
    ]);
    expect(events.of(account.id, AccountEventType.STATUS_CHANGED).map((e) => e.data)).toEqual([
      { from: 'error', to: 'active', reason: 'sync_succeeded' },
    ]);
    expect(client.getProfile).toHaveBeenCalledWith(TOKEN);
  });

  it('active → token_expired on 190/460, with the details and a status_changed event', async () => {
    const account = connected();
    nextProfile(tokenError());
    const outcome = await service.performSync(account.id, 'periodic');
    expect(outcome).toMatchObject({
      status: 'failed',
      error: expect.any(InstagramTokenInvalidError),
    });
    const after = accounts.get(account.id);
    expect(after.status).toBe(AccountStatus.TOKEN_EXPIRED);
    expect(after.metadata.errorDetails).toEqual({
      code: '190',
      subcode: '460',
      fbtraceId: 'AbCdEf123',
      message: expect.stringContaining('changed their password'),
      timestamp: expect.any(Date),
    });
    expect(events.of(account.id).map((e) => e.data)).toEqual([
      {
        from: 'active',
        to: 'token_expired',
        code: '190',
        subcode: '460',
        reason: 'password_changed',
      },
    ]);
  });

  it('→ rate_limited until resetAt; the next sync waits without calling Instagram', async () => {
    const account = connected();
    const resetAt = new Date(Date.now() + 15 * 60_000);
    nextProfile(rateLimitError(resetAt, 80002));
    expect((await service.performSync(account.id, 'periodic')).status).toBe('failed');
    const after = accounts.get(account.id);
    expect(after.status).toBe(AccountStatus.RATE_LIMITED);
    expect(after.metadata.rateLimitedUntil).toEqual(resetAt);
    expect(after.metadata.errorDetails!.code).toBe('80002');

    expect(await service.performSync(account.id, 'periodic')).toMatchObject({
      status: 'skipped',
      reason: 'rate_limited',
    });
    expect(client.getProfile).toHaveBeenCalledTimes(1);
  });

  it('a rate limit that has lifted does not hold the sync back', async () => {
    const account = connected({
      status: AccountStatus.RATE_LIMITED,
      metadata: { rateLimitedUntil: new Date(Date.now() - 1000) },
    });
    nextProfile(profileOf(account));
    expect((await service.performSync(account.id, 'periodic')).status).toBe('synced');
    expect(accounts.get(account.id).metadata.rateLimitedUntil).toBeUndefined();
  });

  it.each([
    ['transient', transientError, '2'],
    ['timeout', timeoutError, 'TIMEOUT'],
    ['network', networkError, 'NETWORK'],
    ['permission', permissionError, '10'],
  ])('→ error on a %s failure with code %s', async (_label, make, code) => {
    const account = connected();
    nextProfile(make());
    expect((await service.performSync(account.id, 'periodic')).status).toBe('failed');
    const after = accounts.get(account.id);
    expect(after.status).toBe(AccountStatus.ERROR);
    expect(after.metadata.errorDetails!.code).toBe(code);
  });

  it('a repeated failure updates the details without another status_changed', async () => {
    const account = connected();
    nextProfile(transientError());
    await service.performSync(account.id, 'periodic');
    nextProfile(timeoutError());
    await service.performSync(account.id, 'periodic');
    expect(events.of(account.id, AccountEventType.STATUS_CHANGED)).toHaveLength(1);
    expect(accounts.get(account.id).metadata.errorDetails!.code).toBe('TIMEOUT');
  });

  it('never stores the token, even if an error message carried it', async () => {
    const account = connected();
    nextProfile(new InstagramTransientError(`failed for access_token=${TOKEN}`, { code: 1 }));
    await service.performSync(account.id, 'periodic');
    expect(JSON.stringify(accounts.get(account.id))).not.toContain(TOKEN);
  });

  it.each([
    ['not_found', () => randomUUID()],
    ['no_token', () => accounts.seed().id],
    ['disconnected', () => connected({ status: AccountStatus.DISCONNECTED }).id],
  ])('skips (%s) without calling Instagram', async (reason, id) => {
    expect(await service.performSync(id(), 'periodic')).toMatchObject({
      status: 'skipped',
      reason,
    });
    expect(client.getProfile).not.toHaveBeenCalled();
  });

  it('a disconnect that lands while Instagram answers stands', async () => {
    const account = connected();
    nextProfile(profileOf(account, { followersCount: 999 }));
    accounts.onLock = (id) => {
      accounts.rows.get(id)!.status = AccountStatus.DISCONNECTED;
    };
    expect(await service.performSync(account.id, 'periodic')).toMatchObject({
      status: 'skipped',
      reason: 'disconnected',
    });
    expect(accounts.get(account.id)).toMatchObject({ status: 'disconnected', followerCount: 10 });
  });

  it('the same for a failure: a disconnected account is not marked error', async () => {
    const account = connected();
    nextProfile(transientError());
    accounts.onLock = (id) => {
      accounts.rows.get(id)!.status = AccountStatus.DISCONNECTED;
    };
    await service.performSync(account.id, 'periodic');
    expect(accounts.get(account.id).status).toBe(AccountStatus.DISCONNECTED);
  });
});

describe('syncAccountMetadata (HTTP)', () => {
  it('returns the synced account', async () => {
    const account = connected();
    nextProfile(profileOf(account, { mediaCount: 77 }));
    expect((await service.syncAccountMetadata(account.id, account.userId)).mediaCount).toBe(77);
  });

  it('409 telling the user to reconnect on 190/460, after recording it', async () => {
    const account = connected();
    nextProfile(tokenError());
    const error = await service.syncAccountMetadata(account.id).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConflictException);
    expect((error as Error).message).toBe(
      "Instagram rejected this account's access (code 190/460: password changed). Reconnect the account.",
    );
    expect(accounts.get(account.id).status).toBe(AccountStatus.TOKEN_EXPIRED);
  });

  it('409 for a missing permission, a missing token or a disconnected account', async () => {
    const account = connected();
    nextProfile(permissionError());
    await expect(service.syncAccountMetadata(account.id)).rejects.toThrow(/Reconnect/);
    const noToken = accounts.seed();
    await expect(service.syncAccountMetadata(noToken.id)).rejects.toBeInstanceOf(ConflictException);
    const paused = connected({ status: AccountStatus.DISCONNECTED });
    await expect(service.syncAccountMetadata(paused.id)).rejects.toBeInstanceOf(ConflictException);
  });

  it('429 with Retry-After on a rate limit, and again without calling Instagram', async () => {
    const account = connected();
    nextProfile(rateLimitError(new Date(Date.now() + 120_000)));
    const first = await service.syncAccountMetadata(account.id).catch((e: unknown) => e);
    expect(first).toBeInstanceOf(TooManyRequestsException);
    expect((first as TooManyRequestsException).retryAfterSeconds).toBeGreaterThan(110);
    expect((first as TooManyRequestsException).retryAfterSeconds).toBeLessThanOrEqual(120);
    const second = await service.syncAccountMetadata(account.id).catch((e: unknown) => e);
    expect(second).toBeInstanceOf(TooManyRequestsException);
    expect((second as TooManyRequestsException).retryAfterSeconds).toBeLessThanOrEqual(120);
    expect(client.getProfile).toHaveBeenCalledTimes(1);
  });

  it.each([
    [timeoutError, /did not answer in time/],
    [networkError, /could not be reached/],
    [transientError, /temporary problem/],
  ])('502 on upstream failures (%#)', async (make, message) => {
    const account = connected();
    nextProfile(make());
    const error = await service.syncAccountMetadata(account.id).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BadGatewayException);
    expect((error as Error).message).toMatch(message);
    expect(accounts.get(account.id).status).toBe(AccountStatus.ERROR);
  });

  it('404 / 403 before anything is called or written', async () => {
    const account = connected();
    await expect(service.syncAccountMetadata(randomUUID())).rejects.toBeInstanceOf(
      NotFoundException,
    );
    await expect(service.syncAccountMetadata(account.id, randomUUID())).rejects.toBeInstanceOf(
      ForbiddenException,
    );
    expect(client.getProfile).not.toHaveBeenCalled();
  });
});

describe('refreshAccountStatus', () => {
  it('token past its expiry → token_expired with no call to Instagram', async () => {
    const account = connected({ tokenExpiresAt: new Date(Date.now() - 1000) });
    expect(await service.refreshAccountStatus(account.id, account.userId)).toBe(
      AccountStatus.TOKEN_EXPIRED,
    );
    expect(client.getProfile).not.toHaveBeenCalled();
    expect(accounts.get(account.id).metadata.errorDetails!.code).toBe('TOKEN_EXPIRED');
  });

  it('valid token → active, clearing the old error', async () => {
    const account = connected({
      status: AccountStatus.ERROR,
      metadata: { errorDetails: { code: '2', message: 'x', timestamp: new Date() } },
    });
    nextProfile(profileOf(account));
    expect(await service.refreshAccountStatus(account.id)).toBe(AccountStatus.ACTIVE);
    expect(accounts.get(account.id).metadata.errorDetails).toBeUndefined();
    expect(events.of(account.id).map((e) => e.data)).toEqual([
      { from: 'error', to: 'active', reason: 'status_check_succeeded' },
    ]);
  });

  it.each([
    ['190', tokenError, AccountStatus.TOKEN_EXPIRED],
    ['rate limit', () => rateLimitError(new Date(Date.now() + HOUR)), AccountStatus.RATE_LIMITED],
    ['transient', transientError, AccountStatus.ERROR],
  ])('%s → %s (no exception)', async (_label, make, status) => {
    const account = connected();
    nextProfile(make());
    expect(await service.refreshAccountStatus(account.id)).toBe(status);
    expect(accounts.get(account.id).status).toBe(status);
  });

  it('disconnected stays disconnected; a live rate limit answers without a call', async () => {
    const paused = connected({ status: AccountStatus.DISCONNECTED });
    expect(await service.refreshAccountStatus(paused.id)).toBe(AccountStatus.DISCONNECTED);
    const limited = connected({
      status: AccountStatus.RATE_LIMITED,
      metadata: { rateLimitedUntil: new Date(Date.now() + HOUR) },
    });
    expect(await service.refreshAccountStatus(limited.id)).toBe(AccountStatus.RATE_LIMITED);
    expect(client.getProfile).not.toHaveBeenCalled();
  });

  it('no token → token_expired (NO_TOKEN); 404 and 403', async () => {
    const account = accounts.seed();
    expect(await service.refreshAccountStatus(account.id)).toBe(AccountStatus.TOKEN_EXPIRED);
    expect(accounts.get(account.id).metadata.errorDetails!.code).toBe('NO_TOKEN');
    await expect(service.refreshAccountStatus(randomUUID())).rejects.toBeInstanceOf(
      NotFoundException,
    );
    await expect(service.refreshAccountStatus(account.id, randomUUID())).rejects.toBeInstanceOf(
      ForbiddenException,
    );
  });
});

describe('refreshToken', () => {
  const fresh = (): LongLivedToken => ({
    accessToken: FRESH_TOKEN,
    tokenType: 'bearer',
    expiresIn: 5_183_944,
    issuedAt: new Date(),
    expiresAt: new Date(Date.now() + 5_183_944_000),
  });

  it('stores the fresh token and its expiry, with a token_refreshed event', async () => {
    const account = connected();
    const stored = vault.put(account.id, { lastRefreshedAt: new Date(Date.now() - 30 * HOUR) });
    const next = fresh();
    client.refreshLongLivedToken.mockResolvedValueOnce(next);
    expect(await service.refreshToken(account.id)).toEqual({
      status: 'refreshed',
      expiresAt: next.expiresAt,
    });
    expect(client.refreshLongLivedToken).toHaveBeenCalledWith(TOKEN, {
      issuedAt: stored.lastRefreshedAt,
      expiresAt: stored.expiresAt,
    });
    expect((await vault.read(account.id))!).toMatchObject({
      accessToken: FRESH_TOKEN,
      expiresAt: next.expiresAt,
      scopes: stored.scopes,
    });
    expect(accounts.get(account.id).tokenExpiresAt).toEqual(next.expiresAt);
    expect(events.of(account.id).map((e) => [e.type, e.data])).toEqual([
      [AccountEventType.TOKEN_REFRESHED, { expiresAt: next.expiresAt.toISOString() }],
    ]);
  });

  it('uses issued_at when the token was never refreshed', async () => {
    const account = connected();
    const { issuedAt } = vault.tokens.get(account.id)!;
    client.refreshLongLivedToken.mockResolvedValueOnce(fresh());
    await service.refreshToken(account.id);
    expect(client.refreshLongLivedToken.mock.calls[0]![1].issuedAt).toEqual(issuedAt);
  });

  it('too young → skipped with the moment it becomes possible; nothing stored', async () => {
    const account = connected();
    const retryAt = new Date(Date.now() + HOUR);
    client.refreshLongLivedToken.mockRejectedValueOnce(
      new TokenRefreshNotAllowedError('too_young', retryAt),
    );
    expect(await service.refreshToken(account.id)).toEqual({
      status: 'skipped',
      reason: 'too_young',
      retryAt,
    });
    expect(vault.tokens.get(account.id)!.accessToken).toBe(TOKEN);
    expect(accounts.get(account.id).status).toBe(AccountStatus.ACTIVE);
  });

  it('expired → skipped and the account marked token_expired', async () => {
    const account = connected();
    client.refreshLongLivedToken.mockRejectedValueOnce(
      new TokenRefreshNotAllowedError('expired', undefined),
    );
    expect(await service.refreshToken(account.id)).toEqual({
      status: 'skipped',
      reason: 'expired',
    });
    expect(accounts.get(account.id).status).toBe(AccountStatus.TOKEN_EXPIRED);
  });

  it.each([
    ['190', tokenError, AccountStatus.TOKEN_EXPIRED],
    ['a rate limit', () => rateLimitError(new Date(Date.now() + HOUR)), AccountStatus.RATE_LIMITED],
    ['a transient failure', transientError, AccountStatus.ACTIVE],
  ])('%s → failed, status %s', async (_label, make, status) => {
    const account = connected();
    client.refreshLongLivedToken.mockRejectedValueOnce(make());
    expect(await service.refreshToken(account.id)).toMatchObject({ status: 'failed' });
    expect(accounts.get(account.id).status).toBe(status);
    expect(vault.tokens.get(account.id)!.accessToken).toBe(TOKEN);
  });

  it.each([
    ['not_found', () => randomUUID()],
    ['no_token', () => accounts.seed().id],
    ['disconnected', () => connected({ status: AccountStatus.DISCONNECTED }).id],
    [
      'short_lived',
      () => {
        const account = connected();
        vault.put(account.id, { tokenType: 'short_lived' });
        return account.id;
      },
    ],
    [
      'no_expiry',
      () => {
        const account = connected();
        vault.put(account.id, { expiresAt: null });
        return account.id;
      },
    ],
  ])('skips (%s) without calling Instagram', async (reason, id) => {
    expect(await service.refreshToken(id())).toEqual({ status: 'skipped', reason });
    expect(client.refreshLongLivedToken).not.toHaveBeenCalled();
  });

  it('a reconnect that stored a new token meanwhile wins', async () => {
    const account = connected();
    client.refreshLongLivedToken.mockResolvedValueOnce(fresh());
    vault.onMetadata = (id) => {
      vault.put(id, { accessToken: 'IGAAreconnected', lastRefreshedAt: new Date() });
    };
    expect(await service.refreshToken(account.id)).toEqual({
      status: 'skipped',
      reason: 'token_replaced',
    });
    expect(vault.tokens.get(account.id)!.accessToken).toBe('IGAAreconnected');
  });
});

describe('markStatus', () => {
  it('changes the status with details and one event; the same status adds no event', async () => {
    const account = accounts.seed();
    await service.markStatus(account.id, AccountStatus.DISCONNECTED, {
      code: 'DEAUTHORIZED',
      message: 'The person removed the app in Instagram settings',
    });
    await service.markStatus(account.id, AccountStatus.DISCONNECTED, { code: 'DEAUTHORIZED' });
    const after = accounts.get(account.id);
    expect(after.status).toBe(AccountStatus.DISCONNECTED);
    expect(after.metadata.errorDetails).toMatchObject({ code: 'DEAUTHORIZED' });
    expect(events.of(account.id).map((e) => e.data)).toEqual([
      {
        from: 'active',
        to: 'disconnected',
        code: 'DEAUTHORIZED',
        reason: 'The person removed the app in Instagram settings',
      },
    ]);
  });

  it('rate_limited keeps the reset time; active clears every mark', async () => {
    const account = accounts.seed();
    const until = new Date(Date.now() + HOUR);
    await service.markStatus(account.id, AccountStatus.RATE_LIMITED, {
      code: '4',
      rateLimitedUntil: until,
    });
    expect(accounts.get(account.id).metadata.rateLimitedUntil).toEqual(until);
    await service.markStatus(account.id, AccountStatus.ACTIVE);
    const after = accounts.get(account.id);
    expect(after.status).toBe(AccountStatus.ACTIVE);
    expect(after.metadata).toEqual({});
  });

  it("joins the caller's transaction; an unknown account is a no-op", async () => {
    const account = accounts.seed();
    const callerTx = { caller: true };
    await service.markStatus(account.id, AccountStatus.ERROR, { code: 'X' }, callerTx as never);
    expect(db.transactions).toEqual([]);
    expect(accounts.txSeen).toContain(callerTx);
    await expect(service.markStatus(randomUUID(), AccountStatus.ERROR)).resolves.toBeUndefined();
  });
});

describe('statusDetail', () => {
  const now = new Date('2030-06-01T12:00:00Z');
  const detail = (overrides: Partial<ClientAccount>) =>
    toAccountResponse(accounts.seed(overrides), now).statusDetail;

  it('explains each non-active status in a sentence', () => {
    expect(detail({})).toBeNull();
    expect(
      detail({
        status: AccountStatus.TOKEN_EXPIRED,
        metadata: { errorDetails: { code: '190', subcode: '460', message: 'x', timestamp: now } },
      }),
    ).toBe('Instagram says the password was changed (190/460). Reconnect the account.');
    expect(
      detail({
        status: AccountStatus.RATE_LIMITED,
        metadata: { rateLimitedUntil: new Date('2030-06-01T14:05:00Z') },
      }),
    ).toBe('Rate limited by Instagram until 14:05 UTC.');
    expect(
      detail({
        status: AccountStatus.TOKEN_EXPIRED,
        tokenExpiresAt: new Date('2030-05-01T09:30:00Z'),
        metadata: {
          errorDetails: { code: 'TOKEN_EXPIRED', message: 'x', timestamp: now },
        },
      }),
    ).toBe('The token expired on 2030-05-01 09:30 UTC. Reconnect the account.');
    expect(
      detail({
        status: AccountStatus.ERROR,
        metadata: { errorDetails: { code: 'TIMEOUT', message: 'x', timestamp: now } },
      }),
    ).toMatch(/did not answer in time/);
    expect(
      detail({
        status: AccountStatus.DISCONNECTED,
        metadata: { errorDetails: { code: 'DEAUTHORIZED', message: 'x', timestamp: now } },
      }),
    ).toMatch(/app was removed/);
    expect(detail({ status: AccountStatus.DISCONNECTED })).toMatch(/paused/);
  });

  it('exposes neither tokens nor raw metadata', () => {
    const response = toAccountResponse(
      accounts.seed({ metadata: { igId: 'secret-ish', facebookPageId: 'x' } }),
      now,
    );
    expect(Object.keys(response)).not.toContain('metadata');
    expect(JSON.stringify(response)).not.toContain('secret-ish');
  });
});

describe('logging', () => {
  it('never logs a token', async () => {
    const account = connected();
    nextProfile(new InstagramTransientError(`failed with ${TOKEN}`, { code: 1 }));
    await service.performSync(account.id, 'manual');
    nextProfile(tokenError());
    await service.refreshAccountStatus(account.id);
    client.refreshLongLivedToken.mockRejectedValueOnce(tokenError());
    await service.refreshToken(account.id);
    await service.deleteAccount(account.id, account.userId);
    expect(logLines.length).toBeGreaterThan(3);
    for (const line of logLines) {
      expect(line).not.toContain(TOKEN);
      expect(line).not.toContain(FRESH_TOKEN);
    }
  });
});
