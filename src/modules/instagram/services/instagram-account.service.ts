import {
  BadGatewayException,
  BadRequestException,
  ConflictException,
  ForbiddenException,
  type HttpException,
  Inject,
  Injectable,
  NotFoundException,
} from '@nestjs/common';
import type { Logger } from 'pino';
import { TooManyRequestsException } from '../../../common/errors/too-many-requests.exception';
import { ROOT_LOGGER } from '../../../common/logging/logging.module';
import { type AccountEvent, AccountEventType } from '../../../domain/entities/account-event.entity';
import {
  type AccountErrorDetails,
  type AccountMetadata,
  AccountStatus,
  type ClientAccount,
  InstagramAccountType,
  mapInstagramAccountType,
} from '../../../domain/entities/client-account.entity';
import {
  ACCOUNT_EVENT_REPOSITORY,
  type IAccountEventRepository,
} from '../../../domain/repositories/account-event.repository.interface';
import {
  type AccountUpdate,
  CLIENT_ACCOUNT_REPOSITORY,
  type IClientAccountRepository,
} from '../../../domain/repositories/client-account.repository.interface';
import { TokenDecryptionError } from '../../../infrastructure/crypto/token-cipher';
import {
  type StoredToken,
  type TokenType,
  TokenVault,
} from '../../../infrastructure/crypto/token-vault';
import type { Db, Queryable } from '../../../infrastructure/database/database';
import { PG } from '../../../infrastructure/database/database.module';
import {
  InstagramApiError,
  type InstagramClient,
  InstagramNetworkError,
  type InstagramProfile,
  InstagramPermissionError,
  InstagramRateLimitError,
  InstagramTimeoutError,
  InstagramTokenInvalidError,
  InstagramTransientError,
  type LongLivedToken,
  TokenRefreshNotAllowedError,
  type TokenInvalidReason,
} from '../../../infrastructure/instagram';
import { INSTAGRAM_CLIENT } from '../../../infrastructure/instagram/instagram-client.module';
import type { JobPayloads } from '../../../infrastructure/jobs/job-names';
import { JobQueue } from '../../../infrastructure/jobs/job-queue';
import {
  type CreateAccountDto,
  formatUtc,
  STATUS_MANAGED_MESSAGE,
  type UpdateAccountDto,
} from '../dto/account.dto';
import { decodeCursor, encodeCursor, pageSize } from '../dto/pagination';

export type SyncReason = JobPayloads['account.sync']['reason'];

export type SyncOutcome =
  | { status: 'synced'; account: ClientAccount }
  | { status: 'failed'; account: ClientAccount; error: unknown }
  | {
      status: 'skipped';
      reason: 'not_found' | 'no_token' | 'disconnected' | 'rate_limited';
      account?: ClientAccount;
    };

export type RefreshTokenOutcome =
  | { status: 'refreshed'; expiresAt: Date }
  /** reason: not_found, disconnected, no_token, short_lived, no_expiry, too_young (retryAt set),
   *  expired (status set to token_expired), token_replaced (a reconnect won the race). */
  | { status: 'skipped'; reason: string; retryAt?: Date }
  | { status: 'failed'; error: unknown };

export interface ConnectToken {
  accessToken: string;
  tokenType: TokenType;
  issuedAt: Date;
  expiresAt: Date | null;
  scopes: string[];
}

export interface ConnectProfile {
  followerCount?: number;
  followingCount?: number;
  mediaCount?: number;
  biography?: string;
  website?: string;
}

export interface CreateAccountOptions {
  token?: ConnectToken;
  metadata?: AccountMetadata;
  profile?: ConnectProfile;
}

export interface StatusDetail {
  /** Meta's code as a string ("190") or ours ("DEAUTHORIZED", "TOKEN_EXPIRED", …). */
  code?: string;
  subcode?: string;
  message?: string;
  rateLimitedUntil?: Date;
  /** Short machine word for the status_changed event; defaults to `message`. */
  reason?: string;
}

export interface PageRequest {
  limit?: number | undefined;
  cursor?: string | undefined;
}

export const OWNED_BY_OTHER_MESSAGE =
  'This Instagram account is already connected to another ssell user';

