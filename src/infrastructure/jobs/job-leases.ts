import pg from 'pg';
import type { Logger } from 'pino';
import { loggableError } from '../../common/logging/loggable-error';

/** Runs one statement; the job queue's pool (PreparedSqlDb) fits. */
export type ExecuteSql = (text: string, values?: unknown[]) => Promise<{ rows: unknown[] }>;

/** A held lease: the job's key is locked by this process until `release`. */
export interface Lease {
  release(): Promise<void>;
}

export interface ReapedJob {
  id: string;
  name: string;
  state: 'retry' | 'failed';
  accountId: string | null;
}

/**
 * The advisory-lock key of a job's lease: one per queue and singleton key (the account, for
 * account jobs), so it is also what keeps two jobs of one account and kind from running at once.
 * `hashtextextended` is stable across PostgreSQL versions (hash partitioning relies on it).
 */
const leaseKey = (queue: string, key: string) =>
  `hashtextextended('ssell.job:' || ${queue} || ':' || ${key}, 0)`;

// Every take and release waiting while the previous statement ran goes in one statement: a
// busy worker starts and finishes many jobs at once, and a round trip each was most of the
// leases' cost. A function scan yields its rows in the arrays' order, so a release and a take of
// one key in one batch run in the order they were asked for.
const batchSql = `
  SELECT t.n::int AS n,
    CASE t.kind WHEN 'take' THEN pg_try_advisory_lock(${leaseKey('t.queue', 't.key')})
      ELSE pg_advisory_unlock(${leaseKey('t.queue', 't.key')}) END AS ok
  FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS t(kind, queue, key, n)`;

interface LeaseOp {
  kind: 'take' | 'release';
  queue: string;
  key: string;
  /** A release: the session its lease was taken on. */
  session?: pg.Client;
  resolve(result: { ok: boolean; session: pg.Client }): void;
  reject(error: unknown): void;
}

// A session-level advisory lock on a 64-bit key shows in pg_locks as classid (high half), objid
// (low half) and objsubid 1. Reading pg_locks sees every session's locks on this database.
const heldLeases = `
  SELECT (l.classid::int8 << 32) | l.objid::int8 AS key
  FROM pg_locks l
  WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
    AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`;

// Back to the queue at once, as a retry (pg-boss counts it when the job is next fetched): the
// failure was the process's, not the job's. After retry_limit such returns the job fails, so a
// job that kills its worker every time cannot loop forever. Written against pg-boss 10.4.2's
// job table (the version package.json pins): it changes no column pg-boss does not already set
// the same way when it fails a job.
const requeue = (where: string) => `
  UPDATE pgboss.job j SET
    state = CASE WHEN j.retry_count < j.retry_limit THEN 'retry' ELSE 'failed' END::pgboss.job_state,
    completed_on = CASE WHEN j.retry_count < j.retry_limit THEN NULL ELSE now() END,
    start_after = now(),
    output = jsonb_build_object('message', $3::text)
  WHERE j.name = ANY($1::text[]) AND j.state = 'active' AND ${where}
  RETURNING j.id, j.name, j.state::text AS state, j.data->>'accountId' AS "accountId"`;

const reapSql = requeue(`j.started_on < now() - make_interval(secs => $2::int)
    AND ${leaseKey('j.name', 'COALESCE(j.singleton_key, j.id::text)')} NOT IN (${heldLeases})`);

const giveBackSql = requeue(`j.id = ANY($2::uuid[])`);

/**
 * Job leases that end when the process holding them dies.
 *
 * pg-boss marks a fetched job `active` and only takes it back when its `expire_in` runs out,
 * which it checks every couple of minutes: a `kill -9` leaves work stranded for that long. Here a
 * worker process holds, for every job it runs, a session advisory lock on one connection of its
 * own. PostgreSQL drops a session's locks the moment the session ends (a killed process's socket
 * is closed by its kernel; a vanished host is noticed by the TCP keepalives set below), so "active
 * with nobody holding its lease" means exactly "left behind by a dead process", and any live
 * worker can put it back on the queue within seconds.
 */
export class JobLeases {
  private client: pg.Client | undefined;
  private connecting: Promise<pg.Client> | undefined;
  /** Keys this process holds: a session's advisory locks are re-entrant, this guard is not. */
  private readonly held = new Set<string>();
  private pending: LeaseOp[] = [];
  private flushing = false;

