import { randomUUID } from 'node:crypto';
import {
  BadRequestException,
  ConflictException,
  ForbiddenException,
  NotFoundException,
} from '@nestjs/common';
import { beforeEach, describe, expect, it } from 'vitest';
import { AccountEventType } from '../../../domain/entities/account-event.entity';
import {
  AccountStatus,
  InstagramAccountType,
} from '../../../domain/entities/client-account.entity';
import { InstagramTransientError } from '../../../infrastructure/instagram';
import {
  accountServicesWithFakes,
  type AccountServicesWithFakes,
} from '../../../../test/fakes/account-services';
import type { FakeAccountEventRepository } from '../../../../test/fakes/fake-account-event.repository';
import type { FakeAccountRepository } from '../../../../test/fakes/fake-account.repository';
import { TX, type FakeDb } from '../../../../test/fakes/fake-db';
import type { FakeJobQueue } from '../../../../test/fakes/fake-job-queue';
import { FRESH_TOKEN, TOKEN, type FakeTokenVault } from '../../../../test/fakes/fake-token-vault';
import type { UpdateAccountDto } from '../dto/account.dto';
import { decodeCursor, encodeCursor } from '../dto/pagination';
import { AccountService, OWNED_BY_OTHER_MESSAGE } from './account.service';

const HOUR = 3_600_000;

let accounts: FakeAccountRepository;
let events: FakeAccountEventRepository;
let vault: FakeTokenVault;
let jobs: FakeJobQueue;
let db: FakeDb;
let client: AccountServicesWithFakes['client'];
let connected: AccountServicesWithFakes['connected'];
let service: AccountService;

beforeEach(() => {
  const fakes = accountServicesWithFakes();
  ({ accounts, events, vault, jobs, db, client, connected } = fakes);
  service = fakes.services.account;
});

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
    } as UpdateAccountDto);
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
    await expect(service.updateAccount(account.id, account.userId, dto)).rejects.toBeInstanceOf(
      BadRequestException,
    );
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
