import { Inject, Injectable } from '@nestjs/common';
import type { Logger } from 'pino';
import { CLOCK, type Clock } from '../../../common/clock/clock';
import { ROOT_LOGGER } from '../../../common/logging/logging.module';
import { AccountEventType } from '../../../domain/entities/account-event.entity';
import { AccountStatus, type ClientAccount } from '../../../domain/entities/client-account.entity';
import type { Queryable } from '../../../domain/repositories/queryable';
import {
  ACCOUNT_EVENT_REPOSITORY,
  type IAccountEventRepository,
} from '../../../domain/repositories/account-event.repository.interface';
import {
  CLIENT_ACCOUNT_REPOSITORY,
  type IClientAccountRepository,
} from '../../../domain/repositories/client-account.repository.interface';
import { TokenDecryptionError } from '../../../infrastructure/crypto/token-cipher';
import { type StoredToken, TokenVault } from '../../../infrastructure/crypto/token-vault';
import { PG } from '../../../infrastructure/database/database.module';
import {
  type LongLivedToken,
  TokenRefreshNotAllowedError,
} from '../../../infrastructure/instagram';
import { INSTAGRAM_CLIENT } from '../../../infrastructure/instagram/instagram-client.module';
import { TokenRefreshNotExtendedError } from '../errors/token-refresh.error';
import { classifyFailure, failureDetails, logFailure, safeMessage } from './account-failure';
import type { AccountInstagramCalls, TokenStore, Transactions } from './account-ports';
import { AccountStatusService } from './account-status.service';
import {
  expiryWarningDue,
  nextRefreshAttempt,
  refreshStateFor,
  warnedThrough,
} from './token-refresh-policy';

export type RefreshTokenOutcome =
  | { status: 'refreshed'; expiresAt: Date }
  /** reason: not_found, disconnected, no_token, short_lived, no_expiry, too_young (retryAt set),
   *  expired (status set to token_expired), token_replaced (a reconnect won the race). */
  | { status: 'skipped'; reason: string; retryAt?: Date }
  /** nextAttemptAt: when the sweep tries again; absent when nothing is left to try. */
  | { status: 'failed'; error: unknown; nextAttemptAt?: Date };

/** What a disconnect's revocation attempt came to, kept in the `disconnected` event. */
export type Revocation = { revoked: boolean } & Record<string, unknown>;

/**
 * An account's Instagram token in use: read it, refresh it before it runs out, revoke it.
 * Storage and encryption are the vault's.
 */
@Injectable()
export class AccountTokenService {
  private readonly logger: Logger;

