import type PgBoss from 'pg-boss';
import type { Logger } from 'pino';
import { loggableError } from '../../common/logging/loggable-error';
import type { JobLeases } from './job-leases';

export interface QueueWorkerOptions {
  /** Jobs of this queue running at once in this process. */
  concurrency: number;
  /** How long to wait before asking again when the queue had nothing (more) to give. */
  pollIntervalMs: number;
  /** A run longer than this is failed (and so retried): the job's `expire_in`, in seconds. */
  leaseSeconds: number;
  /** After a handler that hands over has let its key go: start the key's put-off job now. */
  handOver?: (key: string) => Promise<void>;
}

/** What a handler may say as it ends, besides succeeding. */
export interface JobEnd {
  /**
   * Nothing of this run is left to wait for (it queued no successor of its own for later): a job
   * with its key that was fetched while it ran, and so put off for a few seconds (DEFER_MS),
   * starts as soon as the key is free instead.
   */
  handOver?: boolean;
}

/** Another job with the same key runs (here or elsewhere): try this one again this much later. */
export const DEFER_MS = 5_000;
const DEFER_JITTER_MS = 2_000;
/**
 * A busy worker's statements per job, shared: completions wait this long to go in one statement
 * with others, and a fetch for fewer than half the slots waits this long for more to free. Each
 * statement costs PostgreSQL about as much as the sync's own writes do; a few milliseconds
 * against a job's tens of them cost nothing.
 */
export const BATCH_WAIT_MS = 10;

type FetchedJob<T> = PgBoss.JobWithMetadata<T>;

/** What a failed job keeps in pg-boss's `output`: the error's name and message, no values. */
function failureOutput(error: unknown): object {
  if (error instanceof Error) {
    return { name: error.name, message: error.message, stack: error.stack ?? '' };
  }
  return { name: 'Error', message: String(error), stack: '' };
}

export class JobRunTimeoutError extends Error {
  constructor(queue: string, seconds: number) {
    super(`${queue} ran longer than its ${seconds} s lease`);
    this.name = 'JobRunTimeoutError';
  }
}

/**
 * One queue's worker loop in one process, on pg-boss's fetch/complete/fail.
 *
 * Instead of pg-boss's `work()`, which waits a full polling interval after every batch however
 * short and holds a whole batch until its slowest job ends, this keeps up to `concurrency` jobs in
 * flight and fetches as soon as a slot frees: throughput is bounded by the handlers, not by the
 * polling interval, and one hung job holds one slot, not a batch.
 *
 * Each job runs under its lease (JobLeases): when another job with the same key (the same
 * account) is running anywhere, this one is not run and not failed, but queued again a few seconds
 * later, and the worker moves on. A conflict for one account therefore never holds up another.
 */
