import { Inject, Injectable } from '@nestjs/common';
import { PreparedStatement } from 'pg-promise';
import type {
  WebhookDelivery,
  WebhookDeliveryStatus,
  WebhookEventType,
} from '../../../domain/entities/webhook.entity';
import type {
  ClaimResult,
  DeliveryCursor,
  DeliveryStream,
  IWebhookDeliveryRepository,
  NewWebhookDelivery,
} from '../../../domain/repositories/webhook-delivery.repository.interface';
import { pgp, type Db, type Queryable } from '../database';
import { PG } from '../database.module';

/** The `stream` of an endpoint's pings (they have no account): the nil UUID, as migration 010. */
export const PING_STREAM = '00000000-0000-0000-0000-000000000000';

interface DeliveryRow {
  id: string;
  endpoint_id: string;
  event_id: string;
  account_id: string | null;
  event_type: string;
  status: string;
  attempts: number;
  last_status_code: number | null;
  last_error: string | null;
  next_attempt_at: Date;
  created_at: Date;
  delivered_at: Date | null;
  cursor_created_at: string;
}

interface ClaimRow {
  id: string | null;
  event_id: string | null;
  event_type: string | null;
  payload: string | null;
  attempts: number | null;
  first_attempt_at: Date | null;
  waiting_until: Date | null;
}

const SELECT = `SELECT id, endpoint_id, event_id, account_id, event_type, status, attempts,
  last_status_code, last_error, next_attempt_at, created_at, delivered_at,
  to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS cursor_created_at
  FROM webhook_deliveries`;

const insertColumns = new pgp.helpers.ColumnSet(
  ['endpoint_id', 'event_id', 'account_event_id', 'account_id', 'event_type', 'payload'],
  { table: 'webhook_deliveries' },
);

/** The claim's statement; `done` (optional) marks the delivery just made in the same round trip. */
function claimSql(done: string): string {
  // The delivered row is excluded by id: within one statement its update is not yet visible.
  // The head is taken by its primary key (`= (SELECT …)`): as a join, the planner, sure from
  // stale statistics that few deliveries were due, walked every due delivery of every pair to
  // find it (1 ms and 300 to 1,000 pages a claim with a sweep's backlog).
  return `WITH ${done} head AS (
           SELECT id, next_attempt_at, lease_until FROM webhook_deliveries
           WHERE endpoint_id = $1 AND stream = $2 AND status = 'pending' ${done ? 'AND id <> $4' : ''}
           ORDER BY seq LIMIT 1
           FOR UPDATE
         ), claimed AS (
           UPDATE webhook_deliveries d
           SET attempts = d.attempts + 1,
               lease_until = now() + make_interval(secs => $3::double precision / 1000),
               first_attempt_at = COALESCE(d.first_attempt_at, now()),
               last_attempt_at = now()
           WHERE d.id = (SELECT id FROM head) AND d.status = 'pending' AND d.next_attempt_at <= now()
             AND (d.lease_until IS NULL OR d.lease_until <= now())
           RETURNING d.id, d.event_id, d.event_type, d.payload, d.attempts, d.first_attempt_at
         )
         SELECT id, event_id, event_type, payload, attempts, first_attempt_at,
                NULL::timestamptz AS waiting_until
         FROM claimed
         UNION ALL
         SELECT NULL, NULL, NULL, NULL, NULL, NULL,
                GREATEST(h.next_attempt_at, COALESCE(h.lease_until, h.next_attempt_at))
         FROM head h WHERE NOT EXISTS (SELECT 1 FROM claimed)`;
}

const MARK_DELIVERED = `SET status = 'delivered', delivered_at = now(), last_status_code = $2,
  last_error = NULL, lease_until = NULL`;

/*
 * The head of the pair's queue, locked (FOR UPDATE, not SKIP LOCKED: skipping a locked head would
 * hand out the event behind it, out of order), then taken only if it is due and nobody holds it.
 * The conditions are on `d`, the row as it is once the lock is ours, so two drains racing for one
 * head cannot both take it. When it is not taken, the head says until when to wait.
 */
