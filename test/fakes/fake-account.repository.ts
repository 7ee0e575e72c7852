import { randomUUID } from 'node:crypto';
import {
  type AccountMetadata,
  AccountStatus,
  type ClientAccount,
  InstagramAccountType,
  SocialPlatform,
} from '../../src/domain/entities/client-account.entity';
import {
  type AccountPageCursor,
  type AccountUpdate,
  type ConnectAccountInput,
  type ConnectOutcome,
  type IClientAccountRepository,
  UPDATABLE_ACCOUNT_FIELDS,
} from '../../src/domain/repositories/client-account.repository.interface';

const HOUR = 3_600_000;
const clone = <T>(value: T): T => structuredClone(value);

/** Accounts in a Map, with what the unit tests need to look at: locks, transactions, snapshots. */
export class FakeAccountRepository implements IClientAccountRepository {
  rows = new Map<string, ClientAccount>();
  snapshots: ClientAccount[] = [];
  expiringHours: number[] = [];
  /** The transaction handle of every write and lock, in order. */
  txSeen: unknown[] = [];
  /** Runs inside findByIdForUpdate: lets a test change the row "concurrently". */
  onLock: ((id: string) => void) | undefined;

  /** An account with valid defaults; `overrides` states what the test is about. */
  seed(overrides: Partial<ClientAccount> = {}): ClientAccount {
    const now = new Date(Date.now() - 60_000);
    const account: ClientAccount = {
      id: randomUUID(),
      userId: randomUUID(),
      platform: SocialPlatform.INSTAGRAM,
      platformAccountId: `17841${Math.floor(Math.random() * 1e12)}`,
      username: 'seller',
      displayName: 'Seller',
      followerCount: 10,
      followingCount: 5,
      mediaCount: 1,
      status: AccountStatus.ACTIVE,
      accountType: InstagramAccountType.BUSINESS,
      metadata: {},
      permissions: ['instagram_business_basic'],
      createdAt: now,
      updatedAt: now,
      tokenExpiresAt: new Date(Date.now() + 50 * 24 * HOUR),
      ...overrides,
    };
    this.rows.set(account.id, clone(account));
    return account;
  }

  get(id: string): ClientAccount {
    return clone(this.rows.get(id)!);
  }

  async create(): Promise<ClientAccount> {
    throw new Error('not used by the services');
  }
  async findById(id: string) {
    const row = this.rows.get(id);
    return row ? clone(row) : null;
  }
  async findByUserId(userId: string) {
    return [...this.rows.values()].filter((r) => r.userId === userId).map(clone);
  }
  async findByPlatformAccountId(platform: string, platformAccountId: string) {
    const row = [...this.rows.values()].find(
      (r) => (r.platform as string) === platform && r.platformAccountId === platformAccountId,
    );
    return row ? clone(row) : null;
  }
  async update(id: string, updates: AccountUpdate, tx?: unknown) {
    this.txSeen.push(tx);
    const row = this.rows.get(id);
    if (!row) return null;
    for (const [key, value] of Object.entries(updates)) {
      if (value === undefined) continue;
      if (!(UPDATABLE_ACCOUNT_FIELDS as readonly string[]).includes(key)) {
        throw new TypeError(`${key} is not updatable`);
      }
      (row as unknown as Record<string, unknown>)[key] = value === null ? undefined : value;
    }
    row.updatedAt = new Date();
    return clone(row);
  }
  async delete(id: string, tx?: unknown) {
    this.txSeen.push(tx);
    this.rows.delete(id);
  }
  async updateStatus(id: string, status: AccountStatus) {
    await this.update(id, { status });
  }
  async updateMetadata(id: string, metadata: AccountMetadata) {
    await this.update(id, { metadata, lastSyncAt: new Date() });
  }
  async findExpiringSoon(hours: number) {
    this.expiringHours.push(hours);
    return [];
  }
  async findRefreshable(): Promise<ClientAccount[]> {
    throw new Error('not used by the services');
  }
  async listIds(options: { userId?: string; afterId?: string; limit: number }) {
    return [...this.rows.values()]
      .filter((a) => options.userId === undefined || a.userId === options.userId)
      .map((a) => a.id)
      .sort()
      .filter((id) => options.afterId === undefined || id > options.afterId)
      .slice(0, options.limit);
  }
  /** The fake knows no current account: the services' specs never ask it for one. */
  async findByIdWithCurrent(id: string, _userId: string) {
    const account = await this.findById(id);
    return account ? { account, currentId: null } : null;
  }
  async listPageWithTotal(userId: string, limit: number, after: AccountPageCursor | null) {
    const all = (await this.findByUserId(userId)).sort((a, b) => (a.id < b.id ? 1 : -1));
    const start = after ? all.findIndex((a) => a.id === after.id) + 1 : 0;
    const page = all.slice(start, start + limit);
    const last = page.at(-1);
    const next =
      start + limit < all.length && last
        ? { createdAt: '2030-01-01T00:00:00.000000Z', id: last.id }
        : null;
    // As findByIdWithCurrent: no current account here.
    return { accounts: page, next, total: all.length, currentId: null };
  }
  async upsertConnected(input: ConnectAccountInput, tx?: unknown): Promise<ConnectOutcome> {
    this.txSeen.push(tx);
    const existing = [...this.rows.values()].find(
      (r) => r.platformAccountId === input.platformAccountId,
    );
    if (existing && existing.userId !== input.userId) return { outcome: 'owned_by_other' };
    if (existing) {
      const previousStatus = existing.status;
      const metadata = { ...existing.metadata };
      delete metadata.errorDetails;
      delete metadata.rateLimitedUntil;
      Object.assign(existing, {
        username: input.username,
        status: AccountStatus.ACTIVE,
        metadata: { ...metadata, ...input.metadata },
        permissions: input.permissions,
        tokenExpiresAt: input.tokenExpiresAt ?? undefined,
      });
      return { outcome: 'reconnected', account: clone(existing), previousStatus };
    }
    const account = this.seed({
      userId: input.userId,
      platformAccountId: input.platformAccountId,
      username: input.username,
      displayName: input.displayName,
      profilePictureUrl: input.profilePictureUrl,
      followerCount: input.followerCount,
      followingCount: input.followingCount,
      mediaCount: input.mediaCount,
      biography: input.biography,
      website: input.website,
      accountType: input.accountType,
      metadata: input.metadata,
      permissions: input.permissions,
      tokenExpiresAt: input.tokenExpiresAt ?? undefined,
    });
    return { outcome: 'created', account };
  }
  async findByInstagramUserId() {
    return [];
  }
  async findDueForSync() {
    return [];
  }
  async findByIdForUpdate(id: string, tx: unknown) {
    this.txSeen.push(tx);
    this.onLock?.(id);
    return this.findById(id);
  }
  async findByIdsForUpdate(ids: readonly string[], tx: unknown) {
    const found: ClientAccount[] = [];
    for (const id of [...ids].sort()) {
      const account = await this.findByIdForUpdate(id, tx);
      if (account) found.push(account);
    }
    return found;
  }
  async updateMany(updates: readonly { id: string; changes: AccountUpdate }[], tx: unknown) {
    const written: ClientAccount[] = [];
    for (const { id, changes } of updates) {
      const account = await this.update(id, changes, tx);
      if (account) written.push(account);
    }
    return written;
  }
  async recordMetricSnapshot(account: ClientAccount, tx?: unknown) {
    this.txSeen.push(tx);
    this.snapshots.push(clone(account));
  }
}
