import { Inject, Injectable } from '@nestjs/common';
import { PreparedStatement } from 'pg-promise';
import { Coalescer } from '../../../common/batching/coalescer';
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
import type { Db, Queryable } from '../database';
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
  n: number;
  head_id: string | null;
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

/*
 * In the order given (a function scan yields its rows in the arrays' order, and identity values
 * are drawn in insertion order): a pair's deliveries go out in `seq` order.
 */
const insertDeliveries = new PreparedStatement({
  name: 'webhook-deliveries-insert',
  text: `INSERT INTO webhook_deliveries
           (endpoint_id, event_id, account_event_id, account_id, event_type, payload)
         SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::text[])
         ON CONFLICT ON CONSTRAINT webhook_deliveries_event_unique DO NOTHING
         RETURNING endpoint_id, account_id`,
});

const MARK_DELIVERED = `SET status = 'delivered', delivered_at = now(), last_status_code = $2,
  last_error = NULL, lease_until = NULL`;

/*
 * The claims of every drain of this process that asked while the previous claim ran, in one
 * statement: row `n` of the arrays is one pair (endpoint, stream), with the delivery its drain
 * just made (`done_id`, marked delivered here) and its lease. Per pair, the head of its queue,
 * locked (FOR UPDATE, not SKIP LOCKED: skipping a locked head would hand out the event behind it,
 * out of order), then taken only if it is due and nobody holds it. The conditions are on `d`, the
 * row as it is once the lock is ours, so two drains racing for one head cannot both take it. A
 * head not taken says until when to wait.
 *
 * The delivered row is excluded by id: within one statement its update is not yet visible. The
 * heads are updated by primary key (`= ANY (ARRAY(…))`): as a join, the planner, sure from stale
 * statistics that few deliveries were due, walked every due delivery of every pair to find them
 * (1 ms and 300 to 1,000 pages a claim with a sweep's backlog). For the same reason the claim's
 * conditions are one `IS TRUE` test: as separate conditions, `status = 'pending'` let the plan
 * read a partial index of pending deliveries, which statistics from a quiet moment (or a new
 * database) call tiny, and with `next_attempt_at <= now()` it read every due delivery and ANDed
 * them with the heads (bench:sync on a new database, 2026-12-08: 4,000 claims read 49 million
 * entries of webhook_deliveries_due_idx, which migration 016 dropped; the pending index would do
 * the same). Evaluated on the row as locked, like any condition. test/webhook-claim-plan.test.ts
 * checks the plan under such statistics.
 */
export const CLAIM_BATCH_SQL = `WITH req AS (
           SELECT * FROM ROWS FROM (jsonb_to_recordset($1::jsonb)
               AS (endpoint_id uuid, stream uuid, done_id uuid, done_code int, lease_ms float8))
             WITH ORDINALITY AS r(endpoint_id, stream, done_id, done_code, lease_ms, n)
         ), done AS (
           UPDATE webhook_deliveries d
           SET status = 'delivered', delivered_at = now(),
               last_status_code = (SELECT r.done_code FROM req r WHERE r.done_id = d.id),
               last_error = NULL, lease_until = NULL
           WHERE d.id = ANY (ARRAY(SELECT done_id FROM req WHERE done_id IS NOT NULL))
         ), head AS (
           SELECT r.n, r.lease_ms, h.id, h.next_attempt_at, h.lease_until
           FROM req r CROSS JOIN LATERAL (
             SELECT w.id, w.next_attempt_at, w.lease_until FROM webhook_deliveries w
             WHERE w.endpoint_id = r.endpoint_id AND w.stream = r.stream AND w.status = 'pending'
               AND w.id IS DISTINCT FROM r.done_id
             ORDER BY w.seq LIMIT 1
             FOR UPDATE
           ) h
         ), claimed AS (
           UPDATE webhook_deliveries d
           SET attempts = d.attempts + 1,
               lease_until = now() + make_interval(secs => (
                 SELECT h.lease_ms FROM head h WHERE h.id = d.id) / 1000),
               first_attempt_at = COALESCE(d.first_attempt_at, now()),
               last_attempt_at = now()
           WHERE d.id = ANY (ARRAY(SELECT id FROM head))
             AND (d.status = 'pending' AND d.next_attempt_at <= now()
               AND (d.lease_until IS NULL OR d.lease_until <= now())) IS TRUE
           RETURNING d.id, d.event_id, d.event_type, d.payload, d.attempts, d.first_attempt_at
         )
         SELECT r.n::int AS n, h.id AS head_id, c.id, c.event_id, c.event_type, c.payload,
                c.attempts, c.first_attempt_at,
                GREATEST(h.next_attempt_at, COALESCE(h.lease_until, h.next_attempt_at)) AS waiting_until
         FROM req r LEFT JOIN head h ON h.n = r.n LEFT JOIN claimed c ON c.id = h.id`;
const claimBatch = new PreparedStatement({
  name: 'webhook-deliveries-claim-batch',
  text: CLAIM_BATCH_SQL,
});

