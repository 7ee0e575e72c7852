import { Inject, Injectable } from '@nestjs/common';
import type { Logger } from 'pino';
import { ROOT_LOGGER } from '../../../common/logging/logging.module';
import { AccountEventType } from '../../../domain/entities/account-event.entity';
import { AccountStatus } from '../../../domain/entities/client-account.entity';
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
import { classifyFailure, logFailure, safeMessage } from './account-failure';
import type { AccountInstagramCalls, TokenStore, Transactions } from './account-ports';
import { AccountStatusService } from './account-status.service';

export type RefreshTokenOutcome =
  | { status: 'refreshed'; expiresAt: Date }
  /** reason: not_found, disconnected, no_token, short_lived, no_expiry, too_young (retryAt set),
   *  expired (status set to token_expired), token_replaced (a reconnect won the race). */
  | { status: 'skipped'; reason: string; retryAt?: Date }
  | { status: 'failed'; error: unknown };

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
   * Exchanges the long-lived token for a fresh 60-day one and stores it. Never throws for
   * Instagram's failures: a dead token marks the account `token_expired`, a rate limit
   * `rate_limited`; other failures leave the status alone (the job retries).
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

    let fresh: LongLivedToken;
    try {
      fresh = await this.client.refreshLongLivedToken(token.accessToken, {
        issuedAt: token.lastRefreshedAt ?? token.issuedAt,
        expiresAt: token.expiresAt,
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
        await this.status.markTokenExpired(accountId, token.expiresAt);
        return { status: 'skipped', reason: 'expired' };
      }
      this.logFailure('Instagram token refresh failed', accountId, error, token.accessToken);
      // Only what the token itself says is recorded; a failed refresh is no sign the account
      // is broken, and the job tries again.
      if (classifyFailure(error).status !== AccountStatus.ERROR) {
        await this.status.recordFailure(
          accountId,
          error,
          token.accessToken,
          'accounts-refresh-failure',
        );
      }
      return { status: 'failed', error };
    }

    const outcome = await this.storeRefreshed(accountId, account.userId, token, fresh);
    if (outcome.status === 'refreshed') {
      this.logger.info({ accountId, expiresAt: outcome.expiresAt }, 'Instagram token refreshed');
    }
    return outcome;
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

  private async storeRefreshed(
    accountId: string,
    userId: string,
    token: StoredToken,
    fresh: LongLivedToken,
  ): Promise<RefreshTokenOutcome> {
    return this.db.tx('accounts-token-refreshed', async (tx): Promise<RefreshTokenOutcome> => {
      if (!(await this.accounts.findByIdForUpdate(accountId, tx))) {
        return { status: 'skipped', reason: 'not_found' };
      }
      // A reconnect that stored another token while we were asking Meta wins: its token may
      // carry scopes this one lacks.
      const stored = await this.vault.metadata(accountId, tx);
      if (
        !stored ||
        !sameInstant(stored.issuedAt, token.issuedAt) ||
        !sameInstant(stored.lastRefreshedAt, token.lastRefreshedAt)
      ) {
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
      await this.accounts.update(accountId, { tokenExpiresAt: fresh.expiresAt }, tx);
      await this.events.append(
        {
          accountId,
          userId,
          type: AccountEventType.TOKEN_REFRESHED,
          data: { expiresAt: fresh.expiresAt.toISOString() },
        },
        tx,
      );
      return { status: 'refreshed', expiresAt: fresh.expiresAt };
    });
  }

  private logFailure(message: string, accountId: string, error: unknown, token: string): void {
    logFailure(this.logger, message, accountId, error, token);
  }
}

function sameInstant(a: Date | null, b: Date | null): boolean {
  return (a?.getTime() ?? null) === (b?.getTime() ?? null);
}