export class QueueWorker<T extends object> {
  private readonly running = new Map<string, Promise<void>>();
  private stopping = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private waitingForSlot = false;
  /** The last fetch filled every slot it asked for: more jobs are likely waiting. */
  private busy = false;
  private readonly completions: { id: string; settle: (error: Error | undefined) => void }[] = [];
  private completionTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly boss: PgBoss,
    private readonly leases: JobLeases,
    readonly name: string,
    private readonly handler: (job: FetchedJob<T>) => Promise<void | JobEnd>,
    private readonly options: QueueWorkerOptions,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.loop ??= this.run();
  }

  /**
   * Stops fetching and waits up to `graceMs` for running jobs; the ids of those still running
   * (their handlers go on until the process exits; the caller gives their jobs back).
   */
  async stop(graceMs: number): Promise<string[]> {
    this.stopping = true;
    this.wake?.();
    await this.loop;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.running.values()]),
      new Promise((resolve) => (timer = setTimeout(resolve, graceMs))),
    ]);
    clearTimeout(timer);
    return [...this.running.keys()];
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      const free = this.options.concurrency - this.running.size;
      if (free <= 0) {
        this.waitingForSlot = true;
        await this.pause();
        this.waitingForSlot = false;
        continue;
      }
      if (this.busy && free * 2 < this.options.concurrency) {
        // Briefly, so that slow jobs holding the other slots never hold up the free ones.
        this.busy = false;
        this.waitingForSlot = true;
        await this.pause(BATCH_WAIT_MS);
        this.waitingForSlot = false;
        continue;
      }
      // pg-boss's fetch answers [] on a database error (it swallows it): then this waits a
      // polling interval like an empty queue, and tries again.
      const jobs = await this.boss
        .fetch<T>(this.name, { batchSize: free, includeMetadata: true })
        .catch(() => [] as FetchedJob<T>[]);
      for (const job of jobs) this.dispatch(job);
      this.busy = jobs.length === free;
      // Fewer than asked for is no sign of an empty queue (another worker took the rest with
      // SKIP LOCKED): only nothing at all means waiting a polling interval.
      if (jobs.length === 0 && !this.stopping) await this.pause(this.options.pollIntervalMs);
    }
  }

  private pause(ms?: number): Promise<void> {
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
      if (ms !== undefined) timer = setTimeout(done, ms);
      this.wake = done;
    });
  }

  private dispatch(job: FetchedJob<T>): void {
    const settled = this.execute(job)
      .catch((error: unknown) =>
        this.logger.error(
          { job: this.name, jobId: job.id, err: loggableError(error) },
          'job bookkeeping failed; the job will be queued again',
        ),
      )
      .finally(() => {
        this.running.delete(job.id);
        if (this.waitingForSlot) this.wake?.();
      });
    this.running.set(job.id, settled);
  }

  private async execute(job: FetchedJob<T>): Promise<void> {
    let lease;
    try {
      lease = await this.leases.take(this.name, job.singletonKey ?? job.id);
    } catch (error) {
      // Without a lease the job must not run: left active and unleased, a worker's reaper
      // queues it again within seconds.
      this.logger.error(
        { job: this.name, jobId: job.id, err: loggableError(error) },
        'could not take a job lease; the job will be queued again',
      );
      return;
    }
    if (!lease) {
      await this.defer(job);
      return;
    }
    let end: JobEnd | undefined;
    try {
      end = await this.runHandler(job);
    } finally {
      await lease.release().catch(() => undefined);
    }
    // Only once the key is free: a job brought forward earlier would be fetched, find the key
    // held, and be put off again.
    if (end?.handOver && job.singletonKey !== null && this.options.handOver) {
      await this.options
        .handOver(job.singletonKey)
        .catch((error: unknown) =>
          this.logger.warn(
            { job: this.name, jobId: job.id, err: loggableError(error) },
            'could not bring forward the next job for this key; it starts after its delay',
          ),
        );
    }
  }

  /** How the handler ended, when it ended in time and without an error. */
  private async runHandler(job: FetchedJob<T>): Promise<JobEnd | undefined> {
    const work = Promise.resolve().then(() => this.handler(job));
    let timer: NodeJS.Timeout | undefined;
    const overrun = new Promise<'overrun'>((resolve) => {
      timer = setTimeout(() => resolve('overrun'), this.options.leaseSeconds * 1000);
    });
    try {
      const outcome = await Promise.race([
        work.then((end) => ({ end: end ?? undefined })),
        overrun,
      ]);
      if (outcome !== 'overrun') {
        await this.complete(job.id);
        return outcome.end;
      }
      const error = new JobRunTimeoutError(this.name, this.options.leaseSeconds);
      await this.boss.fail(this.name, job.id, failureOutput(error));
      this.logger.error(
        { job: this.name, jobId: job.id, leaseSeconds: this.options.leaseSeconds },
        'job ran past its lease: failed, to be retried; its key stays locked until it ends',
      );
      // The lease (and so the account) stays held until the handler really ends.
      await work.catch(() => undefined);
    } catch (error) {
      await this.boss.fail(this.name, job.id, failureOutput(error));
      this.logger.warn(
        {
          job: this.name,
          jobId: job.id,
          retryCount: job.retryCount,
          retryLimit: job.retryLimit,
          err: loggableError(error),
        },
        job.retryCount < job.retryLimit ? 'job failed; it will be retried' : 'job failed for good',
      );
    } finally {
      clearTimeout(timer);
    }
  }

  /** Marks the job completed, in one statement with the others completing about now. */
  private complete(id: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.completions.push({ id, settle: (error) => (error ? reject(error) : resolve()) });
      if (this.completions.length >= this.options.concurrency) this.flushCompletions();
      else this.completionTimer ??= setTimeout(() => this.flushCompletions(), BATCH_WAIT_MS);
    });
  }

  private flushCompletions(): void {
    clearTimeout(this.completionTimer);
    this.completionTimer = undefined;
    const batch = this.completions.splice(0);
    if (batch.length === 0) return;
    this.boss
      .complete(
        this.name,
        batch.map((c) => c.id),
      )
      .then(
        () => batch.forEach((c) => c.settle(undefined)),
        (error: unknown) => {
          const failure = error instanceof Error ? error : new Error('completing jobs failed');
          batch.forEach((c) => c.settle(failure));
        },
      );
  }

  /** Queues the job again a little later (unless one is already queued for its key), then ends it. */
  private async defer(job: FetchedJob<T>): Promise<void> {
    const startAfter = new Date(
      Date.now() + DEFER_MS + Math.floor(Math.random() * DEFER_JITTER_MS),
    );
    const again = await this.boss.send(this.name, job.data, {
      ...(job.singletonKey !== null ? { singletonKey: job.singletonKey } : {}),
      startAfter,
    });
    await this.boss.complete(this.name, job.id, {
      deferred: 'another job with the same key was running',
      requeuedAs: again,
    });
    this.logger.debug(
      { job: this.name, jobId: job.id, key: job.singletonKey, requeuedAs: again },
      'job deferred: another job for the same key is running',
    );
  }
}
