import { describe, expect, it } from 'vitest';
import { AccountStatus, type ClientAccount } from '../../../domain/entities/client-account.entity';
import { FakeAccountRepository } from '../../../../test/fakes/fake-account.repository';
import { toAccountResponse } from './account.dto';

const accounts = new FakeAccountRepository();

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

describe('token refresh fields', () => {
  const now = new Date('2030-06-01T12:00:00Z');
  const tokenExpiresAt = new Date('2030-06-20T00:00:00Z');

  it('show how refreshing the current token goes; nothing tried yet reads as null / 0', () => {
    expect(toAccountResponse(accounts.seed({ tokenExpiresAt }), now)).toMatchObject({
      lastRefreshAt: null,
      lastRefreshError: null,
      refreshAttempts: 0,
    });
    const failing = accounts.seed({
      tokenExpiresAt,
      metadata: {
        tokenRefresh: {
          tokenExpiresAt,
          lastRefreshAt: new Date('2030-04-21T00:00:00Z'),
          attempts: 4,
          lastError: { code: '2', message: 'Service unavailable', at: now },
          nextAttemptAt: new Date('2030-06-01T20:00:00Z'),
          warnedDays: [],
        },
      },
    });
    expect(toAccountResponse(failing, now)).toMatchObject({
      lastRefreshAt: '2030-04-21T00:00:00.000Z',
      lastRefreshError: { code: '2', message: 'Service unavailable', at: now.toISOString() },
      refreshAttempts: 4,
    });
  });

  it("an earlier token's failures do not count against a new one", () => {
    const replaced = accounts.seed({
      tokenExpiresAt: new Date('2030-08-01T00:00:00Z'),
      metadata: {
        tokenRefresh: {
          tokenExpiresAt,
          lastRefreshAt: new Date('2030-04-21T00:00:00Z'),
          attempts: 4,
          lastError: { code: '2', message: 'x', at: now },
          warnedDays: [14],
        },
      },
    });
    expect(toAccountResponse(replaced, now)).toMatchObject({
      lastRefreshAt: '2030-04-21T00:00:00.000Z',
      lastRefreshError: null,
      refreshAttempts: 0,
    });
  });
});
