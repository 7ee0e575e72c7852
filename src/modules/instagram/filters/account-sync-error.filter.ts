import { type ArgumentsHost, Catch, type ExceptionFilter } from '@nestjs/common';
import {
  type MappedError,
  retryAfterSeconds,
  sendError,
} from '../../../common/filters/error-reply';
import { AccountSyncError, AccountSyncErrorCode } from '../errors/account-sync.error';

/** A manual sync that did not happen, as HTTP: 409 reconnect, 429 wait, 502 try again, 404. */
@Catch(AccountSyncError)
export class AccountSyncErrorFilter implements ExceptionFilter {
  catch(error: AccountSyncError, host: ArgumentsHost): void {
    sendError(host, error, mapAccountSyncError(error));
  }
}

export function mapAccountSyncError(error: AccountSyncError, now = new Date()): MappedError {
  const { message } = error;
  switch (error.code) {
    case AccountSyncErrorCode.RECONNECT_REQUIRED:
      return { status: 409, message };
    case AccountSyncErrorCode.RATE_LIMITED:
      return {
        status: 429,
        message,
        headers: { 'retry-after': String(retryAfterSeconds(error.retryAt ?? now, now)) },
      };
    case AccountSyncErrorCode.INSTAGRAM_FAILED:
      return { status: 502, message };
    case AccountSyncErrorCode.ACCOUNT_GONE:
      return { status: 404, message };
  }
}
