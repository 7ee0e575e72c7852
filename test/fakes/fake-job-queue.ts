import { randomUUID } from 'node:crypto';

/** Remembers what was queued, with its options (the transaction, the singleton key). */
export class FakeJobQueue {
  enqueued: Array<{ name: string; data: unknown; options: Record<string, unknown> }> = [];
  async enqueue(name: string, data: unknown, options: Record<string, unknown> = {}) {
    this.enqueued.push({ name, data, options });
    return randomUUID();
  }
}