/*
 * The heads of one endpoint's pairs in the order of the pending index, without sorting them by
 * due time: the LIMIT stops the walk as soon as it has found enough that are due.
 *
 * Sent as text, so it is planned for the table as it is at each call (about 0.1 ms). Prepared, it
 * gets PostgreSQL's generic plan from its sixth call on, made for the table as it was then: on a
 * new database, nearly empty, that plan is a scan of the whole table and a sort of every pending
 * delivery, for every call from then on. Planned for 1,800 pending deliveries, it walks the pending
 * index in order and stops at the limit: 41 buffers for 32 heads.
 */
const DUE_STREAMS_OF = `SELECT account_id FROM (
           SELECT DISTINCT ON (stream) account_id, next_attempt_at, lease_until
           FROM webhook_deliveries WHERE endpoint_id = $1 AND status = 'pending'
           ORDER BY stream, seq
         ) heads
         WHERE next_attempt_at <= now() AND (lease_until IS NULL OR lease_until <= now())
         LIMIT $2`;

interface ClaimRequest {
  stream: DeliveryStream;
  /** The pair, as `streamKey` spells it. */
  key: string;
  leaseMs: number;
  /** The delivery the drain just made: marked delivered in the same statement. */
  done?: { id: string; statusCode: number };
}

/** More than a worker's drains ask for at once with the default concurrency (16 × 16 + 16). */
const MAX_CLAIM_BATCH = 500;

const streamKey = (stream: DeliveryStream) =>
  `${stream.endpointId}/${stream.accountId ?? PING_STREAM}`;

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

function claimResult(row: ClaimRow | undefined): ClaimResult {
  if (!row || row.head_id === null) return { kind: 'empty' };
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
  /**
   * Claims go in batches: every drain that asks while a claim statement runs waits for the next
   * one, which serves them all. A drain is short (a claim, a POST, the next claim), so a busy
   * worker's drains share their claims, and one round trip does the work of several. One request
   * per pair in a statement: a second one for the same pair goes in the next, so it sees the
   * first one's lease, as it would have with a statement of its own.
   */
  private readonly claims = new Coalescer<ClaimRequest, ClaimResult>(
    (batch) => this.claimBatch(batch),
    { maxBatch: MAX_CLAIM_BATCH, keyOf: (request) => request.key },
  );

  constructor(@Inject(PG) private readonly db: Db) {}

  async createMany(
    deliveries: NewWebhookDelivery[],
    tx: Queryable = this.db,
  ): Promise<DeliveryStream[]> {
    if (deliveries.length === 0) return [];
    // The same event fanned out twice (a retried transaction) is one delivery per endpoint.
    const rows = await tx.manyOrNone<{ endpoint_id: string; account_id: string | null }>(
      insertDeliveries,
      [
        deliveries.map((d) => d.endpointId),
        deliveries.map((d) => d.eventId),
        deliveries.map((d) => d.accountEventId),
        deliveries.map((d) => d.accountId),
        deliveries.map((d) => d.eventType),
        deliveries.map((d) => d.payload),
      ],
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

  claimNext(stream: DeliveryStream, leaseMs: number): Promise<ClaimResult> {
    return this.claim(stream, leaseMs);
  }

  markDeliveredAndClaimNext(
    id: string,
    statusCode: number,
    stream: DeliveryStream,
    leaseMs: number,
  ): Promise<ClaimResult> {
    return this.claim(stream, leaseMs, { id, statusCode });
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

  async findDueStreamsOf(endpointId: string, limit: number): Promise<DeliveryStream[]> {
    const rows = await this.db.manyOrNone<{ account_id: string | null }>(DUE_STREAMS_OF, [
      endpointId,
      limit,
    ]);
    return rows.map((row) => ({ endpointId, accountId: row.account_id }));
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

  private claim(
    stream: DeliveryStream,
    leaseMs: number,
    done?: ClaimRequest['done'],
  ): Promise<ClaimResult> {
    return this.claims.submit({
      stream,
      key: streamKey(stream),
      leaseMs,
      ...(done ? { done } : {}),
    });
  }

  private async claimBatch(
    batch: readonly ClaimRequest[],
  ): Promise<PromiseSettledResult<ClaimResult>[]> {
    // In one order everywhere, so two processes' batches lock their heads in the same order.
    const order = batch
      .map((request, index) => ({ request, index }))
      .sort((a, b) => (a.request.key < b.request.key ? -1 : 1));
    const rows = await this.db.manyOrNone<ClaimRow>(claimBatch, [
      JSON.stringify(
        order.map(({ request }) => ({
          endpoint_id: request.stream.endpointId,
          stream: request.stream.accountId ?? PING_STREAM,
          done_id: request.done?.id ?? null,
          done_code: request.done?.statusCode ?? null,
          lease_ms: request.leaseMs,
        })),
      ),
    ]);
    const byRow = new Map(rows.map((row) => [row.n, row]));
    const settled: PromiseSettledResult<ClaimResult>[] = [];
    order.forEach(({ index }, position) => {
      settled[index] = { status: 'fulfilled', value: claimResult(byRow.get(position + 1)) };
    });
    return settled;
  }
}
