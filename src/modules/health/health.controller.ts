import { Controller, Get, Inject } from '@nestjs/common';
import {
  ApiOkResponse,
  ApiOperation,
  ApiServiceUnavailableResponse,
  ApiTags,
} from '@nestjs/swagger';
import { ServiceUnavailableRetryException } from '../../common/errors/service-unavailable.exception';
import { DATABASE_HEALTH, PG } from '../../infrastructure/database/database.module';
import type { Db } from '../../infrastructure/database/database';
import { JobQueue } from '../../infrastructure/jobs/job-queue';
import type { QueueHealth } from '../../infrastructure/jobs/queue-monitor';

export interface ReadyResponse {
  status: 'ok';
  database: 'up';
  jobs: QueueHealth;
}
import type { DatabaseHealth } from '../../infrastructure/database/database-health';
import { DATABASE_RETRY_AFTER_SECONDS } from '../../infrastructure/database/database-error.mapper';

/**
 * Readiness answers within this, whatever PostgreSQL does: a load balancer's probe must not hang
 * on a frozen database (the pool's own deadlines are longer, for real queries).
 */
export const READINESS_DEADLINE_MS = 1500;

class ReadinessDeadline extends Error {
  constructor() {
    super(`the database did not answer within ${READINESS_DEADLINE_MS} ms`);
    this.name = 'ReadinessDeadline';
  }
}

function withDeadline<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new ReadinessDeadline()), ms);
  });
  // The query goes on in the pool after the deadline; its own timeout ends it there.
  work.catch(() => undefined);
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

@ApiTags('Health')
@Controller('health')
export class HealthController {
  constructor(
    @Inject(PG) private readonly db: Db,
    private readonly queue: JobQueue,
    @Inject(DATABASE_HEALTH) private readonly health: DatabaseHealth,
  ) {}

  @Get('live')
  @ApiOperation({ summary: 'The process is up and serving HTTP' })
  @ApiOkResponse({ schema: { example: { status: 'ok' } } })
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  @Get('ready')
  @ApiOperation({
    summary: 'The service can take traffic: its database answers',
    description:
      'The status code is about this process taking HTTP traffic, so it depends on the database ' +
      'only. `jobs` reports the job queue as every process sees it (checked every few seconds): ' +
      '`stalled` lists queues with jobs ready for longer than JOBS_STALL_SECONDS and none ' +
      'started meanwhile (no worker is taking them). A stalled queue does not make the process ' +
      'unready: alert on `jobs.status` (or the `job queue stalled` error log line) instead.',
  })
  @ApiOkResponse({
    schema: {
      example: {
        status: 'ok',
        database: 'up',
        jobs: {
          status: 'stalled',
          checkedAt: '2026-12-01T10:00:00.000Z',
          stalled: [{ queue: 'account.sync', ready: 35, waitingSeconds: 912 }],
        },
      },
    },
  })
  @ApiServiceUnavailableResponse({
    description: 'The database does not answer within 2 s (with Retry-After)',
  })
  async ready(): Promise<ReadyResponse> {
    try {
      await withDeadline(
        this.db.task((t) =>
          t.one({ name: 'health-ready', text: 'SELECT 1 AS ok', rowMode: undefined }),
        ),
        READINESS_DEADLINE_MS,
      );
    } catch (error) {
      this.health.failed(error);
      // Quiet: a load balancer probes every few seconds, and the outage is logged already.
      throw new ServiceUnavailableRetryException(
        'The database is not reachable',
        DATABASE_RETRY_AFTER_SECONDS,
        true,
      );
    }
    this.health.succeeded();
    return { status: 'ok', database: 'up', jobs: this.queue.health() };
  }
}
