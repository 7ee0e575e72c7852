import {
  Inject,
  Injectable,
  type BeforeApplicationShutdown,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import PgBoss from 'pg-boss';
import type { Logger as PinoLogger } from 'pino';
import { ROOT_LOGGER } from '../../common/logging/logging.module';
import { APP_CONFIG } from '../../config/config.module';
import type { AppConfig } from '../../config/config';
import type { Queryable } from '../database/database';
import { isDatabaseUnavailable } from '../database/database-errors';
import type { DatabaseHealth } from '../database/database-health';
import { DATABASE_HEALTH, DATABASE_URL } from '../database/database.module';
import { JOB_NAMES, PER_ACCOUNT_JOBS, type JobName, type JobPayloads } from './job-names';
import { JobLeases, type ExecuteSql } from './job-leases';
import { PreparedSqlDb, preparedStatement } from './prepared-sql';
import { QueueMonitor, type QueueHealth } from './queue-monitor';
import { withQueueSetupLock } from './queue-setup-lock';
import { type JobEnd, QueueWorker } from './queue-worker';

export type { JobEnd } from './queue-worker';
import { loggableError } from '../../common/logging/loggable-error';

export interface EnqueueOptions {
  /** Enqueue inside the caller's transaction: the job exists only if the transaction commits. */
  tx?: Queryable;
  /**
   * One queued job per key and kind (a second is refused: `enqueue` answers null), and one
   * running per key and kind (see QueueWorker). For account jobs, the account id.
   */
  singletonKey: string;
  startAfter?: Date | number;
  retryLimit?: number;
}

export interface Job<N extends JobName> {
  id: string;
  name: N;
  data: JobPayloads[N];
}

// Queued jobs of these keys that wait for a later start, started now: the job put off while its
// key was held, once the holder has let the key go (jobs a handler queued for later on purpose, a
// retry's back-off, say so by not handing over), or work an operator asked for now.
const BRING_FORWARD = `UPDATE pgboss.job SET start_after = now()
  WHERE name = $1 AND singleton_key = ANY($2::text[]) AND state < 'active'
    AND start_after > now()`;

/**
 * pg-boss fetches the next jobs `ORDER BY priority DESC, created_on, id` among the ready ones,
 * but indexes them only by `start_after`: every fetch sorted every waiting job, 6.5 ms a fetch
 * with 5,000 queued (the sweep's), which made PostgreSQL the bottleneck of a sweep. This index
 * hands the fetch its jobs in order, so it reads only the few it takes. On the partitioned job
 * table it covers every queue's partition, present and future.
 */
const FETCH_ORDER_INDEX = `CREATE INDEX IF NOT EXISTS ssell_job_fetch_order
  ON pgboss.job (name, priority DESC, created_on, id) WHERE state < 'active'`;

/** Jobs started less than this long ago are never taken for a dead process's. */
export const REAP_GRACE_SECONDS = 5;
/** How often each worker process looks for jobs that dead processes left active. */
export const REAP_INTERVAL_MS = 5_000;
/** Shutdown waits this long for running jobs, then gives the rest back to the queue. */
export const SHUTDOWN_GRACE_MS = 20_000;
const ENQUEUE_CHUNK = 1000;
/** A chunk this large changes a queue table enough for the planner to need new statistics. */
const ANALYZE_AFTER_INSERTING = 500;
/** Retries of a failing job: 5, from 30 s, exponential with jitter (pg-boss's backoff). */
const RETRY = { retryLimit: 5, retryDelay: 30, retryBackoff: true } as const;

/**
 * How long a job may run before the queue takes it back (pg-boss's `expire_in`). Account jobs
 * make one Instagram call, which ends at the client's deadline; the rest is a few statements.
 * A dead process's jobs come back much sooner, through their leases (JobLeases).
 */
export function leaseSeconds(name: JobName, config: AppConfig): number {
  if (!PER_ACCOUNT_JOBS.has(name)) return 300;
  return Math.max(60, Math.ceil(config.instagram.deadlineMs / 1000) + 30);
}

/**
 * The durable job queue: pg-boss on the service's own PostgreSQL. Every process can enqueue and
 * watches the queue for stalls; only processes with jobs enabled (the default, or
 * `--role worker`) run handlers and schedules, and put back the jobs of dead workers.
 *
 * Queue policy `short` (one queued job per key) rather than `stately`: pg-boss enforces
 * `stately`'s one-active-per-key with a unique index that its fetch runs into when the next job
 * in line belongs to a key that is running; the fetch fails, pg-boss swallows the error, and the
 * whole queue waits behind that one account. One running job per key is kept here instead, by
 * the job's lease, without ever blocking the fetch.
 */
@Injectable()
export class JobQueue implements OnModuleInit, BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly logger: PinoLogger;
  private readonly boss: PgBoss;
  private readonly db: PreparedSqlDb;
  private readonly leases: JobLeases;
  private readonly monitor: QueueMonitor;
  private readonly workers: QueueWorker<object>[] = [];
  private reaper: NodeJS.Timeout | undefined;
  private started = false;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(DATABASE_URL) private readonly databaseUrl: string,
    @Inject(ROOT_LOGGER) rootLogger: PinoLogger,
    @Inject(DATABASE_HEALTH) health: DatabaseHealth,
  ) {
    this.logger = rootLogger.child({ component: 'jobs' });
    this.db = new PreparedSqlDb({
      connectionString: databaseUrl,
      application_name: 'ssell-jobs',
      max: 4,
    });
    this.boss = new PgBoss({
      db: this.db,
      schema: 'pgboss',
      supervise: config.jobsEnabled,
      schedule: config.jobsEnabled,
      ...RETRY,
      expireInMinutes: 15,
    });
    const onError = (error: Error) => {
      // The database going away is one outage, logged once by the pool's health, not a stack
      // per pg-boss connection.
      if (isDatabaseUnavailable(error)) health.failed(error);
      else this.logger.error({ err: loggableError(error, { stack: true }) }, 'job queue error');
    };
    this.boss.on('error', onError);
    // pg-boss hears its own pool's errors only; this pool is ours.
    this.db.on('error', onError);
    const execute: ExecuteSql = (text, values = []) => this.db.executeSql(text, values);
    this.leases = new JobLeases(databaseUrl, execute, this.logger);
    this.monitor = new QueueMonitor(execute, JOB_NAMES, config.jobs.stallSeconds, this.logger);
  }

  get workersEnabled(): boolean {
    return this.config.jobsEnabled;
  }

  async onModuleInit(): Promise<void> {
    // Processes booting together on a new database take turns (see withQueueSetupLock).
    await withQueueSetupLock(this.databaseUrl, async () => {
      await this.boss.start();
      this.started = true;
      for (const name of JOB_NAMES) {
        const options: PgBoss.Queue = {
          name,
          policy: 'short',
          ...RETRY,
          expireInSeconds: leaseSeconds(name, this.config),
        };
        await this.boss.createQueue(name, options);
        // createQueue keeps an existing queue as it was: bring it (and jobs already queued under an
        // older policy, which each carry their own) to the current settings.
        await this.boss.updateQueue(name, options);
      }
      await this.db.executeSql(FETCH_ORDER_INDEX, []);
      await this.db.executeSql(
        `UPDATE pgboss.job SET policy = 'short'
           WHERE name = ANY($1::text[]) AND state < 'completed' AND policy IS DISTINCT FROM 'short'`,
        [JOB_NAMES],
      );
    });
    await this.monitor.start();
    if (this.config.jobsEnabled) {
      // At start first: the jobs of a worker that died are queued again before this one works.
      await this.reapDead();
      this.reaper = setInterval(() => void this.reapDead(), REAP_INTERVAL_MS);
      this.reaper.unref();
    }
  }

  async enqueue<N extends JobName>(
    name: N,
    data: JobPayloads[N],
    options: EnqueueOptions,
  ): Promise<string | null> {
    const { tx, ...rest } = options;
    const sendOptions: PgBoss.SendOptions = { ...rest };
    if (tx) {
      sendOptions.db = {
        executeSql: async (text: string, values: unknown[]) => {
          const result = await tx.result(preparedStatement(text, values));
          return { rows: result.rows };
        },
      };
    }
    return this.boss.send(name, data, sendOptions);
  }

  /**
   * Many jobs of one kind in one statement per thousand (a sweep's worth in milliseconds, where
   * one `enqueue` each costs a round trip). Keys that already have a queued job are skipped, as
   * with `enqueue`; the answer is how many were queued.
   */
  async enqueueMany<N extends JobName>(
    name: N,
    jobs: readonly { data: JobPayloads[N]; singletonKey: string; startAfter?: Date }[],
  ): Promise<number> {
    let queued = 0;
    let analyzed = false;
    for (let i = 0; i < jobs.length; i += ENQUEUE_CHUNK) {
      const chunk = jobs.slice(i, i + ENQUEUE_CHUNK).map((job) => ({ name, ...job }));
      // pg-boss's insert answers nothing; the statement's row count is what ON CONFLICT kept.
      let inserted = 0;
      await this.boss.insert(chunk, {
        db: {
          executeSql: async (text: string, values: unknown[]) => {
            const result = await this.db.executeSql(text, values);
            inserted = (result as { rowCount?: number | null }).rowCount ?? 0;
            return result;
          },
        },
      });
      queued += inserted;
      // Once, after the first large chunk: from then on the planner knows the table is busy.
      if (!analyzed && inserted >= ANALYZE_AFTER_INSERTING) {
        analyzed = true;
        await this.analyzeQueue(name);
      }
    }
    return queued;
  }

  /**
   * Fresh planner statistics for a queue's table after a burst of inserts. Until autovacuum gets
   * to it (a minute or more), PostgreSQL plans the fetch for the table it last saw (empty): a
   * bitmap scan and a sort of every waiting job on each fetch (6 ms with 5,000 waiting) instead
   * of reading the next few from FETCH_ORDER_INDEX (0.05 ms).
   */
  private async analyzeQueue(name: JobName): Promise<void> {
    try {
      const { rows } = await this.db.executeSql(
        'SELECT partition_name FROM pgboss.queue WHERE name = $1',
        [name],
      );
      const table = (rows[0] as { partition_name?: string } | undefined)?.partition_name;
      // pg-boss names queue tables 'j' + a sha224 in hex: nothing to quote, but checked anyway.
      if (!table || !/^j[0-9a-f]{56}$/.test(table)) return;
      await this.db.executeSql(`ANALYZE pgboss.${table}`, []);
    } catch (error) {
      // Only a planning aid: the jobs are queued either way, and the enqueue must not fail.
      this.logger.warn({ err: loggableError(error), queue: name }, 'could not analyze a job queue');
    }
  }

  /**
   * Runs `handler` for jobs of `name`, up to `concurrency` at once in this process (default
   * JOBS_CONCURRENCY); a no-op in processes that do not run workers.
   */
  async work<N extends JobName>(
    name: N,
    handler: (job: Job<N>) => Promise<void | JobEnd>,
    options: { concurrency?: number } = {},
  ): Promise<void> {
    if (!this.config.jobsEnabled) return;
    const worker = new QueueWorker<JobPayloads[N]>(
      this.boss,
      this.leases,
      name,
      (job) => handler({ id: job.id, name, data: job.data }),
      {
        concurrency: Math.max(1, options.concurrency ?? this.config.jobs.concurrency),
        pollIntervalMs: this.config.jobs.pollIntervalMs,
        leaseSeconds: leaseSeconds(name, this.config),
        handOver: (key) => this.bringForward(name, [key]),
      },
      this.logger,
    );
    this.workers.push(worker as unknown as QueueWorker<object>);
    worker.start();
  }

  /**
   * The queued jobs of `name` with these keys that wait for a later start (a retry's delay, a
   * deferral) start now instead; a key with no such job is left alone.
   */
  async bringForward(name: JobName, singletonKeys: readonly string[]): Promise<void> {
    if (singletonKeys.length === 0) return;
    await this.db.executeSql(BRING_FORWARD, [name, singletonKeys]);
  }

  async schedule<N extends JobName>(name: N, cron: string, data: JobPayloads[N]): Promise<void> {
    if (!this.config.jobsEnabled) return;
    await this.boss.schedule(name, cron, data, { singletonKey: name });
  }

  /** For tests and the admin CLI: how many jobs of a kind wait or run. */
  async pending(name: JobName): Promise<number> {
    return this.boss.getQueueSize(name);
  }

  /** The queue as readiness reports it: stalled queues, if any (never a database call). */
  health(): QueueHealth {
    return this.monitor.health();
  }

  /**
   * Before any module shuts down (the pool, the Instagram client): running handlers need both.
   * They get SHUTDOWN_GRACE_MS to finish; what still runs then goes back to the queue at once
   * rather than waiting for its lease to run out.
   */
  async beforeApplicationShutdown(): Promise<void> {
    if (!this.started) return;
    this.monitor.stop();
    clearInterval(this.reaper);
    const leftovers = (
      await Promise.all(this.workers.map((w) => w.stop(SHUTDOWN_GRACE_MS)))
    ).flat();
    if (leftovers.length > 0) {
      await this.leases
        .giveBack(JOB_NAMES, leftovers)
        .then((jobs) =>
          this.logger.warn(
            { jobs: jobs.map((j) => `${j.name}/${j.id}`) },
            'shutting down with jobs still running: queued again',
          ),
        )
        .catch((error: unknown) =>
          this.logger.error({ err: loggableError(error) }, 'could not give running jobs back'),
        );
    }
    await this.leases.close();
  }

  async onApplicationShutdown(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    await this.boss.stop({ graceful: true, timeout: 5_000, wait: true, close: true });
    // pg-boss closes only a pool it opened.
    await this.db.close();
  }

  private async reapDead(): Promise<void> {
    try {
      const jobs = await this.leases.reapDead(JOB_NAMES, REAP_GRACE_SECONDS);
      for (const job of jobs) {
        this.logger.warn(
          { job: job.name, jobId: job.id, accountId: job.accountId, state: job.state },
          job.state === 'retry'
            ? 'job left running by a stopped process: queued again'
            : 'job left running by a stopped process too often: failed',
        );
      }
    } catch (error) {
      this.logger.warn({ err: loggableError(error) }, 'could not look for abandoned jobs');
    }
  }
}