const TOKEN_REASON_TEXT: Readonly<Record<TokenInvalidReason, string>> = {
  app_not_installed: 'the app was removed from the account',
  checkpointed: 'the account needs a security check on Instagram',
  password_changed: 'password changed',
  expired: 'token expired',
  unconfirmed_user: 'the user is not confirmed',
  invalid: 'token invalid',
  no_page_role: 'no role on the Page',
  inactive: 'the account has been inactive too long',
  unknown: 'token no longer valid',
};

// Column widths of client_accounts: Instagram's values fit, but a write must never fail on one.
const DISPLAY_NAME_MAX = 255;
const WEBSITE_MAX = 500;
const MAX_STORED_MESSAGE = 500;

/** A failure turned into what the account row should say about it. */
interface FailureRecord {
  status: AccountStatus;
  errorDetails: AccountErrorDetails;
  rateLimitedUntil?: Date;
  reason: string;
}

interface StatusChange {
  errorDetails?: AccountErrorDetails | undefined;
  rateLimitedUntil?: Date | undefined;
  reason?: string | undefined;
  /** Syncs and status checks must not undo a disconnect that happened while they ran. */
  keepDisconnected?: boolean;
}

/** Profile fields a sync and the spec's PATCH write, compared for the events' `changed`. */
const PROFILE_FIELDS = [
  'username',
  'displayName',
  'profilePictureUrl',
  'followerCount',
  'followingCount',
  'mediaCount',
  'biography',
  'website',
  'accountType',
] as const;
type ProfileField = (typeof PROFILE_FIELDS)[number];
type Changes = Partial<Record<ProfileField, { from: unknown; to: unknown }>>;

/**
 * Existing Instagram accounts: list, read, update, sync, status, token refresh, disconnect,
 * history. Talks to Instagram only through the injected client, to the database only through
 * the repositories and the vault; the one thing it does with the database handle itself is open
 * transactions. Never holds a transaction open across a call to Instagram.
 */
@Injectable()
export class InstagramAccountService {
  private readonly logger: Logger;

  constructor(
    @Inject(CLIENT_ACCOUNT_REPOSITORY) private readonly accounts: IClientAccountRepository,
    @Inject(ACCOUNT_EVENT_REPOSITORY) private readonly events: IAccountEventRepository,
    private readonly vault: TokenVault,
    private readonly jobs: JobQueue,
    @Inject(INSTAGRAM_CLIENT) private readonly client: InstagramClient,
    @Inject(PG) private readonly db: Db,
    @Inject(ROOT_LOGGER) logger: Logger,
  ) {
    this.logger = logger.child({ component: 'instagram-accounts' });
  }

  // --- connect ---------------------------------------------------------------------------------

  /**
   * Creates the account, or re-activates the caller's own existing one, in one transaction with
   * its token, its event and its first sync job. Another user's account is a 409 and stays theirs.
   */
  async createAccount(
    userId: string,
    dto: CreateAccountDto,
    options: CreateAccountOptions = {},
  ): Promise<{ account: ClientAccount; outcome: 'created' | 'reconnected' }> {
    const { token, profile = {} } = options;
    const pictureExpiry = pictureExpiresAt(dto.profilePictureUrl);
    const metadata: AccountMetadata = {
      ...(options.metadata ?? {}),
      ...(pictureExpiry ? { profilePictureExpiresAt: pictureExpiry } : {}),
    };
    const result = await this.db.tx('accounts-connect', async (tx) => {
      const upserted = await this.accounts.upsertConnected(
        {
          userId,
          platformAccountId: dto.platformAccountId,
          username: dto.username,
          displayName: clip(dto.displayName, DISPLAY_NAME_MAX),
          profilePictureUrl: dto.profilePictureUrl,
          followerCount: profile.followerCount,
          followingCount: profile.followingCount,
          mediaCount: profile.mediaCount,
          biography: profile.biography,
          website: fitWebsite(profile.website),
          accountType: dto.accountType ?? InstagramAccountType.PERSONAL,
          metadata,
          permissions: dto.permissions ?? token?.scopes ?? [],
          tokenExpiresAt: token ? token.expiresAt : (dto.tokenExpiresAt ?? null),
        },
        tx,
      );
      if (upserted.outcome === 'owned_by_other') {
        throw new ConflictException(OWNED_BY_OTHER_MESSAGE);
      }
      const { account } = upserted;
      if (token) {
        await this.vault.store(
          account.id,
          {
            accessToken: token.accessToken,
            tokenType: token.tokenType,
            issuedAt: token.issuedAt,
            expiresAt: token.expiresAt,
            scopes: token.scopes,
          },
          tx,
        );
      }
      const base = { accountId: account.id, userId };
      if (upserted.outcome === 'created') {
        await this.events.append(
          {
            ...base,
            type: AccountEventType.CONNECTED,
            data: {
              username: account.username,
              platformAccountId: account.platformAccountId,
              permissions: account.permissions,
            },
          },
          tx,
        );
      } else {
        await this.events.append(
          {
            ...base,
            type: AccountEventType.RECONNECTED,
            data: { previousStatus: upserted.previousStatus, permissions: account.permissions },
          },
          tx,
        );
        if (upserted.previousStatus !== AccountStatus.ACTIVE) {
          await this.events.append(
            {
              ...base,
              type: AccountEventType.STATUS_CHANGED,
              data: {
                from: upserted.previousStatus,
                to: AccountStatus.ACTIVE,
                reason: 'reconnected',
              },
            },
            tx,
          );
        }
      }
      const reason = upserted.outcome === 'created' ? 'connect' : 'reconnect';
      // Same transaction: the job exists exactly when the account does, and the singleton key
      // keeps one queued sync per account however often it is reconnected.
      await this.jobs.enqueue(
        'account.sync',
        { accountId: account.id, reason },
        { tx, singletonKey: account.id },
      );
      return { account, outcome: upserted.outcome };
    });
    this.logger.info(
      { accountId: result.account.id, userId, outcome: result.outcome },
      'Instagram account connected',
    );
    return result;
  }

