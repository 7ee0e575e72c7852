import { Inject, Injectable } from '@nestjs/common';
import type { Logger } from 'pino';
import { ROOT_LOGGER } from '../../../common/logging/logging.module';
import { AccountEventType } from '../../../domain/entities/account-event.entity';
import {
  type AccountErrorDetails,
  type AccountMetadata,
  AccountStatus,
  type ClientAccount,
} from '../../../domain/entities/client-account.entity';
import { isPermissionCode, LOCAL_ERROR_CODES } from '../../../domain/instagram/meta-codes';
import {
  ACCOUNT_EVENT_REPOSITORY,
  type IAccountEventRepository,
  type NewAccountEvent,
} from '../../../domain/repositories/account-event.repository.interface';
import {
  CLIENT_ACCOUNT_REPOSITORY,
  type IClientAccountRepository,
} from '../../../domain/repositories/client-account.repository.interface';
import {
  CURRENT_ACCOUNT_REPOSITORY,
  type ICurrentAccountRepository,
} from '../../../domain/repositories/current-account.repository.interface';
import type { Queryable } from '../../../domain/repositories/queryable';
import { PG } from '../../../infrastructure/database/database.module';
import { classifyFailure, failureDetails } from './account-failure';
import type { Transactions } from './account-ports';
import { clip } from './account-profile';

export interface StatusDetail {
  /** Meta's code as a string ("190") or ours ("DEAUTHORIZED", "TOKEN_EXPIRED", …). */
  code?: string;
  subcode?: string;
  message?: string;
  rateLimitedUntil?: Date;
  /** Short machine word for the status_changed event; defaults to `message`. */
  reason?: string;
}

export interface StatusChange {
  errorDetails?: AccountErrorDetails | undefined;
  rateLimitedUntil?: Date | undefined;
  reason?: string | undefined;
  /** Syncs and status checks must not undo a disconnect that happened while they ran. */
  keepDisconnected?: boolean;
  /** A transient failure keeps the count of those in a row; anything else ends the run. */
  transient?: boolean;
}

/** Transient failures in a row that make an account `error` (the first two leave it as it is). */
export const TRANSIENT_FAILURES_BEFORE_ERROR = 3;

const MAX_STORED_MESSAGE = 500;

/**
 * An account's status and the marks that explain it (`metadata.errorDetails`, `rateLimitedUntil`),
 * written under the row lock, with a `status_changed` event exactly when the status changes.
 * Every path that sets a status goes through `applyStatus`.
 */
@Injectable()
export class AccountStatusService {
  private readonly logger: Logger;

  constructor(
    @Inject(CLIENT_ACCOUNT_REPOSITORY) private readonly accounts: IClientAccountRepository,
    @Inject(ACCOUNT_EVENT_REPOSITORY) private readonly events: IAccountEventRepository,
    @Inject(PG) private readonly db: Transactions,
    @Inject(CURRENT_ACCOUNT_REPOSITORY)
    private readonly current: Pick<ICurrentAccountRepository, 'moveOff'>,
    @Inject(ROOT_LOGGER) logger: Logger,
  ) {
    this.logger = logger.child({ component: 'instagram-accounts' });
  }

  /**
   * Sets the status (and its marks) and appends `status_changed` only when the status really
   * changes. `active` clears both marks. Pass `tx` to make it part of the caller's transaction.
   * No-op for an unknown account.
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
    await this.inTx(tx, 'accounts-mark-status', (t) =>
      this.applyStatus(t, accountId, status, change),
    );
  }

  /** A token past its expiry date: `token_expired`, known without asking Instagram. */
  async markTokenExpired(accountId: string, expiresAt: Date, tx?: Queryable): Promise<void> {
    await this.markStatus(
      accountId,
      AccountStatus.TOKEN_EXPIRED,
      {
        code: LOCAL_ERROR_CODES.TOKEN_EXPIRED,
        message: `The Instagram token expired on ${expiresAt.toISOString()}`,
        reason: 'token_expired_by_date',
      },
      tx,
    );
  }

  /**
   * A failed call to Instagram, recorded as the classifier says (token_expired, rate_limited
   * until the reset, or error). A transient failure (5xx, timeout, code 1/2) only counts: the
   * account keeps its status until the {@link TRANSIENT_FAILURES_BEFORE_ERROR}th in a row. A
   * disconnect made meanwhile stands. Null for an unknown account.
   */
  async recordFailure(
    accountId: string,
    error: unknown,
    token: string | undefined,
    tag: string,
  ): Promise<ClientAccount | null> {
    const failure = classifyFailure(error);
    return this.db.tx(tag, async (tx) => {
      if (failure.transient) {
        const counted = await this.countTransientFailure(tx, accountId);
        if (counted !== 'threshold_reached') return counted;
      }
      return this.applyStatus(tx, accountId, failure.status, {
        errorDetails: failureDetails(error, new Date(), token),
        rateLimitedUntil: failure.retryAt,
        reason: failure.reason,
        keepDisconnected: true,
        transient: failure.transient,
      });
    });
  }

