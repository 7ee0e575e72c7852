import { randomUUID } from 'node:crypto';
import {
  type AccountEvent,
  type AccountEventType,
} from '../../src/domain/entities/account-event.entity';
import type {
  AccountEventCursor,
  IAccountEventRepository,
  NewAccountEvent,
} from '../../src/domain/repositories/account-event.repository.interface';

/** The history in an array, oldest first; `of` reads one account's. */
export class FakeAccountEventRepository implements IAccountEventRepository {
  list: AccountEvent[] = [];
  /** What each append was given, and in which transaction. */
  appended: NewAccountEvent[] = [];
  txSeen: unknown[] = [];
  async append(event: NewAccountEvent, tx?: unknown) {
    this.appended.push(event);
    this.txSeen.push(tx);
    this.list.push({
      id: randomUUID(),
      accountId: event.accountId,
      userId: event.userId,
      type: event.type,
      data: structuredClone(event.data ?? {}),
      createdAt: new Date(),
    });
  }
  async appendAll(events: readonly NewAccountEvent[], tx?: unknown) {
    for (const event of events) await this.append(event, tx);
  }
  async listByAccount(accountId: string, limit: number, after: AccountEventCursor | null) {
    const all = this.list.filter((e) => e.accountId === accountId).reverse();
    const start = after ? all.findIndex((e) => e.id === after.id) + 1 : 0;
    const events = all.slice(start, start + limit);
    const last = events.at(-1);
    return {
      events,
      next:
        start + limit < all.length && last
          ? { createdAt: '2030-01-01T00:00:00.000000Z', id: last.id }
          : null,
    };
  }
  async deleteByAccount() {
    return 0;
  }
  async latestOf(accountId: string, types: AccountEventType[]) {
    return this.of(accountId).findLast((e) => types.includes(e.type))?.type ?? null;
  }
  of(accountId: string, type?: AccountEventType) {
    return this.list.filter((e) => e.accountId === accountId && (!type || e.type === type));
  }
}
