import { randomUUID } from 'node:crypto';
import type { EnqueueOptions } from '../../src/infrastructure/jobs/job-queue';

/** Remembers what was queued, with its options (the transaction, the singleton key). */
export class FakeJobQueue {
  enqueued: Array<{ name: string; data: unknown; options: EnqueueOptions }> = [];
  async enqueue(name: string, data: unknown, options: EnqueueOptions) {
    this.enqueued.push({ name, data, options });
    return randomUUID();
  }
}
