import type { Logger } from 'pino';
import {
  type AccountErrorDetails,
  AccountStatus,
} from '../../../domain/entities/client-account.entity';
import { type InstagramErrorKind, LOCAL_ERROR_CODES } from '../../../domain/instagram/meta-codes';
import { TokenDecryptionError } from '../../../infrastructure/crypto/token-cipher';
import {
  InstagramApiError,
  InstagramRateLimitError,
  InstagramTokenInvalidError,
  TokenRefreshNotAllowedError,
} from '../../../infrastructure/instagram';
import { TokenRefreshNotExtendedError } from '../errors/token-refresh.error';
import { clip } from './account-profile';

/** Every failure an account's work can meet: Instagram's kinds, and three of ours. */
export type FailureKind =
  | InstagramErrorKind
  /** Meta would refuse the refresh anyway (token too young or expired). */
  | 'refresh_refused'
  /** The stored token no longer decrypts. */
  | 'token_unreadable'
  /** A refresh that handed back a token expiring no later than the held one. */
  | 'refresh_not_extended'
  /** Not Instagram's doing: a bug, the database. */
  | 'unexpected';

/** What an account job does: retry with backoff, run again once a limit lifts, or end. */
export type JobAction = 'retry' | 'reschedule' | 'give_up';

/** Where a failed connect sends the person (the connect service words each one). */
export type ConnectFailureReason =
  | 'authorization_failed'
  | 'code_rejected'
  | 'rate_limited'
  | 'instagram_unavailable'
  | 'permission_denied'
  | 'instagram_error'
  | 'server_error';

type FailureStatus = AccountStatus.TOKEN_EXPIRED | AccountStatus.RATE_LIMITED | AccountStatus.ERROR;

interface Decisions {
  /** The status the account takes when the failure is recorded on it. */
  status: FailureStatus;
  job: JobAction;
  connect: ConnectFailureReason;
}

const { TOKEN_EXPIRED, RATE_LIMITED, ERROR } = AccountStatus;

/** Every decision about a failure, one row per kind. */
const DECISIONS: Readonly<Record<FailureKind, Decisions>> = {
  token_invalid: { status: TOKEN_EXPIRED, job: 'give_up', connect: 'authorization_failed' },
  permission: { status: ERROR, job: 'give_up', connect: 'permission_denied' },
  rate_limited: { status: RATE_LIMITED, job: 'reschedule', connect: 'rate_limited' },
  bad_request: { status: ERROR, job: 'give_up', connect: 'instagram_error' },
  not_found: { status: ERROR, job: 'give_up', connect: 'instagram_error' },
  transient: { status: ERROR, job: 'retry', connect: 'instagram_unavailable' },
  network: { status: ERROR, job: 'retry', connect: 'instagram_unavailable' },
  timeout: { status: ERROR, job: 'retry', connect: 'instagram_unavailable' },
  unknown: { status: ERROR, job: 'give_up', connect: 'instagram_error' },
  refresh_refused: { status: ERROR, job: 'give_up', connect: 'server_error' },
  token_unreadable: { status: ERROR, job: 'give_up', connect: 'server_error' },
  refresh_not_extended: { status: ERROR, job: 'retry', connect: 'server_error' },
  // Retried: the database coming back or a deploy fixing the bug makes the next try succeed.
  unexpected: { status: ERROR, job: 'retry', connect: 'server_error' },
};

export interface Failure extends Decisions {
  kind: FailureKind;
  /**
   * Worth trying again as it is (5xx, codes 1 and 2, network, timeouts, our own hiccups): such a
   * failure alone never marks an account broken; three in a row do (AccountStatusService).
   */
  transient: boolean;
  /** The status_changed event's reason: "password_changed", "rate_limited_app", "timeout", … */
  reason: string;
  /** For a rate limit: when Meta's budget is expected back. */
  retryAt?: Date;
}

/**
 * The one failure classifier: what an error from an account's work (a sync, a status check, a
 * token refresh, a connect) means for the account's status, for the job that met it and for the
 * person connecting. The account's row, the job and the connect page read this, never the error.
 */
export function classifyFailure(error: unknown): Failure {
  const kind = kindOf(error);
  const reason =
    error instanceof InstagramTokenInvalidError
      ? error.reason
      : error instanceof InstagramRateLimitError
        ? `rate_limited_${error.scope}`
        : error instanceof InstagramApiError
          ? error.kind
          : 'unknown';
  const decisions = DECISIONS[kind];
  return {
    kind,
    ...decisions,
    transient: decisions.job === 'retry',
    reason,
    ...(error instanceof InstagramRateLimitError ? { retryAt: error.resetAt } : {}),
  };
}

function kindOf(error: unknown): FailureKind {
  if (error instanceof InstagramApiError) return error.kind;
  if (error instanceof TokenRefreshNotAllowedError) return 'refresh_refused';
  if (error instanceof TokenDecryptionError) return 'token_unreadable';
  if (error instanceof TokenRefreshNotExtendedError) return 'refresh_not_extended';
  return 'unexpected';
}

/** A connect's failure; the code exchange answers a used or expired code as a bad request. */
export function connectFailureOf(error: unknown): ConnectFailureReason {
  const { kind, connect } = classifyFailure(error);
  const codeRejected =
    (kind === 'bad_request' || kind === 'not_found') &&
    error instanceof InstagramApiError &&
    error.operation === 'exchangeCode';
  return codeRejected ? 'code_rejected' : connect;
}

const MAX_STORED_MESSAGE = 500;

/** What the account row keeps about a failure: Meta's code (or ours), a safe message, when. */
export function failureDetails(error: unknown, now: Date, token?: string): AccountErrorDetails {
  const details: AccountErrorDetails = {
    code:
      error instanceof InstagramApiError
        ? error.code !== undefined
          ? String(error.code)
          : error.kind.toUpperCase()
        : error instanceof TokenRefreshNotExtendedError
          ? LOCAL_ERROR_CODES.REFRESH_NOT_EXTENDED
          : LOCAL_ERROR_CODES.UNKNOWN,
    message: safeMessage(error, token),
    timestamp: now,
  };
  if (error instanceof InstagramApiError) {
    if (error.subcode !== undefined) details.subcode = String(error.subcode);
    if (error.fbtraceId !== undefined) details.fbtraceId = error.fbtraceId;
  }
  return details;
}

/** A message safe to store and show: the client scrubs its own; the token is cut again anyway. */
export function safeMessage(error: unknown, token: string | undefined): string {
  const raw =
    error instanceof InstagramApiError || error instanceof TokenRefreshNotExtendedError
      ? error.message
      : 'Unexpected failure while talking to Instagram';
  const scrubbed = token ? raw.split(token).join('[REDACTED]') : raw;
  return clip(scrubbed, MAX_STORED_MESSAGE) ?? '';
}

/** The client's error summary (already scrubbed), the token cut again in case. */
export function logFailure(
  logger: Logger,
  message: string,
  accountId: string,
  error: unknown,
  token: string | undefined,
  syncReason?: string,
): void {
  const summary =
    error instanceof InstagramApiError
      ? { ...error.toLog(), message: safeMessage(error, token) }
      : { name: error instanceof Error ? error.name : typeof error };
  logger.warn({ accountId, ...(syncReason ? { syncReason } : {}), error: summary }, message);
}
