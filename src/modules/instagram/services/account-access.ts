import { ForbiddenException, NotFoundException } from '@nestjs/common';
import type { ClientAccount } from '../../../domain/entities/client-account.entity';

export const ACCOUNT_NOT_FOUND = 'Account not found';
export const ACCOUNT_FORBIDDEN = 'Access denied to this account';

/** The owner rule every account route shares: no such account 404, another user's 403. */
export function ownedBy(account: ClientAccount | null, userId: string): ClientAccount {
  if (!account) throw new NotFoundException(ACCOUNT_NOT_FOUND);
  if (account.userId !== userId) throw new ForbiddenException(ACCOUNT_FORBIDDEN);
  return account;
}
