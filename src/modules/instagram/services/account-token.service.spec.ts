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
      [
        AccountEventType.TOKEN_REFRESHED,
        {
          expiresAt: next.expiresAt.toISOString(),
          previousExpiresAt: stored.expiresAt!.toISOString(),
        },
      ],
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

  it('a refresh that does not move the expiry is a failed attempt: nothing stored, no event', async () => {
    const account = connected();
    const held = vault.tokens.get(account.id)!;
    client.refreshLongLivedToken.mockResolvedValueOnce({ ...fresh(), expiresAt: held.expiresAt });
    expect(await service.refreshToken(account.id)).toMatchObject({
      status: 'failed',
      error: expect.objectContaining({ name: 'TokenRefreshNotExtendedError' }),
      nextAttemptAt: expect.any(Date),
    });
    expect(vault.tokens.get(account.id)!.accessToken).toBe(TOKEN);
    expect(events.of(account.id)).toEqual([]);
    const after = accounts.get(account.id);
    expect(after.status).toBe(AccountStatus.ACTIVE);
    expect(after.tokenExpiresAt).toEqual(held.expiresAt);
    expect(after.metadata.tokenRefresh).toMatchObject({
      attempts: 1,
      lastError: { code: 'REFRESH_NOT_EXTENDED', message: expect.stringContaining('extending') },
    });
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

describe('refreshToken: attempts and backoff', () => {
  const T0 = new Date('2030-03-01T12:00:00Z');
  let now: Date;
  let fakes: AccountServicesWithFakes;
  let tokens: AccountTokenService;

  beforeEach(() => {
    now = T0;
    fakes = accountServicesWithFakes({ now: () => now });
    tokens = fakes.services.tokens;
  });

  /** An account whose token expires `days` after T0, obtained long before. */
  const expiringIn = (days: number) => {
    const account = fakes.connected({ tokenExpiresAt: new Date(T0.getTime() + days * 24 * HOUR) });
    fakes.vault.put(account.id, {
      expiresAt: account.tokenExpiresAt!,
      issuedAt: new Date(T0.getTime() - 40 * 24 * HOUR),
    });
    return account;
  };
  const stateOf = (id: string) => fakes.accounts.get(id).metadata.tokenRefresh;

  it('counts each failure, backs off exponentially (1 h, 2 h, 4 h ±20 %), never touches the status', async () => {
    const account = expiringIn(20);
    const waits: number[] = [];
    for (let i = 1; i <= 3; i++) {
      fakes.client.refreshLongLivedToken.mockRejectedValueOnce(transientError());
      const outcome = await tokens.refreshToken(account.id);
      expect(outcome.status).toBe('failed');
      const state = stateOf(account.id)!;
      expect(state).toMatchObject({ attempts: i, lastError: { code: '2', at: now } });
      waits.push(state.nextAttemptAt!.getTime() - now.getTime());
      now = state.nextAttemptAt!;
    }
    [1, 2, 4].forEach((hours, i) => {
      expect(waits[i]).toBeGreaterThanOrEqual(0.8 * hours * HOUR);
      expect(waits[i]).toBeLessThanOrEqual(1.2 * hours * HOUR);
    });
    expect(fakes.accounts.get(account.id).status).toBe(AccountStatus.ACTIVE);
    expect(fakes.events.of(account.id)).toEqual([]);
  });

  it('keeps trying as expiry nears: the wait shrinks to half the time left', async () => {
    const account = expiringIn(0.25); // six hours left
    fakes.client.refreshLongLivedToken.mockRejectedValue(transientError());
    const attempts: Date[] = [];
    for (let i = 0; i < 30 && now.getTime() < account.tokenExpiresAt!.getTime(); i++) {
      const outcome = await tokens.refreshToken(account.id);
      if (outcome.status !== 'failed' || !outcome.nextAttemptAt) break;
      expect(outcome.nextAttemptAt.getTime()).toBeLessThan(account.tokenExpiresAt!.getTime());
      attempts.push(outcome.nextAttemptAt);
      now = outcome.nextAttemptAt;
    }
    // Tried again and again until within five minutes of the end, then nothing is left to try.
    expect(attempts.length).toBeGreaterThanOrEqual(5);
    expect(account.tokenExpiresAt!.getTime() - now.getTime()).toBeLessThanOrEqual(10 * 60_000);
    expect(stateOf(account.id)!.attempts).toBe(attempts.length + 1);
    expect(fakes.accounts.get(account.id).status).toBe(AccountStatus.ACTIVE);
  });

  it('190 → token_expired at once, the attempt counted, no further attempt', async () => {
    const account = expiringIn(20);
    fakes.client.refreshLongLivedToken.mockRejectedValueOnce(tokenError());
    const outcome = await tokens.refreshToken(account.id);
    expect(outcome).toMatchObject({ status: 'failed' });
    expect(outcome).not.toHaveProperty('nextAttemptAt');
    const after = fakes.accounts.get(account.id);
    expect(after.status).toBe(AccountStatus.TOKEN_EXPIRED);
    expect(after.metadata.errorDetails).toMatchObject({ code: '190', subcode: '460' });
    expect(after.metadata.tokenRefresh).toMatchObject({ attempts: 1, lastError: { code: '190' } });
    expect(after.metadata.tokenRefresh!.nextAttemptAt).toBeUndefined();
  });

  it('a rate limit → rate_limited, the next attempt when it lifts', async () => {
    const account = expiringIn(20);
    const resetAt = new Date(T0.getTime() + 3 * HOUR);
    fakes.client.refreshLongLivedToken.mockRejectedValueOnce(rateLimitError(resetAt));
    expect(await tokens.refreshToken(account.id)).toMatchObject({ nextAttemptAt: resetAt });
    expect(fakes.accounts.get(account.id).status).toBe(AccountStatus.RATE_LIMITED);
  });

  it('a success clears the failures: the new token starts clean, dated by the clock', async () => {
    const account = expiringIn(20);
    fakes.client.refreshLongLivedToken.mockRejectedValueOnce(transientError());
    await tokens.refreshToken(account.id);
    now = new Date(T0.getTime() + 2 * HOUR);
    const expiresAt = new Date(now.getTime() + 60 * 24 * HOUR);
    fakes.client.refreshLongLivedToken.mockResolvedValueOnce({
      accessToken: FRESH_TOKEN,
      tokenType: 'bearer',
      expiresIn: 5_184_000,
      issuedAt: now,
      expiresAt,
    });
    expect(await tokens.refreshToken(account.id)).toEqual({ status: 'refreshed', expiresAt });
    expect(stateOf(account.id)).toEqual({
      tokenExpiresAt: expiresAt,
      lastRefreshAt: now,
      attempts: 0,
      warnedDays: [],
    });
  });
});

describe('warnIfExpiring', () => {
  const T0 = new Date('2030-03-01T12:00:00Z');
  const DAY = 24 * HOUR;
  let now: Date;
  let fakes: AccountServicesWithFakes;

  beforeEach(() => {
    now = T0;
    fakes = accountServicesWithFakes({ now: () => now });
  });

  it('warns at 14, 7 and 1 day left, each once per token, with the failures so far', async () => {
    const expiresAt = new Date(T0.getTime() + 20 * DAY);
    const account = fakes.connected({ tokenExpiresAt: expiresAt });
    const warn = () => fakes.services.tokens.warnIfExpiring(account.id, 30);
    const written: (number | undefined)[] = [];
    for (const daysLeft of [15, 13.9, 13, 8, 6.5, 6, 2, 0.9, 0.5, 0.1, -0.1]) {
      now = new Date(expiresAt.getTime() - daysLeft * DAY);
      written.push(await warn());
    }
    expect(written.filter((d) => d !== undefined)).toEqual([14, 7, 1]);
    const events = fakes.events.of(account.id, AccountEventType.TOKEN_EXPIRING);
    expect(events.map((e) => e.data)).toEqual(
      [14, 7, 1].map((daysLeft) => ({
        daysLeft,
        expiresAt: expiresAt.toISOString(),
        refreshAttempts: 0,
      })),
    );
  });

  it('after an outage, one warning for the nearest threshold stands for the skipped ones', async () => {
    const expiresAt = new Date(T0.getTime() + 5 * DAY);
    const account = fakes.connected({ tokenExpiresAt: expiresAt });
    expect(await fakes.services.tokens.warnIfExpiring(account.id, 30)).toBe(7);
    expect(await fakes.services.tokens.warnIfExpiring(account.id, 30)).toBeUndefined();
    expect(fakes.accounts.get(account.id).metadata.tokenRefresh!.warnedDays).toEqual([14, 7]);
  });

  it('a token the window has not reached yet is not "unable to refresh" until a refresh fails', async () => {
    const expiresAt = new Date(T0.getTime() + 5 * DAY);
    const account = fakes.connected({ tokenExpiresAt: expiresAt });
    fakes.vault.put(account.id, { expiresAt, issuedAt: new Date(T0.getTime() - 50 * DAY) });
    // TOKEN_REFRESH_WINDOW_DAYS=3: nobody has tried to refresh this token yet.
    expect(await fakes.services.tokens.warnIfExpiring(account.id, 3)).toBeUndefined();
    fakes.client.refreshLongLivedToken.mockRejectedValueOnce(transientError());
    await fakes.services.tokens.refreshToken(account.id);
    expect(await fakes.services.tokens.warnIfExpiring(account.id, 3)).toBe(7);
    expect(fakes.events.of(account.id, AccountEventType.TOKEN_EXPIRING)[0]!.data).toMatchObject({
      refreshAttempts: 1,
      lastRefreshError: '2',
    });
  });

  it('a new token starts without warnings; a disconnected account gets none', async () => {
    const expiresAt = new Date(T0.getTime() + 10 * DAY);
    const account = fakes.connected({ tokenExpiresAt: expiresAt });
    expect(await fakes.services.tokens.warnIfExpiring(account.id, 30)).toBe(14);
    // A reconnect (or refresh) replaced the token: its own warnings are still owed.
    const next = new Date(T0.getTime() + 12 * DAY);
    await fakes.accounts.update(account.id, { tokenExpiresAt: next });
    expect(await fakes.services.tokens.warnIfExpiring(account.id, 30)).toBe(14);
    const gone = fakes.connected({
      tokenExpiresAt: expiresAt,
      status: AccountStatus.DISCONNECTED,
    });
    expect(await fakes.services.tokens.warnIfExpiring(gone.id, 30)).toBeUndefined();
  });
});
