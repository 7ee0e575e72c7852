import type { TokenVault } from '../../../infrastructure/crypto/token-vault';
import type { Queryable } from '../../../domain/repositories/queryable';
import type { InstagramClient } from '../../../infrastructure/instagram';
import type { JobQueue } from '../../../infrastructure/jobs/job-queue';

/*
 * What the account services use of their collaborators, and nothing more: the injected objects
 * are the real ones (pg-promise, the vault, the queue, the client); a unit test hands in a fake
 * that implements just this.
 */

/** The database handle, for opening transactions (queries go through the repositories). */
export interface Transactions {
  tx<T>(tag: string, work: (tx: Queryable) => Promise<T>): Promise<T>;
}

export type TokenStore = Pick<TokenVault, 'read' | 'metadata' | 'store' | 'destroy'>;

export type AccountJobs = Pick<JobQueue, 'enqueue'>;

/** The Instagram calls an account's life needs once it is connected. */
export type AccountInstagramCalls = Pick<
  InstagramClient,
  'getProfile' | 'refreshLongLivedToken' | 'revokeToken'
>;