  // --- read ------------------------------------------------------------------------------------

  async getUserAccounts(userId: string): Promise<ClientAccount[]> {
    return this.accounts.findByUserId(userId);
  }

  async listAccounts(
    userId: string,
    page: PageRequest = {},
  ): Promise<{ accounts: ClientAccount[]; total: number; nextCursor: string | null }> {
    const limit = pageSize(page.limit);
    const after = page.cursor === undefined ? null : decodeCursor(page.cursor);
    const [result, total] = await Promise.all([
      this.accounts.listPageByUserId(userId, limit, after),
      this.accounts.countByUserId(userId),
    ]);
    return {
      accounts: result.accounts,
      total,
      nextCursor: result.next ? encodeCursor(result.next) : null,
    };
  }

  /** 404 when there is no such account, 403 when it is another user's. */
  async getAccountById(accountId: string, userId: string): Promise<ClientAccount> {
    const account = await this.accounts.findById(accountId);
    if (!account) throw new NotFoundException('Account not found');
    if (account.userId !== userId) throw new ForbiddenException('Access denied to this account');
    return account;
  }

  async countUserAccounts(userId: string): Promise<number> {
    return this.accounts.countByUserId(userId);
  }

  /** Active accounts whose token expires within `hours` (an integer, 1..8760). */
  async getExpiringAccounts(hours = 168): Promise<ClientAccount[]> {
    return this.accounts.findExpiringSoon(hours);
  }

  async listEvents(
    accountId: string,
    userId: string,
    page: PageRequest = {},
  ): Promise<{ events: AccountEvent[]; nextCursor: string | null }> {
    await this.getAccountById(accountId, userId);
    const limit = pageSize(page.limit);
    const after = page.cursor === undefined ? null : decodeCursor(page.cursor);
    const result = await this.events.listByAccount(accountId, limit, after);
    return { events: result.events, nextCursor: result.next ? encodeCursor(result.next) : null };
  }

  // --- update and delete -----------------------------------------------------------------------

