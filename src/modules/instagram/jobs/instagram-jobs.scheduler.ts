import { Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { JobQueue } from '../../../infrastructure/jobs/job-queue';
import { AccountSweepsProcessor } from './account-sweeps.processor';
import { AccountSyncProcessor } from './account-sync.processor';
import { TokenRefreshProcessor } from './token-refresh.processor';

/** Hourly, off the top of the hour (when everyone else's crons fire). */
export const REFRESH_SWEEP_CRON = '7 * * * *';
/**
 * Hourly too: an account is due about once a day either way, and small hourly batches spread
 * Meta calls over the day instead of bursting them every few hours.
 */
export const SYNC_SWEEP_CRON = '37 * * * *';

/**
 * Registers the Instagram handlers and schedules with the queue once the application is up.
 * In processes without workers (`JOBS_ENABLED=false`, `--role api`) both calls are no-ops.
 */
@Injectable()
export class InstagramJobsScheduler implements OnApplicationBootstrap {
  constructor(
    private readonly queue: JobQueue,
    private readonly sync: AccountSyncProcessor,
    private readonly refresh: TokenRefreshProcessor,
    private readonly sweeps: AccountSweepsProcessor,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    // Account jobs run JOBS_CONCURRENCY at a time per process; a sweep, one at a time.
    await this.queue.work('account.sync', (job) => this.sync.handle(job));
    await this.queue.work('account.refresh-token', (job) => this.refresh.handle(job));
    await this.queue.work(
      'tokens.refresh-sweep',
      async () => {
        await this.sweeps.refreshSweep();
      },
      { concurrency: 1 },
    );
    await this.queue.work(
      'accounts.sync-sweep',
      async () => {
        await this.sweeps.syncSweep();
      },
      { concurrency: 1 },
    );
    await this.queue.schedule('tokens.refresh-sweep', REFRESH_SWEEP_CRON, {});
    await this.queue.schedule('accounts.sync-sweep', SYNC_SWEEP_CRON, {});
  }
}
