import { type BeforeApplicationShutdown, Inject, Injectable } from '@nestjs/common';
import type { Logger } from 'pino';
import { loggableError } from '../../../common/logging/loggable-error';
import { ROOT_LOGGER } from '../../../common/logging/logging.module';
import { APP_CONFIG } from '../../../config/config.module';
import type { AppConfig } from '../../../config/config';
import {
  type ClaimedDelivery,
  type DeliveryStream,
  type IWebhookDeliveryRepository,
  WEBHOOK_DELIVERY_REPOSITORY,
} from '../../../domain/repositories/webhook-delivery.repository.interface';
import {
  type IWebhookEndpointRepository,
  WEBHOOK_ENDPOINT_REPOSITORY,
} from '../../../domain/repositories/webhook-endpoint.repository.interface';
import {
  WebhookSecretCipher,
  WebhookSecretError,
} from '../../../infrastructure/crypto/webhook-secret-cipher';
import { WebhookClient } from '../../../infrastructure/http/webhook-client';
import { JobQueue } from '../../../infrastructure/jobs/job-queue';
import {
  drainKey,
  requestDrain,
  requestDrains,
  requestEndpointDrain,
} from '../jobs/webhook-drains';
import { deliveryHeaders } from '../webhook-signature';

/** Retried for this long after the first attempt, then `failed` (and the pair moves on). */
export const RETRY_WINDOW_MS = 24 * 60 * 60 * 1000;
/** One drain job runs at most this long, then queues its pair's next drain (others get a turn). */
export const DRAIN_BUDGET_MS = 60_000;
/** An endpoint's drain reads the endpoint (its URL, its secret) again after this long. */
export const SECRET_REREAD_MS = 1_000;
/** How often an endpoint's drain looks for pairs with new work while its slots are busy. */
export const ENDPOINT_POLL_MS = 100;
/** Pairs woken per sweep; the rest wait for the next one, longest overdue first. */
export const SWEEP_BATCH = 5_000;
/** Beyond the attempt's own deadline, before a crashed worker's claim may be taken over. */
const LEASE_MARGIN_MS = 30_000;

/**
 * The wait before attempt `attempts + 1`: exponential from `baseMs` (doubling per attempt) up to
 * `maxMs`, with "equal jitter" (a random point in the upper half), so receivers that come back
 * after an outage are not hit by every sender's retries in the same second.
 */
export function retryDelayMs(
  attempts: number,
  baseMs: number,
  maxMs: number,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(Math.max(attempts - 1, 0), 30));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

export interface DrainResult {
  delivered: number;
  failed: number;
  /**
   * Why the drain stopped: nothing pending, an attempt failed (its retry is queued), the head is
   * not due or held by another drain, out of budget or stopping, or the endpoint deleted.
   */
  stopped: 'empty' | 'retrying' | 'waiting' | 'yielded' | 'endpoint_gone';
}

interface SigningEndpoint {
  url: string;
  /** Null when the stored secret does not open (key ring without its key): nothing can be signed. */
  secret: string | null;
}

/**
 * Delivers a pair's pending deliveries one at a time, oldest first: a later event of an account
 * never reaches a receiver before an earlier one (at least once, in order). A failed attempt
 * schedules the next one with backoff and ends the drain; the pair's later deliveries wait behind
 * it until it is delivered or, 24 hours after its first attempt, failed.
 */
@Injectable()
export class WebhookDeliveryService implements BeforeApplicationShutdown {
  private readonly logger: Logger;
  private stopping = false;

  constructor(
    @Inject(WEBHOOK_ENDPOINT_REPOSITORY) private readonly endpoints: IWebhookEndpointRepository,
    @Inject(WEBHOOK_DELIVERY_REPOSITORY) private readonly deliveries: IWebhookDeliveryRepository,
    private readonly secrets: WebhookSecretCipher,
    private readonly client: WebhookClient,
    private readonly queue: JobQueue,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(ROOT_LOGGER) logger: Logger,
  ) {
    this.logger = logger.child({ component: 'webhooks' });
  }

  /** Shutting down: drains stop after the attempt in flight and leave their pair queued. */
  beforeApplicationShutdown(): void {
    this.stopping = true;
  }