  /** One more transient failure in a row; the row as written, unless this one makes it `error`. */
  private async countTransientFailure(
    tx: Queryable,
    accountId: string,
  ): Promise<ClientAccount | null | 'threshold_reached'> {
    const current = await this.accounts.findByIdForUpdate(accountId, tx);
    if (!current) return null;
    if (current.status === AccountStatus.DISCONNECTED) return current;
    const count = (current.metadata.transientFailures ?? 0) + 1;
    const metadata: AccountMetadata = { ...current.metadata, transientFailures: count };
    if (count >= TRANSIENT_FAILURES_BEFORE_ERROR) return 'threshold_reached';
    this.logger.info(
      { accountId, transientFailures: count, threshold: TRANSIENT_FAILURES_BEFORE_ERROR },
      'transient Instagram failure counted; the status stands',
    );
    return this.accounts.update(accountId, { metadata }, tx);
  }

  /** The status write every path shares, inside `tx`. Null when the account no longer exists. */
  async applyStatus(
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
    const metadata = nextMetadata(current, status, change, statusChanges);
    if (!statusChanges && JSON.stringify(metadata) === JSON.stringify(current.metadata)) {
      return current;
    }
    const updated = await this.accounts.update(accountId, { status, metadata }, tx);
    // A disconnected account (paused, or the app removed on Instagram) is no longer one to work
    // in: if it was the person's choice, the choice moves on in this same transaction.
    if (statusChanges && status === AccountStatus.DISCONNECTED) {
      await this.current.moveOff(current.userId, accountId, tx);
    }
    if (statusChanges && updated) {
      const details = change.errorDetails;
      await this.recordTransition(tx, updated, current.status, {
        ...(details ? { code: details.code } : {}),
        ...(details?.subcode !== undefined ? { subcode: details.subcode } : {}),
        ...(change.reason !== undefined ? { reason: change.reason } : {}),
      });
      this.logger.info(
        { accountId, from: current.status, to: status, code: details?.code },
        'Instagram account status changed',
      );
    }
    return updated;
  }

  /**
   * The events of a status change, in its transaction (`account` as the change left it):
   * `status_changed`, then what the owner must hear about. `recovered` on the way back to
   * `active`; `needs_reconnect` when only the owner can fix the account (its token is dead, or a
   * permission is gone), once until it recovers, however often it flaps between broken statuses.
   */
  async recordTransition(
    tx: Queryable,
    account: ClientAccount,
    from: AccountStatus,
    data: Record<string, unknown> = {},
  ): Promise<void> {
    await this.events.appendAll(await this.transitionEvents(tx, account, from, data), tx);
  }

  /** recordTransition's events, for a caller that appends them with its own (a sync's). */
  async transitionEvents(
    tx: Queryable,
    account: ClientAccount,
    from: AccountStatus,
    data: Record<string, unknown> = {},
  ): Promise<NewAccountEvent[]> {
    const base = { accountId: account.id, userId: account.userId, account };
    const to = account.status;
    const changed: NewAccountEvent = {
      ...base,
      type: AccountEventType.STATUS_CHANGED,
      data: { from, to, ...data },
    };
    if (to === AccountStatus.ACTIVE) {
      return [changed, { ...base, type: AccountEventType.RECOVERED, data: { from } }];
    }
    const why = reconnectReason(account);
    if (!why) return [changed];
    const latest = await this.events.latestOf(
      account.id,
      [AccountEventType.NEEDS_RECONNECT, AccountEventType.RECOVERED],
      tx,
    );
    if (latest === AccountEventType.NEEDS_RECONNECT) return [changed];
    const details = account.metadata.errorDetails;
    return [
      changed,
      {
        ...base,
        type: AccountEventType.NEEDS_RECONNECT,
        data: {
          status: to,
          reason: why,
          ...(details ? { code: details.code } : {}),
          ...(details?.subcode !== undefined ? { subcode: details.subcode } : {}),
        },
      },
    ];
  }

  private async inTx<T>(
    tx: Queryable | undefined,
    tag: string,
    work: (tx: Queryable) => Promise<T>,
  ): Promise<T> {
    return tx ? work(tx) : this.db.tx(tag, work);
  }
}

/**
 * Why only the owner can bring the account back (by reconnecting), or undefined: a dead or
 * missing token, or a permission Instagram says is gone. A rate limit or an outage passes alone.
 */
export function reconnectReason(account: ClientAccount): string | undefined {
  if (account.status === AccountStatus.TOKEN_EXPIRED) return 'token_invalid';
  const code = Number(account.metadata.errorDetails?.code);
  if (account.status === AccountStatus.ERROR && Number.isInteger(code) && isPermissionCode(code)) {
    return 'permission_missing';
  }
  return undefined;
}

/** `active` clears both marks; another status keeps, replaces or drops them. */
function nextMetadata(
  current: ClientAccount,
  status: AccountStatus,
  change: StatusChange,
  statusChanges: boolean,
): AccountMetadata {
  const metadata: AccountMetadata = { ...current.metadata };
  if (status === AccountStatus.ACTIVE) {
    delete metadata.errorDetails;
    delete metadata.rateLimitedUntil;
    delete metadata.transientFailures;
    return metadata;
  }
  if (change.transient) {
    metadata.transientFailures = (metadata.transientFailures ?? 0) + 1;
  } else if (change.errorDetails) {
    delete metadata.transientFailures;
  }
  if (change.errorDetails) metadata.errorDetails = change.errorDetails;
  else if (statusChanges) delete metadata.errorDetails;
  if (status !== AccountStatus.RATE_LIMITED) delete metadata.rateLimitedUntil;
  else if (change.rateLimitedUntil) metadata.rateLimitedUntil = change.rateLimitedUntil;
  return metadata;
}
