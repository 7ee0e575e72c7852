import { Inject, Injectable } from '@nestjs/common';
import { PreparedStatement } from 'pg-promise';
import type {
  IAccountMetricsRepository,
  MetricCounts,
  MetricInterval,
  MetricPoint,
} from '../../../domain/repositories/account-metrics.repository.interface';
import type { Db, Queryable } from '../database';
import { PG } from '../database.module';

interface PointRow {
  at: Date;
  follower_count: number | null;
  following_count: number | null;
  media_count: number | null;
}

const recordSnapshots = new PreparedStatement({
  name: 'metric-snapshots-record',
  text: `INSERT INTO account_metric_snapshots
           (account_id, follower_count, following_count, media_count, captured_at)
         SELECT s.account_id, s.follower_count, s.following_count, s.media_count, $5
         FROM unnest($1::uuid[], $2::int[], $3::int[], $4::int[])
           AS s(account_id, follower_count, following_count, media_count)`,
});

// An index-only range scan of account_metric_snapshots_history_idx (account_id, captured_at DESC,
// with the counts included), then the last snapshot of each UTC day or ISO week (date_trunc's
// weeks start on Monday).
export const METRIC_POINTS_SQL = `SELECT DISTINCT ON (1) date_trunc($4, captured_at, 'UTC') AS at,
           follower_count, following_count, media_count
         FROM account_metric_snapshots
         WHERE account_id = $1 AND captured_at >= $2 AND captured_at < $3
         ORDER BY 1, captured_at DESC, id DESC`;
const metricPoints = new PreparedStatement({ name: 'metric-points', text: METRIC_POINTS_SQL });

@Injectable()
export class PostgresAccountMetricsRepository implements IAccountMetricsRepository {
  constructor(@Inject(PG) private readonly db: Db) {}

  async recordAll(
    snapshots: readonly { accountId: string; counts: MetricCounts }[],
    capturedAt: Date,
    tx: Queryable = this.db,
  ): Promise<void> {
    if (snapshots.length === 0) return;
    await tx.none(recordSnapshots, [
      snapshots.map((s) => s.accountId),
      snapshots.map((s) => s.counts.followerCount),
      snapshots.map((s) => s.counts.followingCount),
      snapshots.map((s) => s.counts.mediaCount),
      capturedAt,
    ]);
  }

  async points(
    accountId: string,
    from: Date,
    to: Date,
    interval: MetricInterval,
  ): Promise<MetricPoint[]> {
    if (interval !== 'day' && interval !== 'week') throw new RangeError('interval: day or week');
    const rows = await this.db.manyOrNone<PointRow>(metricPoints, [accountId, from, to, interval]);
    return rows.map((row) => ({
      at: row.at,
      followerCount: row.follower_count,
      followingCount: row.following_count,
      mediaCount: row.media_count,
    }));
  }
}
