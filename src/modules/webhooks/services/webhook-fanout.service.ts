import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import type { Logger } from 'pino';
import { ROOT_LOGGER } from '../../../common/logging/logging.module';
import type { ClientAccount } from '../../../domain/entities/client-account.entity';
import {
  ALL_WEBHOOK_EVENTS,
  type WebhookEventType,
  webhookTypeOf,
} from '../../../domain/entities/webhook.entity';
import type { AppendedAccountEvent } from '../../../domain/repositories/account-event.repository.interface';
import {
  CLIENT_ACCOUNT_REPOSITORY,
  type IClientAccountRepository,
} from '../../../domain/repositories/client-account.repository.interface';
import type { Queryable } from '../../../domain/repositories/queryable';
import {
  type IWebhookDeliveryRepository,
  type NewWebhookDelivery,
  WEBHOOK_DELIVERY_REPOSITORY,
} from '../../../domain/repositories/webhook-delivery.repository.interface';
import {
  type IWebhookEndpointRepository,
  WEBHOOK_ENDPOINT_REPOSITORY,
} from '../../../domain/repositories/webhook-endpoint.repository.interface';
import { AccountEventListeners } from '../../../infrastructure/database/account-event-listeners';
import { JobQueue } from '../../../infrastructure/jobs/job-queue';
import { requestEndpointDrain } from '../jobs/webhook-drains';
import { accountEventPayload } from '../webhook-payload';

/**
 * The outbox's fan-out: for the account events of every append anywhere, inside the transaction
 * that appends them, one delivery row per event and endpoint of the account's owner subscribed
 * to it, and a drain job for each endpoint (which takes on all its pairs that have work). So a
 * delivery exists exactly when its event does, and a crash between the change and the delivery
 * loses nothing. A change's events (a sync's `status_changed` and `recovered`) fan out together:
 * one read of the endpoints, one insert of the deliveries, one drain request per endpoint (a
 * no-op while that endpoint already has one queued).
 */
@Injectable()
export class WebhookFanoutService implements OnModuleInit {
  private readonly logger: Logger;

  constructor(
    private readonly listeners: AccountEventListeners,
    @Inject(WEBHOOK_ENDPOINT_REPOSITORY) private readonly endpoints: IWebhookEndpointRepository,
    @Inject(WEBHOOK_DELIVERY_REPOSITORY) private readonly deliveries: IWebhookDeliveryRepository,
    @Inject(CLIENT_ACCOUNT_REPOSITORY) private readonly accounts: IClientAccountRepository,
    private readonly queue: JobQueue,
    @Inject(ROOT_LOGGER) logger: Logger,
  ) {
    this.logger = logger.child({ component: 'webhooks' });
  }

  onModuleInit(): void {
    this.listeners.add(async (events, tx) => {
      await this.fanOut(events, tx);
    });
  }

  /** The number of deliveries written. */
  async fanOut(events: readonly AppendedAccountEvent[], tx: Queryable): Promise<number> {
    const byUser = new Map<string, { event: AppendedAccountEvent; type: WebhookEventType }[]>();
    for (const event of events) {
      const type = webhookTypeOf(event.type);
      if (!type) continue;
      const list = byUser.get(event.userId) ?? [];
      list.push({ event, type });
      byUser.set(event.userId, list);
    }
    let written = 0;
    // One user's in practice (a change is one account's); the loop keeps any other case right.
    for (const [userId, typed] of byUser) {
      const types = [...new Set(typed.map((t) => t.type))];
      // `isCurrent` is as the change left it (a disconnect moves the choice in its transaction).
      const { endpoints, currentAccountId } = await this.endpoints.findFanOutTargets(
        userId,
        types,
        tx,
      );
      if (endpoints.length === 0) continue;
      const rows: NewWebhookDelivery[] = [];
      const read = new Map<string, ClientAccount | null>();
      for (const { event, type } of typed) {
        const subscribed = endpoints.filter(
          (e) => e.events.includes(type) || e.events.includes(ALL_WEBHOOK_EVENTS),
        );
        if (subscribed.length === 0) continue;
        // Read in the events' transaction: the account as the change that caused them left it.
        let account = event.account;
        if (!account) {
          if (!read.has(event.accountId)) {
            read.set(event.accountId, await this.accounts.findById(event.accountId, tx));
          }
          account = read.get(event.accountId) ?? undefined;
        }
        if (!account) {
          this.logger.warn(
            { accountId: event.accountId, eventId: event.id, type },
            'account event without its account: no webhook delivery',
          );
          continue;
        }
        const payload = accountEventPayload(event, type, account, currentAccountId);
        for (const endpoint of subscribed) {
          rows.push({
            endpointId: endpoint.id,
            eventId: event.id,
            accountEventId: event.id,
            accountId: event.accountId,
            eventType: type,
            payload,
          });
        }
      }
      // In the events' order: a pair's deliveries go out in the order they are inserted.
      const streams = await this.deliveries.createMany(rows, tx);
      for (const endpointId of new Set(streams.map((s) => s.endpointId))) {
        await requestEndpointDrain(this.queue, endpointId, { tx });
      }
      written += rows.length;
    }
    return written;
  }
}
