import type { ClientAccount } from '../../../domain/entities/client-account.entity';
import { codeLabel, tokenReasonBrief } from '../../../domain/instagram/meta-codes';
import {
  InstagramApiError,
  InstagramRateLimitError,
  InstagramTokenInvalidError,
} from '../../../infrastructure/instagram';
import { formatUtc } from '../dto/account.dto';
import { classifyFailure } from '../services/account-failure';
import { clip } from '../services/account-profile';
import type { SyncOutcome } from '../services/account-sync.service';

/** Why a sync a person asked for did not happen; the filter answers each with its own status. */
export enum AccountSyncErrorCode {
  /** 409: the token or a permission is gone, none is stored, or the account is paused. */
  RECONNECT_REQUIRED = 'RECONNECT_REQUIRED',
  /** 429 with Retry-After: Instagram's limit holds until `retryAt`. */
  RATE_LIMITED = 'RATE_LIMITED',
  /** 502: Instagram failed or did not answer; trying again may work. */
  INSTAGRAM_FAILED = 'INSTAGRAM_FAILED',
  /** 404: the account was removed while the sync ran. */
  ACCOUNT_GONE = 'ACCOUNT_GONE',
}

const { RECONNECT_REQUIRED, RATE_LIMITED, INSTAGRAM_FAILED, ACCOUNT_GONE } = AccountSyncErrorCode;

/**
 * A manual sync that did not happen. `message` is the sentence the person reads (what went wrong
 * and what to do); it never holds a token: Instagram's messages are scrubbed before they get here.
 */
export class AccountSyncError extends Error {
  constructor(
    readonly code: AccountSyncErrorCode,
    message: string,
    /** For RATE_LIMITED: when Instagram is expected to answer again. */
    readonly retryAt?: Date,
  ) {
    super(message);
    this.name = 'AccountSyncError';
  }

  /** What a sync that did not happen tells the person who asked for it. */
  static of(
    outcome: Exclude<SyncOutcome, { status: 'synced' }>,
    now = new Date(),
  ): AccountSyncError {
    if (outcome.status === 'failed') return failedSync(outcome.error, now);
    switch (outcome.reason) {
      case 'not_found':
        return new AccountSyncError(ACCOUNT_GONE, 'Account not found');
      case 'disconnected':
        return new AccountSyncError(
          RECONNECT_REQUIRED,
          'This account is disconnected. Reconnect the account to sync it again.',
        );
      case 'no_token':
        return new AccountSyncError(
          RECONNECT_REQUIRED,
          'No usable Instagram token is stored for this account. Reconnect the account.',
        );
      case 'rate_limited':
        return rateLimited(storedLimit(outcome.account) ?? now, now);
    }
  }
}

function storedLimit(account: ClientAccount | undefined): Date | undefined {
  return account?.metadata.rateLimitedUntil;
}

function rateLimited(until: Date, now: Date): AccountSyncError {
  return new AccountSyncError(
    RATE_LIMITED,
    `Instagram rate-limited this account until ${formatUtc(until, now)}; try again then.`,
    until,
  );
}

function failedSync(error: unknown, now: Date): AccountSyncError {
  const { kind } = classifyFailure(error);
  if (!(error instanceof InstagramApiError)) {
    return new AccountSyncError(
      INSTAGRAM_FAILED,
      'Syncing with Instagram failed unexpectedly; try again',
    );
  }
  const label = error.code === undefined ? error.kind : codeLabel(error.code, error.subcode);
  switch (kind) {
    case 'token_invalid': {
      const why = tokenReasonBrief(
        error instanceof InstagramTokenInvalidError ? error.reason : 'unknown',
      );
      return new AccountSyncError(
        RECONNECT_REQUIRED,
        `Instagram rejected this account's access (code ${label}: ${why}). Reconnect the account.`,
      );
    }
    case 'permission':
      return new AccountSyncError(
        RECONNECT_REQUIRED,
        `Instagram refused a permission this account needs (code ${label}). Reconnect the account and grant the requested permissions.`,
      );
    case 'rate_limited':
      return rateLimited(error instanceof InstagramRateLimitError ? error.resetAt : now, now);
    case 'timeout':
      return new AccountSyncError(INSTAGRAM_FAILED, 'Instagram did not answer in time; try again');
    case 'network':
      return new AccountSyncError(INSTAGRAM_FAILED, 'Instagram could not be reached; try again');
    case 'transient':
      return new AccountSyncError(
        INSTAGRAM_FAILED,
        `Instagram had a temporary problem (${label}); try again`,
      );
    default:
      return new AccountSyncError(
        INSTAGRAM_FAILED,
        `Instagram answered with an error (${label}): ${clip(error.message, 300)}`,
      );
  }
}
