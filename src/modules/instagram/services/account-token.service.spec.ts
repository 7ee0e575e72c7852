import { randomUUID } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { AccountEventType } from '../../../domain/entities/account-event.entity';
import { AccountStatus } from '../../../domain/entities/client-account.entity';
import {
  type LongLivedToken,
  TokenRefreshNotAllowedError,
} from '../../../infrastructure/instagram';
import {
  accountServicesWithFakes,
  type AccountServicesWithFakes,
} from '../../../../test/fakes/account-services';
import type { FakeAccountEventRepository } from '../../../../test/fakes/fake-account-event.repository';
import type { FakeAccountRepository } from '../../../../test/fakes/fake-account.repository';
import { FRESH_TOKEN, TOKEN, type FakeTokenVault } from '../../../../test/fakes/fake-token-vault';
import {
  rateLimitError,
  tokenError,
  transientError,
} from '../../../../test/fakes/instagram-failures';
import { AccountTokenService } from './account-token.service';

const HOUR = 3_600_000;

let accounts: FakeAccountRepository;
let events: FakeAccountEventRepository;
let vault: FakeTokenVault;
let client: AccountServicesWithFakes['client'];
let connected: AccountServicesWithFakes['connected'];
let service: AccountTokenService;

beforeEach(() => {
  const fakes = accountServicesWithFakes();
  ({ accounts, events, vault, client, connected } = fakes);
  service = fakes.services.tokens;
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