  /**
   * The spec's fields only. `status` may only become `disconnected` (the user pauses the
   * account); every other status is the service's to set.
   */
  async updateAccount(
    accountId: string,
    userId: string,
    dto: UpdateAccountDto | undefined,
  ): Promise<ClientAccount> {
    const wanted: Partial<Record<'username' | 'displayName' | 'profilePictureUrl', unknown>> = {};
    for (const field of ['username', 'displayName', 'profilePictureUrl'] as const) {
      if (dto?.[field] !== undefined) wanted[field] = dto[field];
    }
    const status = dto?.status;
    if (Object.keys(wanted).length === 0 && status === undefined) {
      throw new BadRequestException(
        'Nothing to update: send at least one of username, displayName, profilePictureUrl or status',
      );
    }
    if (status !== undefined && status !== AccountStatus.DISCONNECTED) {
      throw new BadRequestException(STATUS_MANAGED_MESSAGE);
    }
    await this.getAccountById(accountId, userId);

    return this.db.tx('accounts-update', async (tx) => {
      const current = await this.accounts.findByIdForUpdate(accountId, tx);
      if (!current) throw new NotFoundException('Account not found');
      const update: AccountUpdate = {};
      const changed: Changes = {};
      for (const [field, value] of Object.entries(wanted) as Array<[ProfileField, unknown]>) {
        const from = current[field] ?? null;
        const to = value ?? null;
        if (from === to) continue;
        changed[field] = { from, to };
        Object.assign(update, { [field]: to });
      }
      let result = current;
      if (Object.keys(update).length > 0) {
        result = (await this.accounts.update(accountId, update, tx)) ?? current;
        await this.events.append(
          { accountId, userId, type: AccountEventType.UPDATED, data: { changed } },
          tx,
        );
      }
      if (status === AccountStatus.DISCONNECTED && current.status !== status) {
        result =
          (await this.applyStatus(tx, accountId, status, { reason: 'paused_by_user' })) ?? result;
      }
      return result;
    });
  }

  /**
   * Revocation is attempted and its honest outcome kept in the `disconnected` event; then the
   * token and the row go in one transaction. The events outlive the account (audit trail).
   */
  async deleteAccount(accountId: string, userId: string): Promise<void> {
    await this.getAccountById(accountId, userId);
    const revocation = await this.revoke(accountId);
    await this.db.tx('accounts-delete', async (tx) => {
      const current = await this.accounts.findByIdForUpdate(accountId, tx);
      if (!current) throw new NotFoundException('Account not found');
      if (current.userId !== userId) throw new ForbiddenException('Access denied to this account');
      await this.vault.destroy(accountId, tx);
      await this.accounts.delete(accountId, tx);
      await this.events.append(
        {
          accountId,
          userId,
          type: AccountEventType.DISCONNECTED,
          data: {
            by: 'user',
            username: current.username,
            platformAccountId: current.platformAccountId,
            revocation,
          },
        },
        tx,
      );
    });
    this.logger.info(
      { accountId, userId, revoked: revocation.revoked },
      'Instagram account disconnected by its user',
    );
  }

  // --- sync ------------------------------------------------------------------------------------

  /**
   * The spec's manual sync, for HTTP: the synced account, or an exception that says what to do
   * (409 reconnect, 429 with Retry-After, 502 try again). The failure is recorded first.
   * With `userId`, the account must be that user's (404/403).
   */
  async syncAccountMetadata(accountId: string, userId?: string): Promise<ClientAccount> {
    const account = await this.loadAccount(accountId, userId);
    const outcome = await this.syncLoaded(account, 'manual');
    switch (outcome.status) {
      case 'synced':
        return outcome.account;
      case 'failed':
        throw syncFailureException(outcome.error, new Date());
      case 'skipped':
        throw skippedSyncException(outcome.reason, outcome.account ?? account, new Date());
    }
  }

  /** For jobs: never throws for Instagram's failures; they are recorded and reported. */
  async performSync(accountId: string, reason: SyncReason): Promise<SyncOutcome> {
    const account = await this.accounts.findById(accountId);
    if (!account) return { status: 'skipped', reason: 'not_found' };
    return this.syncLoaded(account, reason);
  }

  // --- status ----------------------------------------------------------------------------------

