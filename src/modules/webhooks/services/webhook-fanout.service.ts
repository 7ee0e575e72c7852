import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import type { Logger } from 'pino';
import { ROOT_LOGGER } from '../../../common/logging/logging.module';
import { webhookTypeOf } from '../../../domain/entities/webhook.entity';
import type { AppendedAccountEvent } from '../../../domain/repositories/account-event.repository.interface';
import {
  CLIENT_ACCOUNT_REPOSITORY,
  type IClientAccountRepository,
} from '../../../domain/repositories/client-account.repository.interface';
import {
  CURRENT_ACCOUNT_REPOSITORY,
  type ICurrentAccountRepository,
} from '../../../domain/repositories/current-account.repository.interface';
import type { Queryable } from '../../../domain/repositories/queryable';
import {
  type IWebhookDeliveryRepository,
  WEBHOOK_DELIVERY_REPOSITORY,
} from '../../../domain/repositories/webhook-delivery.repository.interface';
import {
  type IWebhookEndpointRepository,
  WEBHOOK_ENDPOINT_REPOSITORY,
} from '../../../domain/repositories/webhook-endpoint.repository.interface';
import { AccountEventListeners } from '../../../infrastructure/database/account-event-listeners';
import { JobQueue } from '../../../infrastructure/jobs/job-queue';
import { requestDrain } from '../jobs/webhook-drains';
import { accountEventPayload } from '../webhook-payload';

/**
 * The outbox's fan-out: for every account event appended anywhere, inside the transaction that
 * appends it, one delivery row per endpoint of the account's owner subscribed to that event, and
 * a drain job for each (endpoint, account) pair. So a delivery exists exactly when its event does,
 * and a crash between the change and the delivery loses nothing.
 */
@Injectable()
export class WebhookFanoutService implements OnModuleInit {
  private readonly logger: Logger;

  constructor(
    private readonly listeners: AccountEventListeners,
    @Inject(WEBHOOK_ENDPOINT_REPOSITORY) private readonly endpoints: IWebhookEndpointRepository,
    @Inject(WEBHOOK_DELIVERY_REPOSITORY) private readonly deliveries: IWebhookDeliveryRepository,
    @Inject(CLIENT_ACCOUNT_REPOSITORY) private readonly accounts: IClientAccountRepository,
    @Inject(CURRENT_ACCOUNT_REPOSITORY) private readonly current: ICurrentAccountRepository,
    private readonly queue: JobQueue,
    @Inject(ROOT_LOGGER) logger: Logger,
  ) {
    this.logger = logger.child({ component: 'webhooks' });
  }

  onModuleInit(): void {
    this.listeners.add(async (event, tx) => {
      await this.fanOut(event, tx);
    });
  }

  /** The number of deliveries written. */
  async fanOut(event: AppendedAccountEvent, tx: Queryable): Promise<number> {
    const type = webhookTypeOf(event.type);
    if (!type) return 0;
    const endpoints = await this.endpoints.findSubscribed(event.userId, type, tx);
    if (endpoints.length === 0) return 0;
    // Read in the event's transaction: the account as the change that caused the event left it.
    const account = event.account ?? (await this.accounts.findById(event.accountId, tx));
    if (!account) {
      this.logger.warn(
        { accountId: event.accountId, eventId: event.id, type },
        'account event without its account: no webhook delivery',
      );
      return 0;
    }
    // `isCurrent` too is as the change left it (a disconnect moves the choice in its transaction).
    const currentId = await this.current.findCurrentId(event.userId, tx);
    const payload = accountEventPayload(event, type, account, currentId);
    const streams = await this.deliveries.createMany(
      endpoints.map((endpoint) => ({
        endpointId: endpoint.id,
        eventId: event.id,
        accountEventId: event.id,
        accountId: event.accountId,
        eventType: type,
        payload,
      })),
      tx,
    );
    for (const stream of streams) await requestDrain(this.queue, stream, { tx });
    return endpoints.length;
  }
}
