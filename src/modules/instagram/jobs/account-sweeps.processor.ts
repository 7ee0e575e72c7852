import { Inject, Injectable } from '@nestjs/common';
import type { Logger } from 'pino';
import { ROOT_LOGGER } from '../../../common/logging/logging.module';
import {
  CLIENT_ACCOUNT_REPOSITORY,
  type IClientAccountRepository,
} from '../../../domain/repositories/client-account.repository.interface';
import { TokenVault } from '../../../infrastructure/crypto/token-vault';
import { ApiUsageRecorder } from '../../../infrastructure/instagram/api-usage.recorder';
import { MIN_TOKEN_AGE_FOR_REFRESH_MS } from '../../../infrastructure/instagram';
import { JobQueue } from '../../../infrastructure/jobs/job-queue';
import { AccountStatusService } from '../services/account-status.service';
import { accountJobKey } from './job-failure';

/** Long-lived tokens last 60 days; a week's margin survives a few days of failed refreshes. */
export const REFRESH_WINDOW_HOURS = 168;
/** Accounts visited per refresh sweep (hourly), soonest expiry first; the rest wait an hour. */
export const REFRESH_SWEEP_BATCH = 1000;
/** Every account is synced about daily… */
export const SYNC_STALE_HOURS = 24;
/** …and sooner when its profile picture URL is about to stop working… */
export const PICTURE_EXPIRY_WINDOW_HOURS = 24;
/** …but not more often than this for that reason (some CDN URLs are always short-lived). */
export const PICTURE_MIN_GAP_HOURS = 6;
/** Accounts queued per sync sweep; the rest wait for the next one, most overdue first. */
export const SYNC_SWEEP_BATCH = 500;
/** Meta's app-wide budget (X-App-Usage, percent): above this, periodic syncs wait a round. */
export const SYNC_SWEEP_MAX_APP_USAGE_PERCENT = 80;

export interface RefreshSweepResult {
  candidates: number;
  queued: number;
  expired: number;
}

export interface SyncSweepResult {
  held: boolean;
  due: number;
  queued: number;
}

/**
 * The two periodic sweeps. They only choose accounts and queue one job per account (singleton
 * key: never a second queued job for the same account); the per-account jobs do the work.
 */
@Injectable()
export class AccountSweepsProcessor {
  private readonly logger: Logger;

  constructor(
    private readonly status: AccountStatusService,
    @Inject(CLIENT_ACCOUNT_REPOSITORY) private readonly accountRepository: IClientAccountRepository,
    private readonly vault: TokenVault,
    private readonly queue: JobQueue,
    private readonly usage: ApiUsageRecorder,
    @Inject(ROOT_LOGGER) logger: Logger,
  ) {
    this.logger = logger.child({ component: 'jobs' });
  }

  /**
   * `tokens.refresh-sweep`: accounts whose token expires within the window get a refresh queued,
   * if Meta would accept one (long-lived, at least 24 hours old, not yet expired). That includes
   * `rate_limited` and `error` accounts (see `findRefreshable`): their token still works, and a
   * week of failed syncs must not cost them the token too. A token already past its expiry
   * cannot be refreshed: the account is marked `token_expired` so the page asks for a reconnect.
   */
  async refreshSweep(now: Date = new Date()): Promise<RefreshSweepResult> {
    const candidates = await this.accountRepository.findRefreshable(
      REFRESH_WINDOW_HOURS,
      REFRESH_SWEEP_BATCH,
    );
    let queued = 0;
    let expired = 0;
    for (const account of candidates) {
      const token = await this.vault.metadata(account.id);
      if (!token || token.tokenType !== 'long_lived' || token.expiresAt === null) continue;
      if (token.expiresAt.getTime() <= now.getTime()) {
        await this.status.markTokenExpired(account.id, token.expiresAt);
        expired++;
        continue;
      }
      // The token's age counts from when it was last replaced, which is what Meta checks.
      const obtainedAt = Math.max(token.issuedAt.getTime(), token.lastRefreshedAt?.getTime() ?? 0);
      if (now.getTime() - obtainedAt < MIN_TOKEN_AGE_FOR_REFRESH_MS) continue;
      const id = await this.queue.enqueue(
        'account.refresh-token',
        { accountId: account.id },
        { singletonKey: accountJobKey(account.id) },
      );
      if (id !== null) queued++;
    }
    const result = { candidates: candidates.length, queued, expired };
    this.logger.info({ job: 'tokens.refresh-sweep', ...result }, 'token refresh sweep done');
    return result;
  }

  /**
   * `accounts.sync-sweep`: a periodic sync for accounts that are due (see
   * `findDueForSync`). Held back for a round while Meta reports the app's budget nearly spent:
   * periodic syncs can wait, connects and manual syncs cannot.
   */
  async syncSweep(): Promise<SyncSweepResult> {
    const usagePercent = await this.usage.appUsagePercent();
    if (usagePercent >= SYNC_SWEEP_MAX_APP_USAGE_PERCENT) {
      this.logger.warn(
        { job: 'accounts.sync-sweep', usagePercent },
        'Instagram app usage is high: periodic syncs skipped this round',
      );
      return { held: true, due: 0, queued: 0 };
    }
    const due = await this.accountRepository.findDueForSync({
      staleHours: SYNC_STALE_HOURS,
      pictureWithinHours: PICTURE_EXPIRY_WINDOW_HOURS,
      pictureMinGapHours: PICTURE_MIN_GAP_HOURS,
      limit: SYNC_SWEEP_BATCH,
    });
    let queued = 0;
    for (const accountId of due) {
      const id = await this.queue.enqueue(
        'account.sync',
        { accountId, reason: 'periodic' },
        { singletonKey: accountJobKey(accountId) },
      );
      if (id !== null) queued++;
    }
    const result = { held: false, due: due.length, queued };
    this.logger.info({ job: 'accounts.sync-sweep', ...result }, 'account sync sweep done');
    return result;
  }
}