  async drain(
    stream: DeliveryStream,
    options: { deadline?: number; endpoint?: () => Promise<SigningEndpoint | null> } = {},
  ): Promise<DrainResult> {
    const deadline = options.deadline ?? Date.now() + DRAIN_BUDGET_MS;
    const leaseMs = this.config.webhooks.timeoutMs + LEASE_MARGIN_MS;
    const result: DrainResult = { delivered: 0, failed: 0, stopped: 'empty' };
    const outOfTime = () => this.stopping || Date.now() >= deadline;
    // Read once for this drain, unless the caller keeps it (an endpoint's drain re-reads it).
    let own: Promise<SigningEndpoint | null> | undefined;
    const signing = options.endpoint ?? (() => (own ??= this.signingEndpoint(stream.endpointId)));
    let claim = outOfTime() ? undefined : await this.deliveries.claimNext(stream, leaseMs);
    for (;;) {
      if (!claim) {
        await requestDrain(this.queue, stream);
        return { ...result, stopped: 'yielded' };
      }
      if (claim.kind === 'empty') return result;
      if (claim.kind === 'waiting') {
        await requestDrain(this.queue, stream, { startAfter: claim.until });
        return { ...result, stopped: 'waiting' };
      }
      const endpoint = await signing();
      // Deleted meanwhile: its deliveries went with it (cascade).
      if (!endpoint) return { ...result, stopped: 'endpoint_gone' };
      const delivery = claim.delivery;
      const outcome = await this.attempt(endpoint, delivery);
      if (outcome.kind === 'delivered') {
        result.delivered++;
        // The usual step, in one round trip: this one delivered, the next one claimed.
        if (outOfTime()) {
          await this.deliveries.markDelivered(delivery.id, outcome.statusCode);
          claim = undefined;
        } else {
          claim = await this.deliveries.markDeliveredAndClaimNext(
            delivery.id,
            outcome.statusCode,
            stream,
            leaseMs,
          );
        }
      } else if (outcome.kind === 'failed') {
        result.failed++;
        claim = outOfTime() ? undefined : await this.deliveries.claimNext(stream, leaseMs);
      } else {
        await requestDrain(this.queue, stream, { startAfter: outcome.retryAt });
        return { ...result, stopped: 'retrying' };
      }
    }
  }

  /**
   * Drains every pair of the endpoint that has a delivery due, up to WEBHOOK_CONCURRENCY pairs at
   * once, each in its own order, and takes on pairs whose work arrives meanwhile, until none is
   * left or the budget is spent (then it queues its successor). A pair that waits for a retry has
   * its own drain queued for that time (as `drain` does); a pair that hangs holds one slot, and
   * the others go on. After WEBHOOK_CONCURRENCY pairs in a row failed and none delivered, it stops
   * and queues itself again after the first retry's delay. The endpoint is read once a second.
   */
  async drainEndpoint(endpointId: string): Promise<DrainResult> {
    const deadline = Date.now() + DRAIN_BUDGET_MS;
    const slots = this.config.webhooks.concurrency;
    const result: DrainResult = { delivered: 0, failed: 0, stopped: 'empty' };
    // Shared by its pairs, read again after SECRET_REREAD_MS: a rotated secret signs from then on.
    let endpoint: { readAt: number; read: Promise<SigningEndpoint | null> } | undefined;
    const signing = () => {
      if (!endpoint || Date.now() - endpoint.readAt >= SECRET_REREAD_MS) {
        endpoint = { readAt: Date.now(), read: this.signingEndpoint(endpointId) };
      }
      return endpoint.read;
    };
    /** Running pair drains by account (the pings' stream: ''). */
    const running = new Map<string, Promise<void>>();
    const pairOf = (stream: DeliveryStream) => stream.accountId ?? '';
    let failure: { error: unknown } | undefined;
    /** Pairs in a row whose attempt failed and nothing delivered: the receiver is down. */
    let failing = 0;
    const start = (stream: DeliveryStream) => {
      const key = pairOf(stream);
      const run = this.drain(stream, { deadline, endpoint: signing }).then(
        (drained) => {
          result.delivered += drained.delivered;
          result.failed += drained.failed;
          if (drained.stopped === 'endpoint_gone') result.stopped = 'endpoint_gone';
          if (drained.delivered > 0) failing = 0;
          else if (drained.stopped === 'retrying') failing++;
        },
        (error: unknown) => {
          failure ??= { error };
        },
      );
      running.set(
        key,
        run.finally(() => running.delete(key)),
      );
    };
    /** Why it ends early: out of budget (or stopping), or a receiver failing every attempt. */
    let ending: 'yielded' | 'retrying' | undefined;
    try {
      for (;;) {
        if (failure || result.stopped === 'endpoint_gone') break;
        if (this.stopping || Date.now() >= deadline) {
          ending = 'yielded';
          break;
        }
        if (failing >= slots) {
          ending = 'retrying';
          break;
        }
        let found = 0;
        if (running.size < slots) {
          // Twice the free slots: some of the heads found may be pairs already running here.
          const due = await this.deliveries.findDueStreamsOf(
            endpointId,
            2 * (slots - running.size),
          );
          for (const stream of due) {
            if (running.size >= slots) break;
            if (running.has(pairOf(stream))) continue;
            start(stream);
            found++;
          }
        }
        if (running.size === 0) break;
        if (found === 0) {
          // Busy, or nothing new: wait for a pair to finish, or look again shortly for new work.
          let timer: NodeJS.Timeout | undefined;
          await Promise.race([
            ...running.values(),
            new Promise((resolve) => (timer = setTimeout(resolve, ENDPOINT_POLL_MS))),
          ]);
          clearTimeout(timer);
        }
      }
    } finally {
      // Never left running behind the job (they do not reject: a failure is kept above).
      await Promise.all(running.values());
    }
    if (failure) throw failure.error;
    if (!ending) return result;
    // A receiver failing every attempt does not hold a slot for the whole budget: the pairs tried
    // have their retries queued, and the rest are taken on again after the first delay.
    await requestEndpointDrain(
      this.queue,
      endpointId,
      ending === 'retrying'
        ? { startAfter: new Date(Date.now() + this.config.webhooks.retryBaseMs) }
        : {},
    );
    return { ...result, stopped: ending };
  }

