import { randomUUID } from 'node:crypto';
import { ForbiddenException, NotFoundException } from '@nestjs/common';
import { beforeEach, describe, expect, it } from 'vitest';
import { AccountEventType } from '../../../domain/entities/account-event.entity';
import {
  AccountStatus,
  type ClientAccount,
  InstagramAccountType,
} from '../../../domain/entities/client-account.entity';
import {
  InstagramTokenInvalidError,
  InstagramTransientError,
} from '../../../infrastructure/instagram';
import {
  accountServicesWithFakes,
  type AccountServicesWithFakes,
} from '../../../../test/fakes/account-services';
import type { FakeAccountEventRepository } from '../../../../test/fakes/fake-account-event.repository';
import type { FakeAccountRepository } from '../../../../test/fakes/fake-account.repository';
import { TOKEN } from '../../../../test/fakes/fake-token-vault';
import {
  networkError,
  permissionError,
  profileOf,
  rateLimitError,
  timeoutError,
  tokenError,
  transientError,
} from '../../../../test/fakes/instagram-failures';
import { AccountSyncError } from '../errors/account-sync.error';
import { mapAccountSyncError } from '../filters/account-sync-error.filter';
import { AccountSyncService } from './account-sync.service';

const HOUR = 3_600_000;

let accounts: FakeAccountRepository;
let events: FakeAccountEventRepository;
let client: AccountServicesWithFakes['client'];
let connected: AccountServicesWithFakes['connected'];
let nextProfile: AccountServicesWithFakes['nextProfile'];
let service: AccountSyncService;

beforeEach(() => {
  const fakes = accountServicesWithFakes();
  ({ accounts, events, client, connected, nextProfile } = fakes);
  service = fakes.services.sync;
});

/** What POST /:id/sync does with the outcome (the controller), without the HTTP around it. */
async function manualSync(accountId: string, userId?: string): Promise<ClientAccount> {
  const outcome = await service.sync(accountId, 'manual', userId);
  if (outcome.status !== 'synced') throw AccountSyncError.of(outcome);
  return outcome.account;
}

/** The answer AccountSyncErrorFilter gives for what a manual sync threw. */
async function answerOf(sync: Promise<unknown>) {
  const error = await sync.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AccountSyncError);
  return mapAccountSyncError(error as AccountSyncError);
}

