import { Controller, Get, Inject, ServiceUnavailableException } from '@nestjs/common';
import {
  ApiOkResponse,
  ApiOperation,
  ApiServiceUnavailableResponse,
  ApiTags,
} from '@nestjs/swagger';
import { PG } from '../../infrastructure/database/database.module';
import type { Db } from '../../infrastructure/database/database';
import { JobQueue } from '../../infrastructure/jobs/job-queue';
import type { QueueHealth } from '../../infrastructure/jobs/queue-monitor';

export interface ReadyResponse {
  status: 'ok';
  database: 'up';
  jobs: QueueHealth;
}

@ApiTags('Health')
@Controller('health')
export class HealthController {
  constructor(
    @Inject(PG) private readonly db: Db,
    private readonly queue: JobQueue,
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
  @ApiServiceUnavailableResponse({ description: 'The database does not answer within 2 s' })
  async ready(): Promise<ReadyResponse> {
    try {
      await this.db.task((t) =>
        t.one({ name: 'health-ready', text: 'SELECT 1 AS ok', rowMode: undefined }),
      );
      return { status: 'ok', database: 'up', jobs: this.queue.health() };
    } catch {
      throw new ServiceUnavailableException('The database is not reachable');
    }
  }
}