  /**
   * Wakes every pair whose next delivery is due but whose drain job is missing: lost with a
   * killed process, or never committed. The singleton key makes a wake of a pair that already has
   * a drain queued a no-op. The number of drains queued.
   */
  async sweep(): Promise<number> {
    const streams = await this.deliveries.findDueStreams(SWEEP_BATCH);
    const queued = await requestDrains(this.queue, streams);
    if (queued > 0) this.logger.info({ queued }, 'webhook sweep woke pairs with due deliveries');
    return queued;
  }

  /**
   * For operators (`webhooks redeliver --failed --since`): failed deliveries created since
   * `since` are tried again, in their place in their account's order (they are older than what
   * was delivered after them, so they go first again).
   */
  async redeliverFailed(
    since: Date,
    endpointId?: string,
  ): Promise<{ pairs: number; drainsQueued: number; streams: DeliveryStream[] }> {
    const streams = await this.deliveries.requeueFailed(since, endpointId);
    const drainsQueued = await requestDrains(this.queue, streams);
    // A pair may already have a drain queued for later (after a lease another drain held, or a
    // retry's delay): the request above is then a no-op, and the operator's "now" means now.
    await this.queue.bringForward('webhook.deliver', streams.map(drainKey));
    this.logger.info(
      { since, endpointId, pairs: streams.length },
      'failed webhook deliveries queued again',
    );
    return { pairs: streams.length, drainsQueued, streams };
  }

  private async attempt(
    endpoint: SigningEndpoint,
    delivery: ClaimedDelivery,
  ): Promise<
    | { kind: 'delivered'; statusCode: number }
    | { kind: 'failed' }
    | { kind: 'retry'; retryAt: Date }
  > {
    const sent = endpoint.secret
      ? await this.client.post(
          endpoint.url,
          delivery.payload,
          deliveryHeaders(endpoint.secret, delivery),
        )
      : ({
          ok: false,
          reason: 'refused',
          statusCode: null,
          error: 'the signing secret could not be decrypted (TOKEN_ENCRYPTION_KEY lacks its key)',
        } as const);
    // Marked delivered by the caller, together with claiming the next one.
    if (sent.ok) return { kind: 'delivered', statusCode: sent.statusCode };
    const now = Date.now();
    const context = {
      deliveryId: delivery.id,
      eventId: delivery.eventId,
      event: delivery.eventType,
      attempt: delivery.attempts,
      reason: sent.reason,
      statusCode: sent.statusCode,
    };
    if (now - delivery.firstAttemptAt.getTime() >= RETRY_WINDOW_MS) {
      await this.deliveries.markFailed(delivery.id, sent.statusCode, sent.error);
      this.logger.warn(context, 'webhook delivery failed for 24 hours: given up');
      return { kind: 'failed' };
    }
    const { retryBaseMs, retryMaxDelayMs } = this.config.webhooks;
    const retryAt = new Date(now + retryDelayMs(delivery.attempts, retryBaseMs, retryMaxDelayMs));
    await this.deliveries.markRetry(delivery.id, retryAt, sent.statusCode, sent.error);
    this.logger.info({ ...context, retryAt }, 'webhook delivery attempt failed: will retry');
    return { kind: 'retry', retryAt };
  }

  private async signingEndpoint(id: string): Promise<SigningEndpoint | null> {
    const found = await this.endpoints.findWithSecret(id);
    if (!found) return null;
    try {
      return { url: found.endpoint.url, secret: this.secrets.open(found.secret, id) };
    } catch (error) {
      if (!(error instanceof WebhookSecretError)) throw error;
      this.logger.error({ webhookId: id, err: loggableError(error) }, 'webhook secret unreadable');
      return { url: found.endpoint.url, secret: null };
    }
  }
}