const claimNext = new PreparedStatement({
  name: 'webhook-deliveries-claim',
  text: claimSql(''),
});
const deliveredAndClaimNext = new PreparedStatement({
  name: 'webhook-deliveries-delivered-claim',
  text: claimSql(`done AS (
           UPDATE webhook_deliveries ${MARK_DELIVERED.replace('$2', '$5')} WHERE id = $4
         ),`),
});
const markDelivered = new PreparedStatement({
  name: 'webhook-deliveries-delivered',
  text: `UPDATE webhook_deliveries ${MARK_DELIVERED} WHERE id = $1`,
});
const markRetry = new PreparedStatement({
  name: 'webhook-deliveries-retry',
  text: `UPDATE webhook_deliveries
         SET next_attempt_at = $2, lease_until = NULL, last_status_code = $3, last_error = $4
         WHERE id = $1 AND status = 'pending'`,
});
const markFailed = new PreparedStatement({
  name: 'webhook-deliveries-failed',
  text: `UPDATE webhook_deliveries
         SET status = 'failed', lease_until = NULL, last_status_code = $2, last_error = $3
         WHERE id = $1 AND status = 'pending'`,
});

const ERROR_MAX = 200;

function claimResult(row: ClaimRow | null): ClaimResult {
  if (!row) return { kind: 'empty' };
  if (row.id === null) return { kind: 'waiting', until: row.waiting_until! };
  return {
    kind: 'claimed',
    delivery: {
      id: row.id,
      eventId: row.event_id!,
      eventType: row.event_type as WebhookEventType,
      payload: row.payload!,
      attempts: row.attempts!,
      firstAttemptAt: row.first_attempt_at!,
    },
  };
}

function toDelivery(row: DeliveryRow): WebhookDelivery {
  return {
    id: row.id,
    endpointId: row.endpoint_id,
    eventId: row.event_id,
    accountId: row.account_id,
    eventType: row.event_type as WebhookEventType,
    status: row.status as WebhookDeliveryStatus,
    attempts: row.attempts,
    lastStatusCode: row.last_status_code,
    lastError: row.last_error,
    nextAttemptAt: row.next_attempt_at,
    createdAt: row.created_at,
    deliveredAt: row.delivered_at,
  };
}

@Injectable()
export class PostgresWebhookDeliveryRepository implements IWebhookDeliveryRepository {
  constructor(@Inject(PG) private readonly db: Db) {}

  async createMany(
    deliveries: NewWebhookDelivery[],
    tx: Queryable = this.db,
  ): Promise<DeliveryStream[]> {
    if (deliveries.length === 0) return [];
    const values = deliveries.map((d) => ({
      endpoint_id: d.endpointId,
      event_id: d.eventId,
      account_event_id: d.accountEventId,
      account_id: d.accountId,
      event_type: d.eventType,
      payload: d.payload,
    }));
    // The same event fanned out twice (a retried transaction) is one delivery per endpoint.
    const rows = await tx.manyOrNone<{ endpoint_id: string; account_id: string | null }>(
      `${pgp.helpers.insert(values, insertColumns)}
       ON CONFLICT ON CONSTRAINT webhook_deliveries_event_unique DO NOTHING
       RETURNING endpoint_id, account_id`,
    );
    const pairs = new Map<string, DeliveryStream>();
    for (const row of rows) {
      pairs.set(`${row.endpoint_id}/${row.account_id ?? ''}`, {
        endpointId: row.endpoint_id,
        accountId: row.account_id,
      });
    }
    return [...pairs.values()];
  }

  async claimNext(stream: DeliveryStream, leaseMs: number): Promise<ClaimResult> {
    const row = await this.db.oneOrNone<ClaimRow>(claimNext, [
      stream.endpointId,
      stream.accountId ?? PING_STREAM,
      leaseMs,
    ]);
    return claimResult(row);
  }

