import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { APP_CONFIG } from '../../../config/config.module';
import type { AppConfig } from '../../../config/config';
import { JobQueue } from '../../../infrastructure/jobs/job-queue';
import { WebhookDeliveryService } from '../services/webhook-delivery.service';

/** Every minute: a lost drain costs a delivery at most a minute (pg-boss crons are per minute). */
export const WEBHOOK_SWEEP_CRON = '* * * * *';

/**
 * Registers the delivery workers and the sweep. A worker process also sweeps once at start, so
 * deliveries left behind by a process that died (its jobs lost or held) move at once.
 */
@Injectable()
export class WebhookJobsScheduler implements OnApplicationBootstrap {
  constructor(
    private readonly queue: JobQueue,
    private readonly delivery: WebhookDeliveryService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    if (!this.queue.workersEnabled) return;
    await this.queue.work(
      'webhook.deliver',
      async (job) => {
        await this.delivery.drain(job.data);
      },
      { concurrency: this.config.webhooks.concurrency },
    );
    await this.queue.work(
      'webhook.deliver-endpoint',
      async (job) => {
        await this.delivery.drainEndpoint(job.data.endpointId);
      },
      // Endpoints at once (one drain per endpoint anywhere), each up to as many of its pairs: a
      // receiver that hangs holds its own drain, not the other endpoints'.
      { concurrency: this.config.webhooks.concurrency },
    );
    await this.queue.work('webhooks.sweep', async () => {
      await this.delivery.sweep();
    });
    await this.queue.schedule('webhooks.sweep', WEBHOOK_SWEEP_CRON, {});
    await this.queue.enqueue('webhooks.sweep', {}, { singletonKey: 'webhooks.sweep' });
  }
}
