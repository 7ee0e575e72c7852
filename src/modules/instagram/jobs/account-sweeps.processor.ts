import { Inject, Injectable } from '@nestjs/common';
import type { Logger } from 'pino';
import { CLOCK, type Clock } from '../../../common/clock/clock';
import { ROOT_LOGGER } from '../../../common/logging/logging.module';
import type { AppConfig } from '../../../config/config';
import { APP_CONFIG } from '../../../config/config.module';
import {
  CLIENT_ACCOUNT_REPOSITORY,
  type IClientAccountRepository,
} from '../../../domain/repositories/client-account.repository.interface';
import { TokenVault } from '../../../infrastructure/crypto/token-vault';
import { ApiUsageRecorder } from '../../../infrastructure/instagram/api-usage.recorder';
import { MIN_TOKEN_AGE_FOR_REFRESH_MS } from '../../../infrastructure/instagram';
import { JobQueue } from '../../../infrastructure/jobs/job-queue';
import { AccountStatusService } from '../services/account-status.service';
import { AccountTokenService } from '../services/account-token.service';
import {
  EXPIRY_WARNING_HORIZON_HOURS,
  expiryWarningDue,
  refreshStateFor,
} from '../services/token-refresh-policy';
import { accountJobKey } from './job-failure';

/** Accounts visited per refresh sweep (hourly), soonest expiry first; the rest wait an hour. */
export const REFRESH_SWEEP_BATCH = 1000;
/** Every account is synced about daily… */
export const SYNC_STALE_HOURS = 24;
/** …and sooner when its profile picture URL is about to stop working… */
export const PICTURE_EXPIRY_WINDOW_HOURS = 24;
/** …but not more often than this for that reason (some CDN URLs are always short-lived). */
export const PICTURE_MIN_GAP_HOURS = 6;
/** Meta's app-wide budget (X-App-Usage, percent): above this, periodic syncs wait a round. */
export const SYNC_SWEEP_MAX_APP_USAGE_PERCENT = 80;

export interface RefreshSweepResult {
  candidates: number;
  queued: number;
  expired: number;
  /** token_expiring events written (14 / 7 / 1 days left, each once per token). */
  warned: number;
}

/** What the refresh sweep found: the accounts to refresh now, and what it did on the way. */
export interface DueRefreshes {
  candidates: number;
  due: string[];
  expired: number;
  warned: number;
  /** Backing off after a failed refresh, or too young for Meta to refresh yet. */
  waiting: number;
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
    private readonly tokens: AccountTokenService,
    @Inject(CLIENT_ACCOUNT_REPOSITORY) private readonly accountRepository: IClientAccountRepository,
    private readonly vault: TokenVault,
    private readonly queue: JobQueue,
    private readonly usage: ApiUsageRecorder,
    @Inject(ROOT_LOGGER) logger: Logger,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {
    this.logger = logger.child({ component: 'jobs' });
  }

  /**
   * `tokens.refresh-sweep`: queues a refresh for every account that {@link dueRefreshes} finds
   * due (one job per account: the singleton key never queues a second).
   */
  async refreshSweep(): Promise<RefreshSweepResult> {
    const found = await this.dueRefreshes();
    const queued = await this.queue.enqueueMany(
      'account.refresh-token',
      found.due.map((accountId) => ({
        data: { accountId },
        singletonKey: accountJobKey(accountId),
      })),
    );
    const result = {
      candidates: found.candidates,
      queued,
      expired: found.expired,
      warned: found.warned,
    };
    this.logger.info(
      { job: 'tokens.refresh-sweep', ...result, waiting: found.waiting },
      'token refresh sweep done',
    );
    return result;
  }

  /**
   * The accounts whose token should be refreshed now: expiring within TOKEN_REFRESH_WINDOW_DAYS,
   * long-lived and at least 24 hours old (what Meta accepts), not backing off after a failed
   * refresh. That includes `rate_limited` and `error` accounts (see `findRefreshable`): their
   * token still works, and weeks of failed syncs must not cost them the token too. On the way,
   * a token already past its expiry marks its account `token_expired` (only a reconnect helps),
   * and a token that cannot be refreshed in time gets its 14 / 7 / 1-day warning.
   */
  async dueRefreshes(): Promise<DueRefreshes> {
    const now = this.clock.now();
    const windowDays = this.config.tokenRefreshWindowDays;
    const candidates = await this.accountRepository.findRefreshable(
      windowDays * 24,
      REFRESH_SWEEP_BATCH,
      { now, revisitWithinHours: EXPIRY_WARNING_HORIZON_HOURS },
    );
    const due: string[] = [];
    let expired = 0;
    let warned = 0;
    let waiting = 0;
    for (const account of candidates) {
      const token = await this.vault.metadata(account.id);
      if (!token || token.tokenType !== 'long_lived' || token.expiresAt === null) continue;
      if (token.expiresAt.getTime() <= now.getTime()) {
        await this.status.markTokenExpired(account.id, token.expiresAt);
        expired++;
        continue;
      }
      const state = refreshStateFor(account, token.expiresAt);
      // Checked on the row read here first, so only accounts owed one take the row lock.
      if (expiryWarningDue(state, token.expiresAt, now, windowDays) !== undefined) {
        if ((await this.tokens.warnIfExpiring(account.id, windowDays)) !== undefined) warned++;
      }
      // The token's age counts from when it was last replaced, which is what Meta checks.
      const obtainedAt = Math.max(token.issuedAt.getTime(), token.lastRefreshedAt?.getTime() ?? 0);
      const backingOff = state.nextAttemptAt && state.nextAttemptAt.getTime() > now.getTime();
      if (backingOff || now.getTime() - obtainedAt < MIN_TOKEN_AGE_FOR_REFRESH_MS) {
        waiting++;
        continue;
      }
      due.push(account.id);
    }
    return { candidates: candidates.length, due, expired, warned, waiting };
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
      limit: this.config.syncSweepBatch,
    });
    // One statement per thousand accounts: the workers start on the first while it runs.
    const queued = await this.queue.enqueueMany(
      'account.sync',
      due.map((accountId) => ({
        data: { accountId, reason: 'periodic' as const },
        singletonKey: accountJobKey(accountId),
      })),
    );
    const result = { held: false, due: due.length, queued };
    this.logger.info({ job: 'accounts.sync-sweep', ...result }, 'account sync sweep done');
    return result;
  }
}