describe("sync (the job's path)", () => {
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
    const outcome = await service.sync(account.id, 'periodic');
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

  it('active → token_expired on 190/460, with the details, a status_changed and a needs_reconnect event', async () => {
    const account = connected();
    nextProfile(tokenError());
    const outcome = await service.sync(account.id, 'periodic');
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
    expect(events.of(account.id).map((e) => [e.type, e.data])).toEqual([
      [
        AccountEventType.STATUS_CHANGED,
        {
          from: 'active',
          to: 'token_expired',
          code: '190',
          subcode: '460',
          reason: 'password_changed',
        },
      ],
      [
        AccountEventType.NEEDS_RECONNECT,
        { status: 'token_expired', reason: 'token_invalid', code: '190', subcode: '460' },
      ],
    ]);
  });

  it('→ rate_limited until resetAt; the next sync waits without calling Instagram', async () => {
    const account = connected();
    const resetAt = new Date(Date.now() + 15 * 60_000);
    nextProfile(rateLimitError(resetAt, 80002));
    expect((await service.sync(account.id, 'periodic')).status).toBe('failed');
    const after = accounts.get(account.id);
    expect(after.status).toBe(AccountStatus.RATE_LIMITED);
    expect(after.metadata.rateLimitedUntil).toEqual(resetAt);
    expect(after.metadata.errorDetails!.code).toBe('80002');

    expect(await service.sync(account.id, 'periodic')).toMatchObject({
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
    expect((await service.sync(account.id, 'periodic')).status).toBe('synced');
    expect(accounts.get(account.id).metadata.rateLimitedUntil).toBeUndefined();
  });

  it('→ error at once on a failure that is not transient (a missing permission)', async () => {
    const account = connected();
    nextProfile(permissionError());
    expect((await service.sync(account.id, 'periodic')).status).toBe('failed');
    const after = accounts.get(account.id);
    expect(after.status).toBe(AccountStatus.ERROR);
    expect(after.metadata.errorDetails!.code).toBe('10');
  });

  it.each([
    ['transient', transientError, '2'],
    ['timeout', timeoutError, 'TIMEOUT'],
    ['network', networkError, 'NETWORK'],
  ])(
    'a %s failure counts; only the third in a row makes it error (code %s)',
    async (_l, make, code) => {
      const account = connected();
      for (const [n, expected] of [
        [1, AccountStatus.ACTIVE],
        [2, AccountStatus.ACTIVE],
        [3, AccountStatus.ERROR],
      ] as const) {
        nextProfile(make());
        expect((await service.sync(account.id, 'periodic')).status).toBe('failed');
        const after = accounts.get(account.id);
        expect({ n, status: after.status }).toEqual({ n, status: expected });
        expect(after.metadata.transientFailures).toBe(n);
      }
      expect(accounts.get(account.id).metadata.errorDetails!.code).toBe(code);
      expect(events.of(account.id, AccountEventType.STATUS_CHANGED).map((e) => e.data)).toEqual([
        expect.objectContaining({ from: 'active', to: 'error', code }),
      ]);
    },
  );

  it('a success resets the count: two failures, a sync, two failures leave it active', async () => {
    const account = connected();
    for (const step of ['fail', 'fail', 'ok', 'fail', 'fail'] as const) {
      nextProfile(step === 'ok' ? profileOf(account) : transientError());
      await service.sync(account.id, 'periodic');
    }
    const after = accounts.get(account.id);
    expect(after.status).toBe(AccountStatus.ACTIVE);
    expect(after.metadata.transientFailures).toBe(2);
    expect(after.metadata.errorDetails).toBeUndefined();
    expect(events.of(account.id, AccountEventType.STATUS_CHANGED)).toEqual([]);
  });

  it('a failure that is not transient ends the run: the next transient one counts from one', async () => {
    const account = connected();
    nextProfile(transientError());
    await service.sync(account.id, 'periodic');
    nextProfile(permissionError());
    await service.sync(account.id, 'periodic');
    expect(accounts.get(account.id).metadata.transientFailures).toBeUndefined();
  });

  it('a repeated failure updates the details without another status_changed', async () => {
    const account = connected();
    for (let i = 0; i < 3; i++) {
      nextProfile(transientError());
      await service.sync(account.id, 'periodic');
    }
    nextProfile(timeoutError());
    await service.sync(account.id, 'periodic');
    expect(events.of(account.id, AccountEventType.STATUS_CHANGED)).toHaveLength(1);
    expect(accounts.get(account.id).metadata.errorDetails!.code).toBe('TIMEOUT');
  });

  it('never stores the token, even if an error message carried it', async () => {
    const account = connected();
    // Three in a row, so the failure's details are written.
    for (let i = 0; i < 3; i++) {
      nextProfile(new InstagramTransientError(`failed for access_token=${TOKEN}`, { code: 1 }));
      await service.sync(account.id, 'periodic');
    }
    const after = accounts.get(account.id);
    expect(after.metadata.errorDetails!.message).toContain('[REDACTED]');
    expect(JSON.stringify(after)).not.toContain(TOKEN);
  });

  it.each([
    ['not_found', () => randomUUID()],
    ['no_token', () => accounts.seed().id],
    ['disconnected', () => connected({ status: AccountStatus.DISCONNECTED }).id],
  ])('skips (%s) without calling Instagram', async (reason, id) => {
    expect(await service.sync(id(), 'periodic')).toMatchObject({
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
    expect(await service.sync(account.id, 'periodic')).toMatchObject({
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
    await service.sync(account.id, 'periodic');
    expect(accounts.get(account.id).status).toBe(AccountStatus.DISCONNECTED);
  });
});

describe("sync(…, 'manual'): a person's sync and its answer", () => {
  it('returns the synced account', async () => {
    const account = connected();
    nextProfile(profileOf(account, { mediaCount: 77 }));
    expect((await manualSync(account.id, account.userId)).mediaCount).toBe(77);
  });

  it('409 telling the user to reconnect on 190/460, after recording it', async () => {
    const account = connected();
    nextProfile(tokenError());
    expect(await answerOf(manualSync(account.id))).toEqual({
      status: 409,
      message:
        "Instagram rejected this account's access (code 190/460: password changed). Reconnect the account.",
    });
    expect(accounts.get(account.id).status).toBe(AccountStatus.TOKEN_EXPIRED);
  });

  it('409 for a missing permission, a missing token or a disconnected account', async () => {
    const account = connected();
    nextProfile(permissionError());
    await expect(manualSync(account.id)).rejects.toThrow(/Reconnect/);
    const noToken = accounts.seed();
    expect((await answerOf(manualSync(noToken.id))).status).toBe(409);
    const paused = connected({ status: AccountStatus.DISCONNECTED });
    expect((await answerOf(manualSync(paused.id))).status).toBe(409);
  });

  it('429 with Retry-After on a rate limit, and again without calling Instagram', async () => {
    const account = connected();
    nextProfile(rateLimitError(new Date(Date.now() + 120_000)));
    const first = await answerOf(manualSync(account.id));
    expect(first.status).toBe(429);
    expect(Number(first.headers?.['retry-after'])).toBeGreaterThan(110);
    expect(Number(first.headers?.['retry-after'])).toBeLessThanOrEqual(120);
    const second = await answerOf(manualSync(account.id));
    expect(second.status).toBe(429);
    expect(Number(second.headers?.['retry-after'])).toBeLessThanOrEqual(120);
    expect(client.getProfile).toHaveBeenCalledTimes(1);
  });

  it.each([
    [timeoutError, /did not answer in time/],
    [networkError, /could not be reached/],
    [transientError, /temporary problem/],
  ])('502 on upstream failures (%#)', async (make, message) => {
    const account = connected();
    // Every failed sync answers 502; the account turns error only at the third in a row.
    for (const status of [AccountStatus.ACTIVE, AccountStatus.ACTIVE, AccountStatus.ERROR]) {
      nextProfile(make());
      const answer = await answerOf(manualSync(account.id));
      expect(answer.status).toBe(502);
      expect(answer.message).toMatch(message);
      expect(accounts.get(account.id).status).toBe(status);
    }
  });

  it('404 / 403 before anything is called or written', async () => {
    const account = connected();
    await expect(manualSync(randomUUID(), account.userId)).rejects.toBeInstanceOf(
      NotFoundException,
    );
    await expect(manualSync(account.id, randomUUID())).rejects.toBeInstanceOf(ForbiddenException);
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
    expect(events.of(account.id).map((e) => [e.type, e.data])).toEqual([
      [
        AccountEventType.STATUS_CHANGED,
        { from: 'error', to: 'active', reason: 'status_check_succeeded' },
      ],
      [AccountEventType.RECOVERED, { from: 'error' }],
    ]);
  });

  it.each([
    ['190', tokenError, AccountStatus.TOKEN_EXPIRED],
    ['rate limit', () => rateLimitError(new Date(Date.now() + HOUR)), AccountStatus.RATE_LIMITED],
    ['transient', transientError, AccountStatus.ACTIVE],
  ])('%s → %s (no exception)', async (_label, make, status) => {
    const account = connected();
    nextProfile(make());
    expect(await service.refreshAccountStatus(account.id)).toBe(status);
    expect(accounts.get(account.id).status).toBe(status);
  });

  it('transient failures count as for syncs: the third in a row → error', async () => {
    const account = connected();
    const seen: AccountStatus[] = [];
    for (let i = 0; i < 3; i++) {
      nextProfile(timeoutError());
      seen.push(await service.refreshAccountStatus(account.id));
    }
    expect(seen).toEqual([AccountStatus.ACTIVE, AccountStatus.ACTIVE, AccountStatus.ERROR]);
    nextProfile(profileOf(account));
    expect(await service.refreshAccountStatus(account.id)).toBe(AccountStatus.ACTIVE);
    expect(accounts.get(account.id).metadata.transientFailures).toBeUndefined();
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
