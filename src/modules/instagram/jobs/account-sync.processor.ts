import { Inject, Injectable } from '@nestjs/common';
import type { Logger } from 'pino';
import { ROOT_LOGGER } from '../../../common/logging/logging.module';
import { type Job, JobQueue } from '../../../infrastructure/jobs/job-queue';
import { InstagramAccountService } from '../services/instagram-account.service';
import { RetryableJobError, accountJobKey, handlingOf, withJitter } from './job-failure';

/**
 * `account.sync`: fetch the profile and update the account. The service records every outcome
 * on the account itself; this decides only what happens to the job: transient failures throw
 * (pg-boss retries with backoff), a rate limit queues the sync again for when it lifts (no retry
 * spent), anything else ends the job.
 */
@Injectable()
export class AccountSyncProcessor {
  private readonly logger: Logger;

  constructor(
    private readonly accounts: InstagramAccountService,
    private readonly queue: JobQueue,
    @Inject(ROOT_LOGGER) logger: Logger,
  ) {
    this.logger = logger.child({ component: 'jobs', job: 'account.sync' });
  }

  async handle(job: Job<'account.sync'>): Promise<void> {
    const { accountId, reason } = job.data;
    const outcome = await this.accounts.performSync(accountId, reason);
    switch (outcome.status) {
      case 'synced':
        return;
      case 'skipped': {
        const until = outcome.account?.metadata.rateLimitedUntil;
        if (outcome.reason === 'rate_limited' && until) {
          await this.reschedule(job, until);
        }
        return;
      }
      case 'failed': {
        const handling = handlingOf(outcome.error);
        if (handling.action === 'reschedule') {
          await this.reschedule(job, handling.at);
        } else if (handling.action === 'retry') {
          const error = outcome.error;
          throw new RetryableJobError(
            error instanceof Error ? `${error.name}: ${error.message}` : 'sync failed',
          );
        }
        return;
      }
    }
  }

  private async reschedule(job: Job<'account.sync'>, at: Date): Promise<void> {
    const startAfter = withJitter(at);
    const id = await this.queue.enqueue('account.sync', job.data, {
      singletonKey: accountJobKey(job.data.accountId),
      startAfter,
    });
    this.logger.info(
      { accountId: job.data.accountId, startAfter, queued: id !== null },
      'account sync rate limited: queued again for when the limit lifts',
    );
  }
}
