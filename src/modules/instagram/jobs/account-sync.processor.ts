import { Inject, Injectable } from '@nestjs/common';
import type { Logger } from 'pino';
import { ROOT_LOGGER } from '../../../common/logging/logging.module';
import type { JobPayloads } from '../../../infrastructure/jobs/job-names';
import { type Job, JobQueue } from '../../../infrastructure/jobs/job-queue';
import { AccountSyncService, type SyncOutcome } from '../services/account-sync.service';
import { requeueAt, RetryableJobError, settleFailure } from './job-failure';

/** What one sync came to, and what became of its job. */
export interface SyncRun {
  outcome: SyncOutcome;
  /** Queued again for when a rate limit lifts. */
  requeued?: { startAfter: Date; queued: boolean };
  /** Set when the queue should retry it (a transient failure): what the job throws. */
  retry?: RetryableJobError;
}

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
    const { retry } = await this.run(job.data);
    if (retry) throw retry;
  }

  /** One sync as the job runs it, without throwing for a retry; the CLI runs this too. */
  async run(data: JobPayloads['account.sync']): Promise<SyncRun> {
    const outcome = await this.syncs.sync(data.accountId, data.reason);
    const run: SyncRun = { outcome };
    if (outcome.status === 'skipped') {
      const until = outcome.account?.metadata.rateLimitedUntil;
      if (outcome.reason === 'rate_limited' && until) {
        run.requeued = await requeueAt(this.queue, 'account.sync', data, until);
      }
    } else if (outcome.status === 'failed') {
      try {
        const requeued = await settleFailure(this.queue, 'account.sync', data, outcome.error);
        if (requeued) run.requeued = requeued;
      } catch (error) {
        if (!(error instanceof RetryableJobError)) throw error;
        run.retry = error;
      }
    }
    if (run.requeued) {
      this.logger.info(
        { accountId: data.accountId, ...run.requeued },
        'account sync rate limited: queued again for when the limit lifts',
      );
    }
    return run;
  }
}
