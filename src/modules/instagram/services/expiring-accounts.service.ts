import { BadRequestException, Inject, Injectable } from '@nestjs/common';
import { CLOCK, type Clock } from '../../../common/clock/clock';
import type { ClientAccount } from '../../../domain/entities/client-account.entity';
import {
  EXPIRING_ACCOUNT_REPOSITORY,
  type IExpiringAccountRepository,
} from '../../../domain/repositories/expiring-account.repository.interface';
import { decodeCursor, encodeCursor, pageSize } from '../dto/pagination';

export const DEFAULT_EXPIRING_DAYS = 7;
export const MAX_EXPIRING_DAYS = 60;
const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * The spec's findExpiringSoon for one person: their accounts whose token still works and lapses
 * within N days, soonest first, so they can act before it does.
 */
@Injectable()
export class ExpiringAccountsService {
  constructor(
    @Inject(EXPIRING_ACCOUNT_REPOSITORY) private readonly accounts: IExpiringAccountRepository,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  async list(
    userId: string,
    query: { days?: number | undefined; limit?: number | undefined; cursor?: string | undefined },
  ): Promise<{ accounts: ClientAccount[]; total: number; nextCursor: string | null }> {
    const days = query.days ?? DEFAULT_EXPIRING_DAYS;
    if (!Number.isInteger(days) || days < 1 || days > MAX_EXPIRING_DAYS) {
      throw new BadRequestException(`days must be an integer from 1 to ${MAX_EXPIRING_DAYS}`);
    }
    const limit = pageSize(query.limit);
    const after = query.cursor === undefined ? null : decodeCursor(query.cursor);
    const now = this.clock.now();
    const page = await this.accounts.listExpiringByUserId(
      userId,
      { from: now, to: new Date(now.getTime() + days * DAY_MS) },
      limit,
      after,
    );
    return {
      accounts: page.accounts,
      total: page.total,
      nextCursor: page.next ? encodeCursor(page.next) : null,
    };
  }
}
