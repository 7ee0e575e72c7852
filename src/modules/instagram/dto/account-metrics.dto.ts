import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsIn, IsInt, IsOptional, IsString, Matches, Max, Min } from 'class-validator';
import {
  type MetricInterval,
  METRIC_INTERVALS,
  type MetricPoint,
} from '../../../domain/repositories/account-metrics.repository.interface';
import type { MetricHistory } from '../services/account-metrics.service';
import { DEFAULT_EXPIRING_DAYS, MAX_EXPIRING_DAYS } from '../services/expiring-accounts.service';
import { PageQueryDto } from './pagination';

// A date, or a date-time with its zone: a zoneless time would depend on the server's zone.
const ISO_BOUND = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2}))?$/;
const boundMessage = (name: string) =>
  `${name} must be an ISO date (2025-06-01) or a date-time with its zone (2025-06-01T12:00:00Z)`;
const INTERVAL_MESSAGE = 'interval must be day or week';

export class MetricsQueryDto {
  @ApiPropertyOptional({
    description:
      'Start, inclusive: a date (from its 00:00 UTC) or a date-time. Default: 29 days before the end day (30 days in all).',
    example: '2025-06-01',
  })
  @IsOptional()
  @IsString({ message: boundMessage('from') })
  @Matches(ISO_BOUND, { message: boundMessage('from') })
  from?: string;

  @ApiPropertyOptional({
    description:
      'End, inclusive: a date (to its end, UTC) or a date-time. Default: now. At most 366 days after `from`.',
    example: '2025-06-30',
  })
  @IsOptional()
  @IsString({ message: boundMessage('to') })
  @Matches(ISO_BOUND, { message: boundMessage('to') })
  to?: string;

  @ApiPropertyOptional({ enum: METRIC_INTERVALS, default: 'day' })
  @IsOptional()
  @IsIn(METRIC_INTERVALS, { message: INTERVAL_MESSAGE })
  interval?: MetricInterval;
}

export class MetricPointDto {
  @ApiProperty({
    type: String,
    format: 'date-time',
    description: "The interval's start (00:00 UTC; weeks start on Monday)",
    example: '2025-06-02T00:00:00.000Z',
  })
  at!: string;
  @ApiProperty({ type: Number, nullable: true, example: 48213 }) followerCount!: number | null;
  @ApiProperty({ type: Number, nullable: true, example: 512 }) followingCount!: number | null;
  @ApiProperty({ type: Number, nullable: true, example: 387 }) mediaCount!: number | null;
}

export class MetricChangeDto {
  @ApiProperty({ type: Number, nullable: true, example: 1250 }) followerCount!: number | null;
  @ApiProperty({ type: Number, nullable: true, example: -3 }) followingCount!: number | null;
  @ApiProperty({ type: Number, nullable: true, example: 12 }) mediaCount!: number | null;
}

export class AccountMetricsResponseDto {
  @ApiProperty({ format: 'uuid' }) accountId!: string;
  @ApiProperty({ enum: METRIC_INTERVALS }) interval!: MetricInterval;
  @ApiProperty({
    type: [MetricPointDto],
    description:
      'Oldest first; one per interval that has a snapshot (the last one in it). Every successful sync records one snapshot.',
  })
  points!: MetricPointDto[];
  @ApiProperty({
    type: MetricChangeDto,
    description: 'Last point minus first; null where a count is unknown or there is no point',
  })
  change!: MetricChangeDto;
}

function toPoint(point: MetricPoint): MetricPointDto {
  return {
    at: point.at.toISOString(),
    followerCount: point.followerCount,
    followingCount: point.followingCount,
    mediaCount: point.mediaCount,
  };
}

export function toMetricsResponse(history: MetricHistory): AccountMetricsResponseDto {
  return {
    accountId: history.accountId,
    interval: history.interval,
    points: history.points.map(toPoint),
    change: { ...history.change },
  };
}

const DAYS_MESSAGE = `days must be an integer from 1 to ${MAX_EXPIRING_DAYS}`;

export class ExpiringQueryDto extends PageQueryDto {
  @ApiPropertyOptional({
    description: 'Tokens that expire within this many days',
    minimum: 1,
    maximum: MAX_EXPIRING_DAYS,
    default: DEFAULT_EXPIRING_DAYS,
    type: Number,
  })
  @IsOptional()
  @Type(() => Number)
  @IsInt({ message: DAYS_MESSAGE })
  @Min(1, { message: DAYS_MESSAGE })
  @Max(MAX_EXPIRING_DAYS, { message: DAYS_MESSAGE })
  days?: number;
}
