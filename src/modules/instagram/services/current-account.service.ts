import { Inject, Injectable, NotFoundException } from '@nestjs/common';
import type { ClientAccount } from '../../../domain/entities/client-account.entity';
import {
  CLIENT_ACCOUNT_REPOSITORY,
  type IClientAccountRepository,
} from '../../../domain/repositories/client-account.repository.interface';
import {
  CURRENT_ACCOUNT_REPOSITORY,
  type ICurrentAccountRepository,
} from '../../../domain/repositories/current-account.repository.interface';
import type { Queryable } from '../../../infrastructure/database/database';
import { ACCOUNT_NOT_FOUND, loadAccount } from './account-access';

export const NO_CURRENT_ACCOUNT =
  'No current account: connect an Instagram account, or name one with X-Instagram-Account-Id';

/**
 * The account a person works in (account switching). Kept per user in PostgreSQL, so it is the
 * same for the cookie and for Bearer tokens. Until the person chooses, it is their most recently
 * connected account that is not disconnected. Any status may be chosen: a person switches to a
 * broken account to fix it.
 */
@Injectable()
export class CurrentAccountService {
  constructor(
    @Inject(CURRENT_ACCOUNT_REPOSITORY) private readonly current: ICurrentAccountRepository,
    @Inject(CLIENT_ACCOUNT_REPOSITORY) private readonly accounts: IClientAccountRepository,
  ) {}

  /** One statement; null when the user has no account to work in. */
  async currentId(userId: string): Promise<string | null> {
    return this.current.findCurrentId(userId);
  }

  /** 404 when the user has no account. */
  async getCurrent(userId: string): Promise<ClientAccount> {
    const id = await this.current.findCurrentId(userId);
    const account = id ? await this.accounts.findById(id) : null;
    // Deleted between the two reads: the next request sees the fallback.
    if (!account || account.userId !== userId) throw new NotFoundException(NO_CURRENT_ACCOUNT);
    return account;
  }

  /** The user's own account by id (404, 403), for the header that names one. */
  async getOwned(accountId: string, userId: string): Promise<ClientAccount> {
    return loadAccount(this.accounts, accountId, userId);
  }

  /** Switches to one of the user's accounts (404 unknown, 403 another user's). */
  async choose(userId: string, accountId: string): Promise<ClientAccount> {
    const account = await this.getOwned(accountId, userId);
    try {
      await this.current.choose(userId, accountId);
    } catch (error) {
      // 23503: the account was deleted between the check and the write.
      if ((error as { code?: unknown }).code === '23503') {
        throw new NotFoundException(ACCOUNT_NOT_FOUND);
      }
      throw error;
    }
    return account;
  }

  /**
   * For the transaction that disconnects or deletes an account: if it was the user's choice,
   * the choice moves to their most recently connected remaining account that is not
   * disconnected, or to none. An unchosen default moves by itself.
   */
  async moveOff(userId: string, accountId: string, tx: Queryable): Promise<boolean> {
    return this.current.moveOff(userId, accountId, tx);
  }
}