  /**
   * The spec's status check: a token past its expiry is `token_expired` without asking
   * Instagram; otherwise one live profile call decides. A disconnected account stays so (only a
   * reconnect re-activates it) and a rate-limited one is not called before its limit lifts.
   */
  async refreshAccountStatus(accountId: string, userId?: string): Promise<AccountStatus> {
    const account = await this.loadAccount(accountId, userId);
    if (account.status === AccountStatus.DISCONNECTED) return account.status;
    const now = new Date();
    if (account.tokenExpiresAt && account.tokenExpiresAt.getTime() <= now.getTime()) {
      await this.markStatus(accountId, AccountStatus.TOKEN_EXPIRED, {
        code: 'TOKEN_EXPIRED',
        message: `The Instagram token expired on ${account.tokenExpiresAt.toISOString()}`,
        reason: 'token_expired_by_date',
      });
      return AccountStatus.TOKEN_EXPIRED;
    }
    if (rateLimitedUntil(account, now)) return AccountStatus.RATE_LIMITED;
    const token = await this.readToken(accountId);
    if (!token) {
      await this.markStatus(accountId, AccountStatus.TOKEN_EXPIRED, {
        code: 'NO_TOKEN',
        message: 'No Instagram token is stored for this account',
        reason: 'no_token',
      });
      return AccountStatus.TOKEN_EXPIRED;
    }
    let change: { status: AccountStatus } & StatusChange;
    try {
      await this.client.getProfile(token.accessToken);
      change = { status: AccountStatus.ACTIVE, reason: 'status_check_succeeded' };
    } catch (error) {
      this.logFailure('Instagram status check failed', accountId, error, token.accessToken);
      change = recordOf(error, new Date(), token.accessToken);
    }
    const updated = await this.db.tx('accounts-status-check', (tx) =>
      this.applyStatus(tx, accountId, change.status, { ...change, keepDisconnected: true }),
    );
    if (!updated) throw new NotFoundException('Account not found');
    return updated.status;
  }

  /**
   * Sets the status (and `metadata.errorDetails` / `rateLimitedUntil`) under the row lock, and
   * appends `status_changed` only when the status really changes. `active` clears both marks.
   * Pass `tx` to make it part of the caller's transaction. No-op for an unknown account.
   */
  async markStatus(
    accountId: string,
    status: AccountStatus,
    detail: StatusDetail = {},
    tx?: Queryable,
  ): Promise<void> {
    const change: StatusChange = {
      reason: detail.reason ?? detail.message,
      rateLimitedUntil: detail.rateLimitedUntil,
      errorDetails:
        detail.code !== undefined || detail.message !== undefined
          ? {
              code: detail.code ?? status.toUpperCase(),
              message: clip(detail.message, MAX_STORED_MESSAGE) ?? `Account is ${status}`,
              timestamp: new Date(),
              ...(detail.subcode !== undefined ? { subcode: detail.subcode } : {}),
            }
          : undefined,
    };
    if (tx) {
      await this.applyStatus(tx, accountId, status, change);
      return;
    }
    await this.db.tx('accounts-mark-status', (t) => this.applyStatus(t, accountId, status, change));
  }

