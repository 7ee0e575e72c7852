import { lookup } from 'node:dns';
import { Inject, Module, type OnApplicationShutdown } from '@nestjs/common';
import { APP_CONFIG } from '../../config/config.module';
import type { AppConfig } from '../../config/config';
import { CLIENT_ACCOUNT_REPOSITORY } from '../../domain/repositories/client-account.repository.interface';
import { CURRENT_ACCOUNT_REPOSITORY } from '../../domain/repositories/current-account.repository.interface';
import { WEBHOOK_DELIVERY_REPOSITORY } from '../../domain/repositories/webhook-delivery.repository.interface';
import { WEBHOOK_ENDPOINT_REPOSITORY } from '../../domain/repositories/webhook-endpoint.repository.interface';
import { PostgresClientAccountRepository } from '../../infrastructure/database/repositories/postgres-client-account.repository';
import { PostgresCurrentAccountRepository } from '../../infrastructure/database/repositories/postgres-current-account.repository';
import { PostgresWebhookDeliveryRepository } from '../../infrastructure/database/repositories/postgres-webhook-delivery.repository';
import { PostgresWebhookEndpointRepository } from '../../infrastructure/database/repositories/postgres-webhook-endpoint.repository';
import { WebhookClient } from '../../infrastructure/http/webhook-client';
import { WebhooksController } from './controllers/webhooks.controller';
import { WebhookJobsScheduler } from './jobs/webhook-jobs.scheduler';
import { WebhookDeliveryService } from './services/webhook-delivery.service';
import { WEBHOOK_RESOLVER, WebhookEndpointsService } from './services/webhook-endpoints.service';
import { WebhookFanoutService } from './services/webhook-fanout.service';

/** Outgoing webhooks: endpoints, the outbox's fan-out, signed deliveries in order per account. */
@Module({
  controllers: [WebhooksController],
  providers: [
    { provide: WEBHOOK_ENDPOINT_REPOSITORY, useClass: PostgresWebhookEndpointRepository },
    { provide: WEBHOOK_DELIVERY_REPOSITORY, useClass: PostgresWebhookDeliveryRepository },
    { provide: CLIENT_ACCOUNT_REPOSITORY, useClass: PostgresClientAccountRepository },
    { provide: CURRENT_ACCOUNT_REPOSITORY, useClass: PostgresCurrentAccountRepository },
    { provide: WEBHOOK_RESOLVER, useValue: lookup },
    {
      provide: WebhookClient,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) =>
        new WebhookClient({
          timeoutMs: config.webhooks.timeoutMs,
          allowPrivateTargets: config.webhooks.allowPrivateTargets,
        }),
    },
    WebhookEndpointsService,
    WebhookFanoutService,
    WebhookDeliveryService,
    WebhookJobsScheduler,
  ],
  exports: [WebhookEndpointsService, WebhookDeliveryService],
})
export class WebhooksModule implements OnApplicationShutdown {
  constructor(@Inject(WebhookClient) private readonly client: WebhookClient) {}

  /** After the job queue let running drains finish: sockets in flight complete first. */
  async onApplicationShutdown(): Promise<void> {
    await this.client.close();
  }
}
