import {
  BadRequestException,
  ConflictException,
  ForbiddenException,
  Inject,
  Injectable,
  NotFoundException,
} from '@nestjs/common';
import type { Logger } from 'pino';
import { ROOT_LOGGER } from '../../../common/logging/logging.module';
import { type AccountEvent, AccountEventType } from '../../../domain/entities/account-event.entity';
import {
  type AccountMetadata,
  AccountStatus,
  type ClientAccount,
  InstagramAccountType,
} from '../../../domain/entities/client-account.entity';
import {
  ACCOUNT_EVENT_REPOSITORY,
  type IAccountEventRepository,
  type NewAccountEvent,
} from '../../../domain/repositories/account-event.repository.interface';
import {
  type AccountUpdate,
  CLIENT_ACCOUNT_REPOSITORY,
  type ConnectOutcome,
  type IClientAccountRepository,
} from '../../../domain/repositories/client-account.repository.interface';
import type { Queryable } from '../../../domain/repositories/queryable';
import {
  CURRENT_ACCOUNT_REPOSITORY,
  type ICurrentAccountRepository,
} from '../../../domain/repositories/current-account.repository.interface';
import { type TokenType, TokenVault } from '../../../infrastructure/crypto/token-vault';
import { PG } from '../../../infrastructure/database/database.module';
import { JobQueue } from '../../../infrastructure/jobs/job-queue';
import {
  type CreateAccountDto,
  STATUS_MANAGED_MESSAGE,
  type UpdateAccountDto,
} from '../dto/account.dto';
import { decodeCursor, encodeCursor, pageSize } from '../dto/pagination';
import { ACCOUNT_FORBIDDEN, ACCOUNT_NOT_FOUND, loadAccount } from './account-access';
import type { AccountJobs, TokenStore, Transactions } from './account-ports';
import {
  changedFields,
  clip,
  DISPLAY_NAME_MAX,
  fitWebsite,
  pictureExpiresAt,
} from './account-profile';
import { AccountStatusService } from './account-status.service';
import { AccountTokenService } from './account-token.service';

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
  /**
   * Runs last inside the connect's transaction, with the account as written: a throw rolls the
   * whole connect back (a connect link is used up in the same transaction as its account).
   */
  withinTransaction?: (account: ClientAccount, tx: Queryable) => Promise<void>;
}

export interface PageRequest {
  limit?: number | undefined;
  cursor?: string | undefined;
}

export const OWNED_BY_OTHER_MESSAGE =
  'This Instagram account is already connected to another ssell user';

export const NOTHING_TO_UPDATE_MESSAGE =
  'Nothing to update: send at least one of username, displayName, profilePictureUrl or status';

/** The fields of the spec's PATCH a person may write. */
const EDITABLE_FIELDS = ['username', 'displayName', 'profilePictureUrl'] as const;

/**
 * A person's Instagram accounts: connect (create or re-activate), read, list, update, delete,
 * and their history. Never holds a transaction open across a call to Instagram.
 */
@Injectable()
export class AccountService {
  private readonly logger: Logger;