  // --- token refresh ---------------------------------------------------------------------------

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
        await this.markStatus(accountId, AccountStatus.TOKEN_EXPIRED, {
          code: 'TOKEN_EXPIRED',
          message: `The Instagram token expired on ${token.expiresAt.toISOString()}`,
          reason: 'token_expired_by_date',
        });
        return { status: 'skipped', reason: 'expired' };
      }
      this.logFailure('Instagram token refresh failed', accountId, error, token.accessToken);
      const failure = recordOf(error, new Date(), token.accessToken);
      if (
        failure.status === AccountStatus.TOKEN_EXPIRED ||
        failure.status === AccountStatus.RATE_LIMITED
      ) {
        await this.db.tx('accounts-refresh-failure', (tx) =>
          this.applyStatus(tx, accountId, failure.status, { ...failure, keepDisconnected: true }),
        );
      }
      return { status: 'failed', error };
    }

    const outcome = await this.db.tx(
      'accounts-token-refreshed',
      async (tx): Promise<RefreshTokenOutcome> => {
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
            userId: account.userId,
            type: AccountEventType.TOKEN_REFRESHED,
            data: { expiresAt: fresh.expiresAt.toISOString() },
          },
          tx,
        );
        return { status: 'refreshed', expiresAt: fresh.expiresAt };
      },
    );
    if (outcome.status === 'refreshed') {
      this.logger.info({ accountId, expiresAt: outcome.expiresAt }, 'Instagram token refreshed');
    }
    return outcome;
  }

  // --- internals -------------------------------------------------------------------------------

  private async loadAccount(accountId: string, userId: string | undefined) {
    if (userId !== undefined) return this.getAccountById(accountId, userId);
    const account = await this.accounts.findById(accountId);
    if (!account) throw new NotFoundException('Account not found');
    return account;
  }

  /** Read → call Instagram (no transaction open) → write under the row lock. */
  private async syncLoaded(account: ClientAccount, reason: SyncReason): Promise<SyncOutcome> {
    if (account.status === AccountStatus.DISCONNECTED) {
      return { status: 'skipped', reason: 'disconnected', account };
    }
    if (rateLimitedUntil(account, new Date())) {
      return { status: 'skipped', reason: 'rate_limited', account };
    }
    const token = await this.readToken(account.id);
    if (!token) return { status: 'skipped', reason: 'no_token', account };

    let profile: InstagramProfile;
    try {
      profile = await this.client.getProfile(token.accessToken);
    } catch (error) {
      this.logFailure(
        'Instagram account sync failed',
        account.id,
        error,
        token.accessToken,
        reason,
      );
      const failure = recordOf(error, new Date(), token.accessToken);
      const updated = await this.db.tx('accounts-sync-failure', (tx) =>
        this.applyStatus(tx, account.id, failure.status, { ...failure, keepDisconnected: true }),
      );
      if (!updated) return { status: 'skipped', reason: 'not_found' };
      return { status: 'failed', account: updated, error };
    }

    return this.db.tx('accounts-sync-apply', async (tx): Promise<SyncOutcome> => {
      const current = await this.accounts.findByIdForUpdate(account.id, tx);
      if (!current) return { status: 'skipped', reason: 'not_found' };
      // Disconnected while Instagram was answering: the user's decision stands.
      if (current.status === AccountStatus.DISCONNECTED) {
        return { status: 'skipped', reason: 'disconnected', account: current };
      }
      const now = new Date();
      const fields = profileFields(profile, current);
      const changed: Changes = {};
      for (const field of PROFILE_FIELDS) {
        const from = current[field] ?? null;
        const to = fields[field] ?? null;
        if (from !== to) changed[field] = { from, to };
      }
      const metadata: AccountMetadata = { ...current.metadata };
      delete metadata.errorDetails;
      delete metadata.rateLimitedUntil;
      delete metadata.profilePictureExpiresAt;
      metadata.igId = profile.id;
      metadata.igBusinessAccountId = profile.userId;
      metadata.lastMetadataUpdate = now;
      const pictureExpiry = pictureExpiresAt(profile.profilePictureUrl);
      if (pictureExpiry) metadata.profilePictureExpiresAt = pictureExpiry;

      const updated = await this.accounts.update(
        account.id,
        { ...fields, metadata, status: AccountStatus.ACTIVE, lastSyncAt: now },
        tx,
      );
      if (!updated) return { status: 'skipped', reason: 'not_found' };
      await this.accounts.recordMetricSnapshot(updated, tx);
      const base = { accountId: updated.id, userId: updated.userId };
      await this.events.append(
        { ...base, type: AccountEventType.SYNCED, data: { reason, changed } },
        tx,
      );
      if (current.status !== AccountStatus.ACTIVE) {
        await this.events.append(
          {
            ...base,
            type: AccountEventType.STATUS_CHANGED,
            data: { from: current.status, to: AccountStatus.ACTIVE, reason: 'sync_succeeded' },
          },
          tx,
        );
      }
      return { status: 'synced', account: updated };
    });
  }

  /** The status write every path shares. Null when the account no longer exists. */
  private async applyStatus(
    tx: Queryable,
    accountId: string,
    status: AccountStatus,
    change: StatusChange,
  ): Promise<ClientAccount | null> {
    const current = await this.accounts.findByIdForUpdate(accountId, tx);
    if (!current) return null;
    if (
      change.keepDisconnected &&
      current.status === AccountStatus.DISCONNECTED &&
      status !== AccountStatus.DISCONNECTED
    ) {
      return current;
    }
    const statusChanges = current.status !== status;
    const metadata: AccountMetadata = { ...current.metadata };
    if (status === AccountStatus.ACTIVE) {
      delete metadata.errorDetails;
      delete metadata.rateLimitedUntil;
    } else {
      if (change.errorDetails) metadata.errorDetails = change.errorDetails;
      else if (statusChanges) delete metadata.errorDetails;
      if (status !== AccountStatus.RATE_LIMITED) delete metadata.rateLimitedUntil;
      else if (change.rateLimitedUntil) metadata.rateLimitedUntil = change.rateLimitedUntil;
    }
    if (!statusChanges && JSON.stringify(metadata) === JSON.stringify(current.metadata)) {
      return current;
    }
    const updated = await this.accounts.update(accountId, { status, metadata }, tx);
    if (statusChanges) {
      const details = change.errorDetails;
      await this.events.append(
        {
          accountId,
          userId: current.userId,
          type: AccountEventType.STATUS_CHANGED,
          data: {
            from: current.status,
            to: status,
            ...(details ? { code: details.code } : {}),
            ...(details?.subcode !== undefined ? { subcode: details.subcode } : {}),
            ...(change.reason !== undefined ? { reason: change.reason } : {}),
          },
        },
        tx,
      );
      this.logger.info(
        { accountId, from: current.status, to: status, code: details?.code },
        'Instagram account status changed',
      );
    }
    return updated;
  }

  /**
   * The stored token, or null when there is none or it no longer decrypts (a damaged row): both
   * are fixed the same way, by reconnecting, which stores a new one.
   */
  private async readToken(accountId: string): Promise<StoredToken | null> {
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

  private async revoke(accountId: string): Promise<{ revoked: boolean } & Record<string, unknown>> {
    const token = await this.readToken(accountId);
    if (!token) {
      return { revoked: false, reason: 'no_token', detail: 'No usable token was stored' };
    }
    try {
      return { ...(await this.client.revokeToken(token.accessToken)) };
    } catch (error) {
      this.logFailure('Instagram token revocation failed', accountId, error, token.accessToken);
      return {
        revoked: false,
        reason: 'failed',
        detail: safeMessage(error, token.accessToken),
      };
    }
  }

  /** The client's error summary (already scrubbed); the token is cut again in case. */
  private logFailure(
    message: string,
    accountId: string,
    error: unknown,
    token: string | undefined,
    reason?: SyncReason,
  ): void {
    const summary =
      error instanceof InstagramApiError
        ? { ...error.toLog(), message: safeMessage(error, token) }
        : { name: error instanceof Error ? error.name : typeof error };
    this.logger.warn(
      { accountId, ...(reason ? { syncReason: reason } : {}), error: summary },
      message,
    );
  }
}

