import { ForbiddenException, NotFoundException } from '@nestjs/common';
import type { ClientAccount } from '../../../domain/entities/client-account.entity';
import type { IClientAccountRepository } from '../../../domain/repositories/client-account.repository.interface';

export const ACCOUNT_NOT_FOUND = 'Account not found';
export const ACCOUNT_FORBIDDEN = 'Access denied to this account';

/**
 * The account a request or a job is about: 404 when there is none; with `userId` (a person's
 * request), 403 when it is another user's. Jobs pass no user.
 */
export async function loadAccount(
  accounts: Pick<IClientAccountRepository, 'findById'>,
  accountId: string,
  userId?: string,
): Promise<ClientAccount> {
  const account = await accounts.findById(accountId);
  if (!account) throw new NotFoundException(ACCOUNT_NOT_FOUND);
  if (userId !== undefined && account.userId !== userId) {
    throw new ForbiddenException(ACCOUNT_FORBIDDEN);
  }
  return account;
}
