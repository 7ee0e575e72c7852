import type { Queryable } from './queryable';
import type { AccountEvent, AccountEventType } from '../entities/account-event.entity';

export const ACCOUNT_EVENT_REPOSITORY = Symbol('ACCOUNT_EVENT_REPOSITORY');

export interface NewAccountEvent {
  accountId: string;
  userId: string;
  type: AccountEventType;
  data?: Record<string, unknown>;
}

export interface AccountEventCursor {
  createdAt: string;
  id: string;
}

export interface IAccountEventRepository {
  append(event: NewAccountEvent, tx?: Queryable): Promise<void>;
  /** Newest first, keyset-paginated. */
  listByAccount(
    accountId: string,
    limit: number,
    after: AccountEventCursor | null,
  ): Promise<{ events: AccountEvent[]; next: AccountEventCursor | null }>;
  deleteByAccount(accountId: string, tx?: Queryable): Promise<number>;
}
