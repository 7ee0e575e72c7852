import { Inject, Injectable } from '@nestjs/common';
import type { Logger } from 'pino';
import { ROOT_LOGGER } from '../../../common/logging/logging.module';
import type { Job } from '../../../infrastructure/jobs/job-queue';
import { AccountTokenService, type RefreshTokenOutcome } from '../services/account-token.service';

/**
 * `account.refresh-token`: a fresh 60-day token before the old one runs out. The service stores
 * it, or counts the failed attempt on the account with when to try again. The retry schedule
 * lives on the account (`tokenRefresh.nextAttemptAt`), not in the queue: the refresh sweep picks
 * the token up again then, for as long as the token lasts, however many attempts that takes, and
 * a restart loses nothing. So a failed refresh ends its job instead of spending queue retries.
 */
@Injectable()
export class TokenRefreshProcessor {
  private readonly logger: Logger;

  constructor(
    private readonly tokens: AccountTokenService,
    @Inject(ROOT_LOGGER) logger: Logger,
  ) {
    this.logger = logger.child({ component: 'jobs', job: 'account.refresh-token' });
  }

  async handle(job: Job<'account.refresh-token'>): Promise<void> {
    await this.run(job.data.accountId);
  }

  /** One refresh, as the job does it; the CLI runs this too. */
  async run(accountId: string): Promise<RefreshTokenOutcome> {
    const outcome = await this.tokens.refreshToken(accountId);
    if (outcome.status === 'failed') {
      this.logger.info(
        { accountId, nextAttemptAt: outcome.nextAttemptAt ?? null },
        outcome.nextAttemptAt
          ? 'token refresh failed: tried again at the next attempt time'
          : 'token refresh failed: nothing left to try (reconnect needed or token lapsing)',
      );
    }
    return outcome;
  }
}
