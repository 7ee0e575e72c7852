import { Injectable } from '@nestjs/common';
import type {
  AccountEventListener,
  AppendedAccountEvent,
} from '../../domain/repositories/account-event.repository.interface';
import type { Queryable } from '../../domain/repositories/queryable';

/**
 * Who hears of every appended account event, inside its transaction. One per application (the
 * database module provides it), shared by every account event repository instance, so no append
 * anywhere can bypass the outbox's fan-out. Registered at module init by the listeners' owners.
 */
@Injectable()
export class AccountEventListeners {
  private readonly listeners: AccountEventListener[] = [];

  add(listener: AccountEventListener): void {
    this.listeners.push(listener);
  }

  get any(): boolean {
    return this.listeners.length > 0;
  }

  async notify(events: readonly AppendedAccountEvent[], tx: Queryable): Promise<void> {
    for (const listener of this.listeners) await listener(events, tx);
  }
}
