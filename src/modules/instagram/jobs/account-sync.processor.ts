import { Inject, Injectable } from '@nestjs/common';
import type { Logger } from 'pino';
import { ROOT_LOGGER } from '../../../common/logging/logging.module';
import { type Job, JobQueue } from '../../../infrastructure/jobs/job-queue';
import { AccountSyncService } from '../services/account-sync.service';
import { requeueAt, settleFailure } from './job-failure';

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
    private readonly syncs: AccountSyncService,
    private readonly queue: JobQueue,
    @Inject(ROOT_LOGGER) logger: Logger,
  ) {
    this.logger = logger.child({ component: 'jobs', job: 'account.sync' });
  }

  async handle(job: Job<'account.sync'>): Promise<void> {
    const { accountId, reason } = job.data;
    const outcome = await this.syncs.sync(accountId, reason);
    let requeued: { startAfter: Date; queued: boolean } | undefined;
    if (outcome.status === 'skipped') {
      const until = outcome.account?.metadata.rateLimitedUntil;
      if (outcome.reason === 'rate_limited' && until) {
        requeued = await requeueAt(this.queue, 'account.sync', job.data, until);
      }
    } else if (outcome.status === 'failed') {
      requeued = await settleFailure(this.queue, 'account.sync', job.data, outcome.error);
    }
    if (requeued) {
      this.logger.info(
        { accountId, ...requeued },
        'account sync rate limited: queued again for when the limit lifts',
      );
    }
  }
}
