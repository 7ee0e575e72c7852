import type { JobPayloads } from '../../../infrastructure/jobs/job-names';
import type { JobQueue } from '../../../infrastructure/jobs/job-queue';
import { classifyFailure } from '../services/account-failure';

/** Spread re-scheduled jobs so accounts blocked by one app-wide limit do not all wake at once. */
export const RESCHEDULE_JITTER_MS = 30_000;

/** `at` plus up to {@link RESCHEDULE_JITTER_MS}, and never in the past. */
export function withJitter(at: Date, now: Date = new Date()): Date {
  const base = Math.max(at.getTime(), now.getTime());
  return new Date(base + Math.floor(Math.random() * RESCHEDULE_JITTER_MS));
}

/** A job error to throw for a retry, without the original's properties (values, requests). */
export class RetryableJobError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RetryableJobError';
  }
}

/** One account, one queued job of each kind: the key the queue's singleton policy uses. */
export function accountJobKey(accountId: string): string {
  return accountId;
}

/** The jobs about one account, which fail and come back the same way. */
export type AccountJobName = 'account.sync' | 'account.refresh-token';

/** Queues the job again for `at` (jittered); false when one is already queued for the account. */
export async function requeueAt<N extends AccountJobName>(
  queue: JobQueue,
  name: N,
  data: JobPayloads[N],
  at: Date,
): Promise<{ startAfter: Date; queued: boolean }> {
  const startAfter = withJitter(at);
  const id = await queue.enqueue(name, data, {
    singletonKey: accountJobKey(data.accountId),
    startAfter,
  });
  return { startAfter, queued: id !== null };
}

/**
 * Acts on a failure the service reported, as the failure classifier decides (account-failure.ts):
 * Instagram's transient failures (5xx, codes 1/2, network, timeouts) and anything unexpected
 * (the database, a bug) throw a RetryableJobError for pg-boss to retry; a rate limit queues the
 * job again for when it lifts (returning when); a dead token, a missing permission, a refused
 * request or an unreadable stored token end the job: the account's status already says why.
 */
export async function settleFailure<N extends AccountJobName>(
  queue: JobQueue,
  name: N,
  data: JobPayloads[N],
  error: unknown,
): Promise<{ startAfter: Date; queued: boolean } | undefined> {
  const failure = classifyFailure(error);
  if (failure.job === 'reschedule' && failure.retryAt) {
    return requeueAt(queue, name, data, failure.retryAt);
  }
  if (failure.job === 'give_up') return undefined;
  throw new RetryableJobError(
    error instanceof Error ? `${error.name}: ${error.message}` : `${name} failed`,
  );
}