  constructor(
    @Inject(CLIENT_ACCOUNT_REPOSITORY) private readonly accounts: IClientAccountRepository,
    @Inject(ACCOUNT_EVENT_REPOSITORY) private readonly events: IAccountEventRepository,
    @Inject(TokenVault) private readonly vault: TokenStore,
    @Inject(JobQueue) private readonly jobs: AccountJobs,
    @Inject(PG) private readonly db: Transactions,
    private readonly status: AccountStatusService,
    private readonly tokens: AccountTokenService,
    @Inject(CURRENT_ACCOUNT_REPOSITORY)
    private readonly current: Pick<ICurrentAccountRepository, 'moveOff'>,
    @Inject(ROOT_LOGGER) logger: Logger,
  ) {
    this.logger = logger.child({ component: 'instagram-accounts' });
  }

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
      if (token) await this.vault.store(account.id, token, tx);
      for (const event of connectEvents(upserted, userId)) await this.events.append(event, tx);
      const reason = upserted.outcome === 'created' ? 'connect' : 'reconnect';
      // Same transaction: the job exists exactly when the account does, and the singleton key
      // keeps one queued sync per account however often it is reconnected.
      await this.jobs.enqueue(
        'account.sync',
        { accountId: account.id, reason },
        { tx, singletonKey: account.id },
      );
      if (options.withinTransaction) await options.withinTransaction(account, tx);
      return { account, outcome: upserted.outcome };
    });
    this.logger.info(
      { accountId: result.account.id, userId, outcome: result.outcome },
      'Instagram account connected',
    );
    return result;
  }

  async listAccounts(
    userId: string,
    page: PageRequest = {},
  ): Promise<{
    accounts: ClientAccount[];
    total: number;
    nextCursor: string | null;
    currentId: string | null;
  }> {
    const limit = pageSize(page.limit);
    const after = page.cursor === undefined ? null : decodeCursor(page.cursor);
    // The page, the total and the current account in one round trip: each statement costs a
    // write and a read on the socket in this process and a parse-bind-execute in PostgreSQL,
    // whatever it reads.
    const result = await this.accounts.listPageWithTotal(userId, limit, after);
    return {
      accounts: result.accounts,
      total: result.total,
      nextCursor: result.next ? encodeCursor(result.next) : null,
      currentId: result.currentId,
    };
  }

  /** 404 when there is no such account, 403 when it is another user's. */
  async getAccountById(accountId: string, userId: string): Promise<ClientAccount> {
    return loadAccount(this.accounts, accountId, userId);
  }

  /** As getAccountById, with the caller's current account id read in the same statement. */
  async getAccountWithCurrent(
    accountId: string,
    userId: string,
  ): Promise<{ account: ClientAccount; currentId: string | null }> {
    const found = await this.accounts.findByIdWithCurrent(accountId, userId);
    if (!found) throw new NotFoundException(ACCOUNT_NOT_FOUND);
    if (found.account.userId !== userId) throw new ForbiddenException(ACCOUNT_FORBIDDEN);
    return found;
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

  /**
   * The spec's fields only. `status` may only become `disconnected` (the user pauses the
   * account); every other status is the service's to set.
   */
  async updateAccount(
    accountId: string,
    userId: string,
    dto: UpdateAccountDto | undefined,
  ): Promise<ClientAccount> {
    const wanted: Partial<Record<(typeof EDITABLE_FIELDS)[number], unknown>> = {};
    for (const field of EDITABLE_FIELDS) {
      if (dto?.[field] !== undefined) wanted[field] = dto[field];
    }
    const status = dto?.status;
    if (Object.keys(wanted).length === 0 && status === undefined) {
      throw new BadRequestException(NOTHING_TO_UPDATE_MESSAGE);
    }
    if (status !== undefined && status !== AccountStatus.DISCONNECTED) {
      throw new BadRequestException(STATUS_MANAGED_MESSAGE);
    }
    await this.getAccountById(accountId, userId);

    return this.db.tx('accounts-update', async (tx) => {
      const current = await this.accounts.findByIdForUpdate(accountId, tx);
      if (!current) throw new NotFoundException('Account not found');
      const changed = changedFields(current, wanted);
      const update = Object.fromEntries(
        Object.entries(changed).map(([field, change]) => [field, change.to]),
      ) as AccountUpdate;
      let result = current;
      if (Object.keys(update).length > 0) {
        result = (await this.accounts.update(accountId, update, tx)) ?? current;
        await this.events.append(
          { accountId, userId, type: AccountEventType.UPDATED, data: { changed } },
          tx,
        );
      }
      if (status === AccountStatus.DISCONNECTED && current.status !== status) {
        const paused = await this.status.applyStatus(tx, accountId, status, {
          reason: 'paused_by_user',
        });
        result = paused ?? result;
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
    const revocation = await this.tokens.revoke(accountId);
    await this.db.tx('accounts-delete', async (tx) => {
      const current = await this.accounts.findByIdForUpdate(accountId, tx);
      if (!current) throw new NotFoundException('Account not found');
      if (current.userId !== userId) throw new ForbiddenException('Access denied to this account');
      await this.vault.destroy(accountId, tx);
      // Before the row goes: the person's choice moves to another account they can work in.
      await this.current.moveOff(userId, accountId, tx);
      await this.accounts.delete(accountId, tx);
      await this.events.append(
        {
          accountId,
          userId,
          // Its row is gone: the webhook shows the account as it was, now disconnected.
          account: { ...current, status: AccountStatus.DISCONNECTED },
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
}

/**
 * `connected` for a new account; `reconnected` for an old one, and when it was not active the way
 * back: `status_changed` and `recovered` (what applyStatus writes for any return to active).
 */
function connectEvents(
  upserted: Exclude<ConnectOutcome, { outcome: 'owned_by_other' }>,
  userId: string,
): NewAccountEvent[] {
  const { account } = upserted;
  const base = { accountId: account.id, userId, account };
  const { permissions } = account;
  if (upserted.outcome === 'created') {
    const { username, platformAccountId } = account;
    const data = { username, platformAccountId, permissions };
    return [{ ...base, type: AccountEventType.CONNECTED, data }];
  }
  const { previousStatus } = upserted;
  const events: NewAccountEvent[] = [
    { ...base, type: AccountEventType.RECONNECTED, data: { previousStatus, permissions } },
  ];
  if (previousStatus !== AccountStatus.ACTIVE) {
    const data = { from: previousStatus, to: AccountStatus.ACTIVE, reason: 'reconnected' };
    events.push({ ...base, type: AccountEventType.STATUS_CHANGED, data });
    events.push({ ...base, type: AccountEventType.RECOVERED, data: { from: previousStatus } });
  }
  return events;
}
