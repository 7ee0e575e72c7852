import { Inject, Injectable } from '@nestjs/common';
import type { Logger } from 'pino';
import { ROOT_LOGGER } from '../../../common/logging/logging.module';
import { type Job, JobQueue } from '../../../infrastructure/jobs/job-queue';
import { InstagramAccountService } from '../services/instagram-account.service';
import { RetryableJobError, accountJobKey, handlingOf, withJitter } from './job-failure';

/**
 * `account.refresh-token`: a fresh 60-day token before the old one runs out. The service stores
 * it (or records a dead token / rate limit on the account); this decides the job's fate like
 * the sync does.
 */
@Injectable()
export class TokenRefreshProcessor {
  private readonly logger: Logger;

  constructor(
    private readonly accounts: InstagramAccountService,
    private readonly queue: JobQueue,
    @Inject(ROOT_LOGGER) logger: Logger,
  ) {
    this.logger = logger.child({ component: 'jobs', job: 'account.refresh-token' });
  }

  async handle(job: Job<'account.refresh-token'>): Promise<void> {
    const { accountId } = job.data;
    const outcome = await this.accounts.refreshToken(accountId);
    if (outcome.status !== 'failed') return;
    const handling = handlingOf(outcome.error);
    if (handling.action === 'reschedule') {
      const startAfter = withJitter(handling.at);
      await this.queue.enqueue('account.refresh-token', job.data, {
        singletonKey: accountJobKey(accountId),
        startAfter,
      });
      this.logger.info({ accountId, startAfter }, 'token refresh rate limited: queued again');
      return;
    }
    if (handling.action === 'retry') {
      const error = outcome.error;
      throw new RetryableJobError(
        error instanceof Error ? `${error.name}: ${error.message}` : 'token refresh failed',
      );
    }
  }
}
