import type { Queryable } from './queryable';

export const ACCOUNT_METRICS_REPOSITORY = Symbol('ACCOUNT_METRICS_REPOSITORY');

export type MetricInterval = 'day' | 'week';
export const METRIC_INTERVALS: readonly MetricInterval[] = ['day', 'week'];

export interface MetricCounts {
  followerCount: number | null;
  followingCount: number | null;
  mediaCount: number | null;
}

/** The last snapshot of one interval, at the interval's start (UTC; weeks start on Monday). */
export interface MetricPoint extends MetricCounts {
  at: Date;
}

export interface IAccountMetricsRepository {
  /** One snapshot per account: what a batch of successful syncs saw, at `capturedAt`. */
  recordAll(
    snapshots: readonly { accountId: string; counts: MetricCounts }[],
    capturedAt: Date,
    tx?: Queryable,
  ): Promise<void>;
  /**
   * Snapshots captured in [from, to), one per interval (the last one in it), oldest first.
   * Served by account_metric_snapshots_history_idx (index-only).
   */
  points(accountId: string, from: Date, to: Date, interval: MetricInterval): Promise<MetricPoint[]>;
}
