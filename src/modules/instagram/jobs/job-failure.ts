import { TokenDecryptionError } from '../../../infrastructure/crypto/token-cipher';
import type { JobPayloads } from '../../../infrastructure/jobs/job-names';
import type { JobQueue } from '../../../infrastructure/jobs/job-queue';
import {
  InstagramApiError,
  InstagramRateLimitError,
  TokenRefreshNotAllowedError,
} from '../../../infrastructure/instagram';

/** Spread re-scheduled jobs so accounts blocked by one app-wide limit do not all wake at once. */
export const RESCHEDULE_JITTER_MS = 30_000;

export type FailureHandling =
  /** Throw: pg-boss retries with backoff (its retry budget is spent). */
  | { action: 'retry' }
  /** Complete this job and queue a new one for when Meta's limit lifts (no retry spent). */
  | { action: 'reschedule'; at: Date }
  /** Complete: retrying cannot help; the account's status already says what is wrong. */
  | { action: 'give_up' };

/**
 * What a job does about a failure its service reported, by error type. Instagram's transient
 * failures (5xx, codes 1/2, network, timeouts) and anything unexpected (the database, a bug)
 * are retried; a dead token, a missing permission, a refused request or an unreadable stored
 * token is not.
 */
export function handlingOf(error: unknown): FailureHandling {
  if (error instanceof InstagramRateLimitError) return { action: 'reschedule', at: error.resetAt };
  if (error instanceof InstagramApiError) {
    switch (error.kind) {
      case 'transient':
      case 'network':
      case 'timeout':
        return { action: 'retry' };
      default:
        return { action: 'give_up' };
    }
  }
  if (error instanceof TokenRefreshNotAllowedError || error instanceof TokenDecryptionError) {
    return { action: 'give_up' };
  }
  return { action: 'retry' };
}

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
 * Acts on a failure the service reported: queues the job again for when a rate limit lifts
 * (returning when), throws a RetryableJobError for pg-boss to retry, or ends the job.
 */
export async function settleFailure<N extends AccountJobName>(
  queue: JobQueue,
  name: N,
  data: JobPayloads[N],
  error: unknown,
): Promise<{ startAfter: Date; queued: boolean } | undefined> {
  const handling = handlingOf(error);
  if (handling.action === 'reschedule') return requeueAt(queue, name, data, handling.at);
  if (handling.action === 'retry') {
    throw new RetryableJobError(
      error instanceof Error ? `${error.name}: ${error.message}` : `${name} failed`,
    );
  }
  return undefined;
}
