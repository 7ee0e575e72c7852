import type { Queryable } from './queryable';
import type { WebhookDelivery, WebhookEventType } from '../entities/webhook.entity';

export const WEBHOOK_DELIVERY_REPOSITORY = Symbol('WEBHOOK_DELIVERY_REPOSITORY');

export interface NewWebhookDelivery {
  endpointId: string;
  eventId: string;
  /** Set for account events (their row in account_events); null for a ping. */
  accountEventId: string | null;
  accountId: string | null;
  eventType: WebhookEventType;
  /** The exact body every attempt sends. */
  payload: string;
}

/** The pair a drain works on: one endpoint, one account (or the endpoint's pings: null). */
export interface DeliveryStream {
  endpointId: string;
  accountId: string | null;
}

/** A delivery taken for one attempt: nobody else tries it until `leaseUntil`. */
export interface ClaimedDelivery {
  id: string;
  eventId: string;
  eventType: WebhookEventType;
  payload: string;
  /** Counting this one. */
  attempts: number;
  firstAttemptAt: Date;
}

export type ClaimResult =
  | { kind: 'claimed'; delivery: ClaimedDelivery }
  /** Nothing pending for the pair. */
  | { kind: 'empty' }
  /** The oldest pending delivery waits for its next attempt (backoff) or another drain's lease. */
  | { kind: 'waiting'; until: Date };

export interface DeliveryCursor {
  createdAt: string;
  id: string;
}

export interface IWebhookDeliveryRepository {
  /** Inserts the rows; the distinct pairs they belong to (each needs a drain). */
  createMany(deliveries: NewWebhookDelivery[], tx?: Queryable): Promise<DeliveryStream[]>;
  /**
   * Takes the pair's oldest pending delivery if it is due and not leased: attempts + 1, leased for
   * `leaseMs`. Only ever the oldest: a later event never overtakes an earlier one of its account.
   */
  claimNext(stream: DeliveryStream, leaseMs: number): Promise<ClaimResult>;
  markDelivered(id: string, statusCode: number): Promise<void>;
  /** `markDelivered` then `claimNext`, in one round trip: a drain's step from one to the next. */
  markDeliveredAndClaimNext(
    id: string,
    statusCode: number,
    stream: DeliveryStream,
    leaseMs: number,
  ): Promise<ClaimResult>;
  /** Another attempt at `nextAttemptAt`; the lease ends. */
  markRetry(
    id: string,
    nextAttemptAt: Date,
    statusCode: number | null,
    error: string,
  ): Promise<void>;
  markFailed(id: string, statusCode: number | null, error: string): Promise<void>;
  /**
   * Failed deliveries created since `since` go back to pending, due now, with a new 24 hours;
   * the pairs they are in (each needs a drain). Their attempts keep counting.
   */
  requeueFailed(since: Date, endpointId?: string): Promise<DeliveryStream[]>;
  /** Pairs whose oldest pending delivery is due and not leased: what the sweep wakes. */
  findDueStreams(limit: number): Promise<DeliveryStream[]>;
  /** The same for one endpoint, in no particular order: what its drain takes on next. */
  findDueStreamsOf(endpointId: string, limit: number): Promise<DeliveryStream[]>;
  /** Newest first, keyset-paginated. */
  listByEndpoint(
    endpointId: string,
    limit: number,
    after: DeliveryCursor | null,
  ): Promise<{ deliveries: WebhookDelivery[]; next: DeliveryCursor | null }>;
  findById(id: string): Promise<WebhookDelivery | null>;
  findByEvent(endpointId: string, eventId: string): Promise<WebhookDelivery | null>;
}