  constructor(
    private readonly databaseUrl: string,
    private readonly execute: ExecuteSql,
    private readonly logger: Logger,
  ) {}

  /** The lease of `queue`/`key`, or null while another job with that key runs (anywhere). */
  async take(queue: string, key: string): Promise<Lease | null> {
    const local = `${queue}\u0000${key}`;
    if (this.held.has(local)) return null;
    this.held.add(local);
    try {
      const { ok, session } = await this.submit({ kind: 'take', queue, key });
      if (!ok) {
        this.held.delete(local);
        return null;
      }
      return {
        release: async () => {
          this.held.delete(local);
          await this.submit({ kind: 'release', queue, key, session });
        },
      };
    } catch (error) {
      this.held.delete(local);
      throw error;
    }
  }

  /**
   * Puts back on the queue every active job of `queues` whose lease nobody holds, started more
   * than `graceSeconds` ago (a live worker takes its lease a moment after fetching the job).
   */
  async reapDead(queues: readonly string[], graceSeconds: number): Promise<ReapedJob[]> {
    const { rows } = await this.execute(reapSql, [
      queues,
      graceSeconds,
      'the process running this job stopped (its database session ended); queued again',
    ]);
    return rows as ReapedJob[];
  }

  /** Shutdown: jobs still running when the grace period ends go back to the queue at once. */
  async giveBack(queues: readonly string[], jobIds: string[]): Promise<ReapedJob[]> {
    if (jobIds.length === 0) return [];
    const { rows } = await this.execute(giveBackSql, [
      queues,
      jobIds,
      'the worker shut down while this job ran; queued again',
    ]);
    return rows as ReapedJob[];
  }

  /** Ends the session: every lease this process still holds ends with it. */
  async close(): Promise<void> {
    const client = this.client ?? (await this.connecting?.catch(() => undefined));
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  private submit(
    op: Omit<LeaseOp, 'resolve' | 'reject'>,
  ): Promise<{ ok: boolean; session: pg.Client }> {
    return new Promise((resolve, reject) => {
      this.pending.push({ ...op, resolve, reject });
      if (!this.flushing) void this.flush();
    });
  }

  /** One statement at a time on the session; what arrives meanwhile goes in the next one. */
  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      while (this.pending.length > 0) {
        const batch = this.pending;
        this.pending = [];
        let session: pg.Client;
        try {
          session = await this.connection();
        } catch (error) {
          for (const op of batch) op.reject(error);
          continue;
        }
        // After a reconnect a lease went with the old session: nothing to unlock.
        const sent = batch.filter((op) => {
          if (op.kind === 'take' || op.session === session) return true;
          op.resolve({ ok: true, session });
          return false;
        });
        if (sent.length === 0) continue;
        try {
          const { rows } = await session.query<{ n: number; ok: boolean }>(batchSql, [
            sent.map((op) => op.kind),
            sent.map((op) => op.queue),
            sent.map((op) => op.key),
          ]);
          const ok = new Map(rows.map((row) => [row.n, row.ok]));
          sent.forEach((op, i) => op.resolve({ ok: ok.get(i + 1) === true, session }));
        } catch (error) {
          for (const op of sent) op.reject(error);
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  private async connection(): Promise<pg.Client> {
    if (this.client) return this.client;
    this.connecting ??= this.connect().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async connect(): Promise<pg.Client> {
    const client = new pg.Client({
      connectionString: this.databaseUrl,
      application_name: 'ssell-job-leases',
      keepAlive: true,
    });
    client.on('error', (error) => {
      if (this.client !== client) return;
      this.client = undefined;
      // Its locks are gone with it: other workers will queue this process's running jobs
      // again (they run twice, which idempotent handlers allow). New jobs wait for a new session.
      this.logger.error(
        { err: loggableError(error) },
        'job lease connection lost: jobs running here may be retried by other workers',
      );
    });
    await client.connect();
    // The server's side of a dead worker's host (no FIN, no RST) is found in about 25 s
    // instead of the kernel's default two hours.
    await client.query(
      'SET tcp_keepalives_idle = 10; SET tcp_keepalives_interval = 5; SET tcp_keepalives_count = 3',
    );
    this.client = client;
    return client;
  }
}
