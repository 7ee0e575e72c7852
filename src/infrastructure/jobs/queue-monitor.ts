import type { Logger } from 'pino';
import { loggableError } from '../../common/logging/loggable-error';
import type { ExecuteSql } from './job-leases';

export interface StalledQueue {
  queue: string;
  /** Jobs whose time has come and that nobody started. */
  ready: number;
  /** How long the oldest of them has been ready. */
  waitingSeconds: number;
}

export interface QueueHealth {
  /** `unknown`: the queue could not be read lately (the database, most likely). */
  status: 'ok' | 'stalled' | 'unknown';
  /** When the queue was last read (every few seconds, by every process). */
  checkedAt: string | null;
  stalled: StalledQueue[];
}

// Ready jobs come from pg-boss's fetch index (name, start_after WHERE state < 'active'); the
// look for a recent start, which reads the queue's rows, runs only for a queue whose oldest
// ready job has waited longer than the threshold, so a healthy queue costs one index scan.
const stalledSql = `
  WITH ready AS (
    SELECT name, count(*)::int AS ready,
      EXTRACT(epoch FROM now() - min(GREATEST(start_after, created_on)))::float8 AS waiting
    FROM pgboss.job
    WHERE name = ANY($1::text[]) AND state < 'active' AND start_after < now()
    GROUP BY name
  )
  SELECT r.name AS queue, r.ready, r.waiting AS "waitingSeconds"
  FROM ready r
  WHERE r.waiting > $2
    AND NOT EXISTS (
      SELECT 1 FROM pgboss.job j
      WHERE j.name = r.name AND j.started_on > now() - make_interval(secs => $2::float8)
    )
  ORDER BY r.name`;

/**
 * Watches for a stalled queue: jobs ready for more than `stallSeconds` and none started in that
 * time, which means no worker is taking them (none running, all stuck, or a queue bug). Logged as
 * an error when it starts and once when it ends, per queue; `health()` serves /health/ready.
 */
export class QueueMonitor {
  private timer: NodeJS.Timeout | undefined;
  private checking = false;
  private lastCheck: { at: number; stalled: StalledQueue[] } | undefined;
  private readonly stalledNow = new Set<string>();
  private readonly intervalMs: number;

  constructor(
    private readonly execute: ExecuteSql,
    private readonly queues: readonly string[],
    private readonly stallSeconds: number,
    private readonly logger: Logger,
  ) {
    // A few looks per threshold, but not more than one a second nor less than one every 10 s.
    this.intervalMs = Math.min(10_000, Math.max(1_000, stallSeconds * 250));
  }

  /** Looks once (so readiness has an answer from the start), then every few seconds. */
  async start(): Promise<void> {
    if (this.timer) return;
    this.timer = setInterval(() => void this.check(), this.intervalMs);
    this.timer.unref();
    await this.check();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  health(now: number = Date.now()): QueueHealth {
    const last = this.lastCheck;
    // Three missed looks: whatever it last saw is no longer news.
    if (!last || now - last.at > this.intervalMs * 3 + 1000) {
      return {
        status: 'unknown',
        checkedAt: last ? new Date(last.at).toISOString() : null,
        stalled: [],
      };
    }
    return {
      status: last.stalled.length > 0 ? 'stalled' : 'ok',
      checkedAt: new Date(last.at).toISOString(),
      stalled: last.stalled,
    };
  }

  /** One look; public for tests. */
  async check(): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    try {
      const { rows } = await this.execute(stalledSql, [this.queues, this.stallSeconds]);
      const stalled = (rows as StalledQueue[]).map((r) => ({
        queue: r.queue,
        ready: r.ready,
        waitingSeconds: Math.round(r.waitingSeconds),
      }));
      this.lastCheck = { at: Date.now(), stalled };
      this.report(stalled);
    } catch (error) {
      // The database's own outage is reported where it is felt (readiness, requests).
      this.logger.debug({ err: loggableError(error) }, 'job queue check failed');
    } finally {
      this.checking = false;
    }
  }

  private report(stalled: StalledQueue[]): void {
    const names = new Set(stalled.map((s) => s.queue));
    for (const s of stalled) {
      if (this.stalledNow.has(s.queue)) continue;
      this.stalledNow.add(s.queue);
      this.logger.error({ ...s, stallSeconds: this.stallSeconds }, 'job queue stalled');
    }
    for (const queue of [...this.stalledNow]) {
      if (names.has(queue)) continue;
      this.stalledNow.delete(queue);
      this.logger.warn({ queue }, 'job queue moving again');
    }
  }
}
