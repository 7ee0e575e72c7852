import type {
  IAccountMetricsRepository,
  MetricCounts,
} from '../../src/domain/repositories/account-metrics.repository.interface';
import type {
  IAccountPictureRepository,
  KeptPicture,
} from '../../src/domain/repositories/account-picture.repository.interface';
import type { ICurrentAccountRepository } from '../../src/domain/repositories/current-account.repository.interface';
import { AccountStatus } from '../../src/domain/entities/client-account.entity';
import type { FakeAccountRepository } from './fake-account.repository';

/** Snapshots land in the fake accounts' `snapshots` (the account as it was written), with their time. */
export class FakeAccountMetricsRepository implements Pick<IAccountMetricsRepository, 'recordAll'> {
  capturedAt: Date[] = [];

  constructor(private readonly accounts: FakeAccountRepository) {}

  async recordAll(
    snapshots: readonly { accountId: string; counts: MetricCounts }[],
    capturedAt: Date,
    tx?: unknown,
  ) {
    for (const { accountId } of snapshots) {
      this.accounts.txSeen.push(tx);
      this.accounts.snapshots.push(this.accounts.get(accountId));
      this.capturedAt.push(capturedAt);
    }
  }
}

/** The choice per user in a Map; the fallback reads the fake accounts as the SQL reads the table. */
export class FakeCurrentAccountRepository implements ICurrentAccountRepository {
  chosen = new Map<string, string | null>();
  moves: Array<{ userId: string; accountId: string; tx: unknown }> = [];

  constructor(private readonly accounts: FakeAccountRepository) {}

  async findCurrentId(userId: string) {
    const choice = this.chosen.get(userId);
    if (choice) return choice;
    return this.newestUsable(userId, undefined);
  }

  async choose(userId: string, accountId: string) {
    this.chosen.set(userId, accountId);
  }

  async moveOff(userId: string, accountId: string, tx?: unknown) {
    this.moves.push({ userId, accountId, tx });
    if (this.chosen.get(userId) !== accountId) return false;
    this.chosen.set(userId, this.newestUsable(userId, accountId));
    return true;
  }

  private newestUsable(userId: string, except: string | undefined): string | null {
    const usable = [...this.accounts.rows.values()]
      .filter((a) => a.userId === userId && a.id !== except)
      .filter((a) => a.status !== AccountStatus.DISCONNECTED)
      .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || (a.id < b.id ? 1 : -1));
    return usable[0]?.id ?? null;
  }
}

export class FakeAccountPictureRepository implements IAccountPictureRepository {
  pictures = new Map<string, KeptPicture>();

  async find(accountId: string) {
    return this.pictures.get(accountId) ?? null;
  }

  async save(picture: KeptPicture) {
    this.pictures.set(picture.accountId, { ...picture });
  }

  async delete(accountId: string) {
    this.pictures.delete(accountId);
  }
}
