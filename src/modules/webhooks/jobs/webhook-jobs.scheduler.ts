import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { APP_CONFIG } from '../../../config/config.module';
import type { AppConfig } from '../../../config/config';
import { type JobEnd, JobQueue } from '../../../infrastructure/jobs/job-queue';
import { type DrainResult, WebhookDeliveryService } from '../services/webhook-delivery.service';

/** Every minute: a lost drain costs a delivery at most a minute (pg-boss crons are per minute). */
export const WEBHOOK_SWEEP_CRON = '* * * * *';

/**
 * A drain that found nothing more to do, or ran out of budget and asked for a successor at once,
 * lets the drain that deliveries committed meanwhile asked for start as soon as its key is free:
 * fetched while this one ran, that one was put off for DEFER_MS, and a sweep's deliveries stood
 * still for 5–7 s each time (seen in bench:sync as flat stretches). A drain that queued itself for
 * later (a retry's back-off, a head not yet due) keeps that delay.
 */
export function handOverAfter(result: DrainResult): JobEnd {
  return { handOver: result.stopped === 'empty' || result.stopped === 'yielded' };
}

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
      async (job) => handOverAfter(await this.delivery.drain(job.data)),
      { concurrency: this.config.webhooks.concurrency },
    );
    await this.queue.work(
      'webhook.deliver-endpoint',
      async (job) => handOverAfter(await this.delivery.drainEndpoint(job.data.endpointId)),
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
