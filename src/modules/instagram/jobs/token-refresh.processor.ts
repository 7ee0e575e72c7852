import { Inject, Injectable } from '@nestjs/common';
import type { Logger } from 'pino';
import { ROOT_LOGGER } from '../../../common/logging/logging.module';
import { type Job, JobQueue } from '../../../infrastructure/jobs/job-queue';
import { AccountTokenService } from '../services/account-token.service';
import { settleFailure } from './job-failure';

/**
 * `account.refresh-token`: a fresh 60-day token before the old one runs out. The service stores
 * it (or records a dead token / rate limit on the account); this decides the job's fate like
 * the sync does.
 */
@Injectable()
export class TokenRefreshProcessor {
  private readonly logger: Logger;

  constructor(
    private readonly tokens: AccountTokenService,
    private readonly queue: JobQueue,
    @Inject(ROOT_LOGGER) logger: Logger,
  ) {
    this.logger = logger.child({ component: 'jobs', job: 'account.refresh-token' });
  }

  async handle(job: Job<'account.refresh-token'>): Promise<void> {
    const outcome = await this.tokens.refreshToken(job.data.accountId);
    if (outcome.status !== 'failed') return;
    const requeued = await settleFailure(
      this.queue,
      'account.refresh-token',
      job.data,
      outcome.error,
    );
    if (requeued) {
      this.logger.info(
        { accountId: job.data.accountId, ...requeued },
        'token refresh rate limited: queued again',
      );
    }
  }
}