  constructor(
    @Inject(CLIENT_ACCOUNT_REPOSITORY) private readonly accounts: IClientAccountRepository,
    @Inject(ACCOUNT_EVENT_REPOSITORY) private readonly events: IAccountEventRepository,
    @Inject(TokenVault) private readonly vault: TokenStore,
    @Inject(INSTAGRAM_CLIENT) private readonly client: AccountInstagramCalls,
    @Inject(PG) private readonly db: Transactions,
    private readonly status: AccountStatusService,
    @Inject(ROOT_LOGGER) logger: Logger,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {
    this.logger = logger.child({ component: 'instagram-accounts' });
  }

  /**
   * The stored token, or null when there is none or it no longer decrypts (a damaged row): both
   * are fixed the same way, by reconnecting, which stores a new one.
   */
  async readToken(accountId: string): Promise<StoredToken | null> {
    try {
      return await this.vault.read(accountId);
    } catch (error) {
      if (!(error instanceof TokenDecryptionError)) throw error;
      this.logger.error(
        { accountId, reason: error.reason },
        'stored Instagram token does not decrypt; the account needs reconnecting',
      );
      return null;
    }
  }

  /**
   * Exchanges the long-lived token for a fresh 60-day one and stores it, if it really outlives
   * the old one. Never throws for Instagram's failures: each failed attempt is counted on the
   * account with when to try again (backoff until the token expires, see token-refresh-policy);
   * a dead token (190) also marks the account `token_expired` at once, a rate limit
   * `rate_limited`. Other failures leave the status alone: a failed refresh is no sign the
   * account is broken.
   */
  async refreshToken(accountId: string): Promise<RefreshTokenOutcome> {
    const account = await this.accounts.findById(accountId);
    if (!account) return { status: 'skipped', reason: 'not_found' };
    if (account.status === AccountStatus.DISCONNECTED) {
      return { status: 'skipped', reason: 'disconnected' };
    }
    const token = await this.readToken(accountId);
    if (!token) return { status: 'skipped', reason: 'no_token' };
    if (token.tokenType !== 'long_lived') return { status: 'skipped', reason: 'short_lived' };
    if (!token.expiresAt) return { status: 'skipped', reason: 'no_expiry' };
    const expiresAt = token.expiresAt;
    const held = { ...token, expiresAt };

    let fresh: LongLivedToken;
    try {
      // Its age counts from when it was last replaced, which is what Meta checks.
      const obtainedAt = Math.max(token.issuedAt.getTime(), token.lastRefreshedAt?.getTime() ?? 0);
      fresh = await this.client.refreshLongLivedToken(token.accessToken, {
        issuedAt: new Date(obtainedAt),
        expiresAt,
      });
    } catch (error) {
      if (error instanceof TokenRefreshNotAllowedError) {
        if (error.reason === 'too_young') {
          return {
            status: 'skipped',
            reason: 'too_young',
            ...(error.retryAt ? { retryAt: error.retryAt } : {}),
          };
        }
        await this.status.markTokenExpired(accountId, expiresAt);
        return { status: 'skipped', reason: 'expired' };
      }
      this.logFailure('Instagram token refresh failed', accountId, error, token.accessToken);
      return this.recordRefreshFailure(accountId, held, error);
    }

    if (fresh.expiresAt.getTime() <= expiresAt.getTime()) {
      const error = new TokenRefreshNotExtendedError(expiresAt, fresh.expiresAt);
      this.logger.warn(
        { accountId, expiresAt, returnedExpiresAt: fresh.expiresAt },
        'Instagram token refresh did not extend the token; counted as a failure',
      );
      return this.recordRefreshFailure(accountId, held, error);
    }
    const outcome = await this.storeRefreshed(accountId, account.userId, held, fresh);
    if (outcome.status === 'refreshed') {
      this.logger.info({ accountId, expiresAt: outcome.expiresAt }, 'Instagram token refreshed');
    }
    return outcome;
  }

  /**
   * Writes the expiry warning the account's token is owed now (14, 7 or 1 day before it lapses,
   * each once per token; see `expiryWarningDue`), with the mark that it was written, in one
   * transaction under the row lock: two sweeps at once still warn once. The days, or undefined.
   */
  async warnIfExpiring(accountId: string, windowDays: number): Promise<number | undefined> {
    const now = this.clock.now();
    return this.db.tx('accounts-token-expiring', async (tx) => {
      const current = await this.accounts.findByIdForUpdate(accountId, tx);
      const expiresAt = current?.tokenExpiresAt;
      if (!current || !expiresAt || current.status === AccountStatus.DISCONNECTED) return undefined;
      const state = refreshStateFor(current, expiresAt);
      const days = expiryWarningDue(state, expiresAt, now, windowDays);
      if (days === undefined) return undefined;
      await this.accounts.update(
        accountId,
        {
          metadata: {
            ...current.metadata,
            tokenRefresh: { ...state, warnedDays: warnedThrough(state, days) },
          },
        },
        tx,
      );
      await this.events.append(
        {
          accountId,
          userId: current.userId,
          type: AccountEventType.TOKEN_EXPIRING,
          data: {
            daysLeft: days,
            expiresAt: expiresAt.toISOString(),
            refreshAttempts: state.attempts,
            ...(state.lastError ? { lastRefreshError: state.lastError.code } : {}),
          },
        },
        tx,
      );
      this.logger.warn(
        { accountId, daysLeft: days, expiresAt, refreshAttempts: state.attempts },
        'Instagram token will lapse before it could be refreshed',
      );
      return days;
    });
  }

  /** Attempted, never thrown: the honest outcome goes into the account's history. */
  async revoke(accountId: string): Promise<Revocation> {
    const token = await this.readToken(accountId);
    if (!token) {
      return { revoked: false, reason: 'no_token', detail: 'No usable token was stored' };
    }
    try {
      return { ...(await this.client.revokeToken(token.accessToken)) };
    } catch (error) {
      this.logFailure('Instagram token revocation failed', accountId, error, token.accessToken);
      return { revoked: false, reason: 'failed', detail: safeMessage(error, token.accessToken) };
    }
  }

  /**
   * One failed refresh, counted on the account with the next attempt's time, together with the
   * status a dead token or a rate limit means, in one transaction. Nothing is written when the
   * token was replaced meanwhile (a reconnect): the failure was the old token's.
   */
  private async recordRefreshFailure(
    accountId: string,
    token: StoredToken & { expiresAt: Date },
    error: unknown,
  ): Promise<RefreshTokenOutcome> {
    const failure = classifyFailure(error);
    const now = this.clock.now();
    const details = failureDetails(error, now, token.accessToken);
    return this.db.tx('accounts-refresh-failure', async (tx): Promise<RefreshTokenOutcome> => {
      const current = await this.accounts.findByIdForUpdate(accountId, tx);
      if (!current || (await this.tokenReplaced(accountId, token, tx))) {
        return { status: 'failed', error };
      }
      let account: ClientAccount = current;
      // A dead token is token_expired now, not after a few more tries; a rate limit says until
      // when. Anything else is no news about the account.
      if (failure.kind === 'token_invalid' || failure.kind === 'rate_limited') {
        account =
          (await this.status.applyStatus(tx, accountId, failure.status, {
            errorDetails: details,
            rateLimitedUntil: failure.retryAt,
            reason: failure.reason,
            keepDisconnected: true,
          })) ?? current;
      }
      const state = refreshStateFor(account, token.expiresAt);
      const attempts = state.attempts + 1;
      const next =
        failure.kind === 'token_invalid'
          ? undefined
          : (failure.retryAt ?? nextRefreshAttempt(attempts, now, token.expiresAt));
      const { nextAttemptAt: _previous, ...rest } = state;
      await this.accounts.update(
        accountId,
        {
          metadata: {
            ...account.metadata,
            tokenRefresh: {
              ...rest,
              attempts,
              lastError: { code: details.code, message: details.message, at: now },
              ...(next ? { nextAttemptAt: next } : {}),
            },
          },
        },
        tx,
      );
      return { status: 'failed', error, ...(next ? { nextAttemptAt: next } : {}) };
    });
  }

  private async storeRefreshed(
    accountId: string,
    userId: string,
    token: StoredToken & { expiresAt: Date },
    fresh: LongLivedToken,
  ): Promise<RefreshTokenOutcome> {
    const now = this.clock.now();
    return this.db.tx('accounts-token-refreshed', async (tx): Promise<RefreshTokenOutcome> => {
      const current = await this.accounts.findByIdForUpdate(accountId, tx);
      if (!current) return { status: 'skipped', reason: 'not_found' };
      // A reconnect that stored another token while we were asking Meta wins: its token may
      // carry scopes this one lacks.
      if (await this.tokenReplaced(accountId, token, tx)) {
        return { status: 'skipped', reason: 'token_replaced' };
      }
      await this.vault.store(
        accountId,
        {
          accessToken: fresh.accessToken,
          tokenType: 'long_lived',
          issuedAt: fresh.issuedAt,
          expiresAt: fresh.expiresAt,
          scopes: token.scopes,
        },
        tx,
      );
      // The new token starts clean: no failed attempts, no warnings; only when it was obtained.
      await this.accounts.update(
        accountId,
        {
          tokenExpiresAt: fresh.expiresAt,
          metadata: {
            ...current.metadata,
            tokenRefresh: {
              tokenExpiresAt: fresh.expiresAt,
              lastRefreshAt: now,
              attempts: 0,
              warnedDays: [],
            },
          },
        },
        tx,
      );
      await this.events.append(
        {
          accountId,
          userId,
          type: AccountEventType.TOKEN_REFRESHED,
          data: {
            expiresAt: fresh.expiresAt.toISOString(),
            previousExpiresAt: token.expiresAt.toISOString(),
          },
        },
        tx,
      );
      return { status: 'refreshed', expiresAt: fresh.expiresAt };
    });
  }

  private async tokenReplaced(accountId: string, token: StoredToken, tx: Queryable) {
    const stored = await this.vault.metadata(accountId, tx);
    return (
      !stored ||
      !sameInstant(stored.issuedAt, token.issuedAt) ||
      !sameInstant(stored.lastRefreshedAt, token.lastRefreshedAt)
    );
  }

  private logFailure(message: string, accountId: string, error: unknown, token: string): void {
    logFailure(this.logger, message, accountId, error, token);
  }
}

function sameInstant(a: Date | null, b: Date | null): boolean {
  return (a?.getTime() ?? null) === (b?.getTime() ?? null);
}