// --- pure helpers ------------------------------------------------------------------------------

function clip(value: string | undefined | null, max: number): string | undefined {
  if (value === undefined || value === null) return undefined;
  return value.length > max ? value.slice(0, max) : value;
}

/** A shortened URL is a wrong URL: one too long for the column is dropped instead. */
function fitWebsite(value: string | undefined): string | undefined {
  return value !== undefined && value.length <= WEBSITE_MAX ? value : undefined;
}

function sameInstant(a: Date | null, b: Date | null): boolean {
  return (a?.getTime() ?? null) === (b?.getTime() ?? null);
}

/** When the stored rate limit lifts, if it has not yet. */
function rateLimitedUntil(account: ClientAccount, now: Date): Date | undefined {
  const until = account.metadata.rateLimitedUntil;
  return account.status === AccountStatus.RATE_LIMITED && until && until.getTime() > now.getTime()
    ? until
    : undefined;
}

/** Instagram CDN URLs carry their expiry as hex Unix seconds in `oe`. */
export function pictureExpiresAt(url: string | undefined | null): Date | undefined {
  if (!url) return undefined;
  let oe: string | null;
  try {
    oe = new URL(url).searchParams.get('oe');
  } catch {
    return undefined;
  }
  if (!oe || !/^[0-9A-Fa-f]{1,12}$/.test(oe)) return undefined;
  return new Date(parseInt(oe, 16) * 1000);
}

/**
 * What a sync writes from a profile. Text fields Instagram leaves out are cleared (the row
 * mirrors Instagram); counts it leaves out keep their last known value.
 */
function profileFields(
  profile: InstagramProfile,
  current: ClientAccount,
): Required<{ [K in ProfileField]: AccountUpdate[K] }> {
  return {
    username: profile.username,
    displayName: clip(profile.name, DISPLAY_NAME_MAX) ?? null,
    profilePictureUrl: profile.profilePictureUrl ?? null,
    followerCount: profile.followersCount ?? current.followerCount ?? null,
    followingCount: profile.followsCount ?? current.followingCount ?? null,
    mediaCount: profile.mediaCount ?? current.mediaCount ?? null,
    biography: profile.biography ?? null,
    website: fitWebsite(profile.website) ?? null,
    accountType: mapInstagramAccountType(profile.accountType),
  };
}

