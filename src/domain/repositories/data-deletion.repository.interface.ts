import type { Queryable } from './queryable';

export const DATA_DELETION_REPOSITORY = Symbol('DATA_DELETION_REPOSITORY');

export type DataDeletionStatus = 'pending' | 'completed' | 'failed';

/** One Meta data-deletion callback and how far its deletion got. */
export interface DataDeletionRequest {
  confirmationCode: string;
  /** The id Meta named the person by (app-scoped). */
  instagramUserId: string;
  status: DataDeletionStatus;
  accountsDeleted: number;
  requestedAt: Date;
  completedAt: Date | null;
}

export interface IDataDeletionRepository {
  /**
   * The request of this person issued at `issuedAt`: created with `confirmationCode`, or the one
   * already recorded (a retry or replay of the same signed_request keeps its first code).
   */
  findOrCreate(
    confirmationCode: string,
    instagramUserId: string,
    issuedAt: Date,
  ): Promise<DataDeletionRequest>;
  /** Locks the request for the rest of the transaction: concurrent deliveries run one by one. */
  findByCodeForUpdate(confirmationCode: string, tx: Queryable): Promise<DataDeletionRequest | null>;
  findByCode(confirmationCode: string): Promise<DataDeletionRequest | null>;
  markCompleted(confirmationCode: string, accountsDeleted: number, tx?: Queryable): Promise<void>;
  markFailed(confirmationCode: string): Promise<void>;
}
