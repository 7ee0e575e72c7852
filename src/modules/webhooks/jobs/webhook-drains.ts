import type { DeliveryStream } from '../../../domain/repositories/webhook-delivery.repository.interface';
import type { Queryable } from '../../../domain/repositories/queryable';
import type { JobQueue } from '../../../infrastructure/jobs/job-queue';

/**
 * One queued drain per (endpoint, account) pair: the queue's singleton key. A second request for a
 * pair that already has one queued is dropped, which is harmless: the rows are the truth, and the
 * queued drain delivers whatever is pending when it runs.
 */
export function drainKey(stream: DeliveryStream): string {
  return `webhook:${stream.endpointId}:${stream.accountId ?? 'ping'}`;
}

/** One queued drain per endpoint, as per pair. */
export function endpointDrainKey(endpointId: string): string {
  return `webhook:${endpointId}`;
}

export type DrainQueue = Pick<JobQueue, 'enqueue' | 'enqueueMany'>;

interface DrainRequest {
  /** The caller's transaction: the drain exists only if the deliveries do. */
  tx?: Queryable;
  startAfter?: Date;
}

/** The queue's options for one drain under `singletonKey`. */
function drainOptions(singletonKey: string, request: DrainRequest) {
  return {
    singletonKey,
    ...(request.tx ? { tx: request.tx } : {}),
    ...(request.startAfter ? { startAfter: request.startAfter } : {}),
  };
}

/** Asks for a drain of the pair. */
export async function requestDrain(
  queue: DrainQueue,
  stream: DeliveryStream,
  options: DrainRequest = {},
): Promise<boolean> {
  const id = await queue.enqueue(
    'webhook.deliver',
    { endpointId: stream.endpointId, accountId: stream.accountId },
    drainOptions(drainKey(stream), options),
  );
  return id !== null;
}

/** Asks for a drain of every pair of the endpoint. */
export async function requestEndpointDrain(
  queue: DrainQueue,
  endpointId: string,
  options: DrainRequest = {},
): Promise<boolean> {
  const id = await queue.enqueue(
    'webhook.deliver-endpoint',
    { endpointId },
    drainOptions(endpointDrainKey(endpointId), options),
  );
  return id !== null;
}

/** Drains for many pairs in one statement per thousand (the sweep); how many were queued. */
export function requestDrains(queue: DrainQueue, streams: DeliveryStream[]): Promise<number> {
  return queue.enqueueMany(
    'webhook.deliver',
    streams.map((stream) => ({
      data: { endpointId: stream.endpointId, accountId: stream.accountId },
      singletonKey: drainKey(stream),
    })),
  );
}