/** A message safe to store and show: the client scrubs its own; the token is cut again anyway. */
function safeMessage(error: unknown, token: string | undefined): string {
  const raw =
    error instanceof InstagramApiError
      ? error.message
      : 'Unexpected failure while talking to Instagram';
  const scrubbed = token ? raw.split(token).join('[REDACTED]') : raw;
  return clip(scrubbed, MAX_STORED_MESSAGE) ?? '';
}

/** token_invalid → token_expired; rate_limited → rate_limited until resetAt; else → error. */
function recordOf(error: unknown, now: Date, token: string | undefined): FailureRecord {
  const errorDetails: AccountErrorDetails = {
    code:
      error instanceof InstagramApiError
        ? error.code !== undefined
          ? String(error.code)
          : error.kind.toUpperCase()
        : 'UNKNOWN',
    message: safeMessage(error, token),
    timestamp: now,
  };
  if (error instanceof InstagramApiError) {
    if (error.subcode !== undefined) errorDetails.subcode = String(error.subcode);
    if (error.fbtraceId !== undefined) errorDetails.fbtraceId = error.fbtraceId;
  }
  if (error instanceof InstagramTokenInvalidError) {
    return { status: AccountStatus.TOKEN_EXPIRED, errorDetails, reason: error.reason };
  }
  if (error instanceof InstagramRateLimitError) {
    return {
      status: AccountStatus.RATE_LIMITED,
      errorDetails,
      rateLimitedUntil: error.resetAt,
      reason: `rate_limited_${error.scope}`,
    };
  }
  return {
    status: AccountStatus.ERROR,
    errorDetails,
    reason: error instanceof InstagramApiError ? error.kind : 'unknown',
  };
}

function secondsUntil(date: Date, now: Date): number {
  return Math.max(1, Math.ceil((date.getTime() - now.getTime()) / 1000));
}

function codeLabel(error: InstagramApiError): string {
  if (error.code === undefined) return error.kind;
  return error.subcode !== undefined ? `${error.code}/${error.subcode}` : String(error.code);
}

/** A failed manual sync, as the HTTP answer that tells the user what to do next. */
export function syncFailureException(error: unknown, now: Date): HttpException {
  if (error instanceof InstagramTokenInvalidError) {
    return new ConflictException(
      `Instagram rejected this account's access (code ${codeLabel(error)}: ${TOKEN_REASON_TEXT[error.reason]}). Reconnect the account.`,
    );
  }
  if (error instanceof InstagramPermissionError) {
    return new ConflictException(
      `Instagram refused a permission this account needs (code ${codeLabel(error)}). Reconnect the account and grant the requested permissions.`,
    );
  }
  if (error instanceof InstagramRateLimitError) {
    return new TooManyRequestsException(
      `Instagram rate-limited this account until ${formatUtc(error.resetAt, now)}; try again then.`,
      secondsUntil(error.resetAt, now),
    );
  }
  if (error instanceof InstagramTimeoutError) {
    return new BadGatewayException('Instagram did not answer in time; try again');
  }
  if (error instanceof InstagramNetworkError) {
    return new BadGatewayException('Instagram could not be reached; try again');
  }
  if (error instanceof InstagramTransientError) {
    return new BadGatewayException(
      `Instagram had a temporary problem (${codeLabel(error)}); try again`,
    );
  }
  if (error instanceof InstagramApiError) {
    return new BadGatewayException(
      `Instagram answered with an error (${codeLabel(error)}): ${clip(error.message, 300)}`,
    );
  }
  return new BadGatewayException('Syncing with Instagram failed unexpectedly; try again');
}

function skippedSyncException(
  reason: 'not_found' | 'no_token' | 'disconnected' | 'rate_limited',
  account: ClientAccount,
  now: Date,
): HttpException {
  switch (reason) {
    case 'not_found':
      return new NotFoundException('Account not found');
    case 'disconnected':
      return new ConflictException(
        'This account is disconnected. Reconnect the account to sync it again.',
      );
    case 'no_token':
      return new ConflictException(
        'No usable Instagram token is stored for this account. Reconnect the account.',
      );
    case 'rate_limited': {
      const until = account.metadata.rateLimitedUntil ?? now;
      return new TooManyRequestsException(
        `Instagram rate-limited this account until ${formatUtc(until, now)}; try again then.`,
        secondsUntil(until, now),
      );
    }
  }
}
