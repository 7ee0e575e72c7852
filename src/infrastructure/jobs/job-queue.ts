import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import PgBoss from 'pg-boss';
import { APP_CONFIG } from '../../config/config.module';
import type { AppConfig } from '../../config/config';
import type { Queryable } from '../database/database';
import { DATABASE_URL } from '../database/database.module';
import { JOB_NAMES, type JobName, type JobPayloads } from './job-names';
import { withQueueSetupLock } from './queue-setup-lock';
import { loggableError } from '../../common/logging/loggable-error';

export interface EnqueueOptions {
  /** Enqueue inside the caller's transaction: the job exists only if the transaction commits. */
  tx?: Queryable;
  /** At most one queued and one running job per key (e.g. per account). */
  singletonKey?: string;
  startAfter?: Date | number;
  retryLimit?: number;
}

export interface Job<N extends JobName> {
  id: string;
  name: N;
  data: JobPayloads[N];
}

/**
 * The durable job queue: pg-boss on the service's own PostgreSQL. Every process can enqueue; only
 * processes with jobs enabled (the default, or `--role worker`) run handlers and schedules.
 */
@Injectable()
export class JobQueue implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(JobQueue.name);
  private readonly boss: PgBoss;
  private started = false;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(DATABASE_URL) private readonly databaseUrl: string,
  ) {
    this.boss = new PgBoss({
      connectionString: databaseUrl,
      schema: 'pgboss',
      application_name: 'ssell-jobs',
      max: 4,
      supervise: config.jobsEnabled,
      schedule: config.jobsEnabled,
      retryLimit: 5,
      retryDelay: 30,
      retryBackoff: true,
      expireInMinutes: 15,
    });
    this.boss.on('error', (error) =>
      this.logger.error({ err: loggableError(error, { stack: true }) }, 'job queue error'),
    );
  }

  get workersEnabled(): boolean {
    return this.config.jobsEnabled;
  }

  async onModuleInit(): Promise<void> {
    await withQueueSetupLock(this.databaseUrl, async () => {
      await this.boss.start();
      this.started = true;
      for (const name of JOB_NAMES) {
        // 'stately' + singletonKey: one queued and one active job per key, never a pile-up.
        await this.boss.createQueue(name, {
          name,
          policy: 'stately',
          retryLimit: 5,
          retryDelay: 30,
          retryBackoff: true,
        });
      }
    });
  }

  async enqueue<N extends JobName>(
    name: N,
    data: JobPayloads[N],
    options: EnqueueOptions = {},
  ): Promise<string | null> {
    const { tx, ...rest } = options;
    const sendOptions: PgBoss.SendOptions = { ...rest };
    if (tx) {
      sendOptions.db = {
        executeSql: async (text: string, values: unknown[]) => {
          const result = await tx.result(text, values);
          return { rows: result.rows };
        },
      };
    }
    return this.boss.send(name, data, sendOptions);
  }

  /** Registers a handler; a no-op in processes that do not run workers. */
  async work<N extends JobName>(
    name: N,
    handler: (job: Job<N>) => Promise<void>,
    options: { concurrency?: number } = {},
  ): Promise<void> {
    if (!this.config.jobsEnabled) return;
    const workers = Math.max(1, options.concurrency ?? 1);
    for (let i = 0; i < workers; i++) {
      await this.boss.work<JobPayloads[N]>(
        name,
        { batchSize: 1, pollingIntervalSeconds: 1 },
        async (jobs) => {
          for (const job of jobs) {
            await handler({ id: job.id, name, data: job.data });
          }
        },
      );
    }
  }

  async schedule<N extends JobName>(name: N, cron: string, data: JobPayloads[N]): Promise<void> {
    if (!this.config.jobsEnabled) return;
    await this.boss.schedule(name, cron, data, { singletonKey: name });
  }

  /** For tests and the admin CLI: how many jobs of a kind wait or run. */
  async pending(name: JobName): Promise<number> {
    return this.boss.getQueueSize(name);
  }

  async onApplicationShutdown(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    // Graceful: running handlers finish (up to 20 s) before the pool closes.
    await this.boss.stop({ graceful: true, timeout: 20_000, wait: true, close: true });
  }
}