  async markDeliveredAndClaimNext(
    id: string,
    statusCode: number,
    stream: DeliveryStream,
    leaseMs: number,
  ): Promise<ClaimResult> {
    const row = await this.db.oneOrNone<ClaimRow>(deliveredAndClaimNext, [
      stream.endpointId,
      stream.accountId ?? PING_STREAM,
      leaseMs,
      id,
      statusCode,
    ]);
    return claimResult(row);
  }

  async markDelivered(id: string, statusCode: number): Promise<void> {
    await this.db.none(markDelivered, [id, statusCode]);
  }

  async markRetry(
    id: string,
    nextAttemptAt: Date,
    statusCode: number | null,
    error: string,
  ): Promise<void> {
    await this.db.none(markRetry, [id, nextAttemptAt, statusCode, error.slice(0, ERROR_MAX)]);
  }

  async markFailed(id: string, statusCode: number | null, error: string): Promise<void> {
    await this.db.none(markFailed, [id, statusCode, error.slice(0, ERROR_MAX)]);
  }

  async requeueFailed(since: Date, endpointId?: string): Promise<DeliveryStream[]> {
    const rows = await this.db.manyOrNone<{ endpoint_id: string; account_id: string | null }>(
      `UPDATE webhook_deliveries
       SET status = 'pending', next_attempt_at = now(), first_attempt_at = NULL, lease_until = NULL
       WHERE status = 'failed' AND created_at >= $1 AND ($2::uuid IS NULL OR endpoint_id = $2)
       RETURNING endpoint_id, account_id`,
      [since, endpointId ?? null],
    );
    const pairs = new Map<string, DeliveryStream>();
    for (const row of rows) {
      pairs.set(`${row.endpoint_id}/${row.account_id ?? ''}`, {
        endpointId: row.endpoint_id,
        accountId: row.account_id,
      });
    }
    return [...pairs.values()];
  }

  async findDueStreams(limit: number): Promise<DeliveryStream[]> {
    // Heads only: a pair whose oldest delivery backs off for an hour has nothing due, however
    // many newer ones wait behind it.
    const rows = await this.db.manyOrNone<{ endpoint_id: string; account_id: string | null }>(
      `SELECT endpoint_id, account_id FROM (
         SELECT DISTINCT ON (endpoint_id, stream) endpoint_id, account_id, next_attempt_at,
                lease_until
         FROM webhook_deliveries WHERE status = 'pending'
         ORDER BY endpoint_id, stream, seq
       ) heads
       WHERE next_attempt_at <= now() AND (lease_until IS NULL OR lease_until <= now())
       ORDER BY next_attempt_at
       LIMIT $1`,
      [limit],
    );
    return rows.map((row) => ({ endpointId: row.endpoint_id, accountId: row.account_id }));
  }

  async listByEndpoint(
    endpointId: string,
    limit: number,
    after: DeliveryCursor | null,
  ): Promise<{ deliveries: WebhookDelivery[]; next: DeliveryCursor | null }> {
    const rows = after
      ? await this.db.manyOrNone<DeliveryRow>(
          `${SELECT} WHERE endpoint_id = $1 AND (created_at, id) < ($3::timestamptz, $4::uuid)
           ORDER BY created_at DESC, id DESC LIMIT $2`,
          [endpointId, limit + 1, after.createdAt, after.id],
        )
      : await this.db.manyOrNone<DeliveryRow>(
          `${SELECT} WHERE endpoint_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2`,
          [endpointId, limit + 1],
        );
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return {
      deliveries: page.map(toDelivery),
      next: rows.length > limit && last ? { createdAt: last.cursor_created_at, id: last.id } : null,
    };
  }

  async findById(id: string): Promise<WebhookDelivery | null> {
    const row = await this.db.oneOrNone<DeliveryRow>(`${SELECT} WHERE id = $1`, [id]);
    return row ? toDelivery(row) : null;
  }

  async findByEvent(endpointId: string, eventId: string): Promise<WebhookDelivery | null> {
    const row = await this.db.oneOrNone<DeliveryRow>(
      `${SELECT} WHERE endpoint_id = $1 AND event_id = $2`,
      [endpointId, eventId],
    );
    return row ? toDelivery(row) : null;
  }
}
