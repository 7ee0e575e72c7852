import type { Queryable } from './queryable';
import type { AccountEvent, AccountEventType } from '../entities/account-event.entity';
import type { ClientAccount } from '../entities/client-account.entity';

export const ACCOUNT_EVENT_REPOSITORY = Symbol('ACCOUNT_EVENT_REPOSITORY');

export interface NewAccountEvent {
  accountId: string;
  userId: string;
  type: AccountEventType;
  data?: Record<string, unknown>;
  /**
   * The account as this event leaves it, for the listeners (the webhook payload), when its row
   * cannot tell: a deleted account's last state. Not stored with the event.
   */
  account?: ClientAccount;
}

/** An event just appended, as a listener sees it inside the append's transaction. */
export interface AppendedAccountEvent extends AccountEvent {
  account?: ClientAccount;
}

/**
 * Runs inside the transaction that appends the events (the outbox's fan-out): what it writes
 * commits with them, and if it fails the events and the change that caused them fail too. The
 * events of one append, in their order.
 */
export type AccountEventListener = (
  events: readonly AppendedAccountEvent[],
  tx: Queryable,
) => Promise<void>;

export interface AccountEventCursor {
  createdAt: string;
  id: string;
}

export interface IAccountEventRepository {
  append(event: NewAccountEvent, tx?: Queryable): Promise<void>;
  /**
   * The events of one change, in this order (the history and the deliveries keep it), in one
   * statement; the listeners hear them together.
   */
  appendAll(events: readonly NewAccountEvent[], tx?: Queryable): Promise<void>;
  /** Newest first, keyset-paginated. */
  listByAccount(
    accountId: string,
    limit: number,
    after: AccountEventCursor | null,
  ): Promise<{ events: AccountEvent[]; next: AccountEventCursor | null }>;
  deleteByAccount(accountId: string, tx?: Queryable): Promise<number>;
  /** Which of `types` the account's most recent event of those types is; null for none. */
  latestOf(
    accountId: string,
    types: AccountEventType[],
    tx?: Queryable,
  ): Promise<AccountEventType | null>;
}
