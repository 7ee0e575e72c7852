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
  create(confirmationCode: string, instagramUserId: string): Promise<DataDeletionRequest>;
  findByCode(confirmationCode: string): Promise<DataDeletionRequest | null>;
  markCompleted(confirmationCode: string, accountsDeleted: number, tx?: Queryable): Promise<void>;
  markFailed(confirmationCode: string): Promise<void>;
}
