import { Inject, Injectable, NotFoundException } from '@nestjs/common';
import type { Logger } from 'pino';
import { Coalescer } from '../../../common/batching/coalescer';
import { CLOCK, type Clock } from '../../../common/clock/clock';
import { loggableError } from '../../../common/logging/loggable-error';
import { ROOT_LOGGER } from '../../../common/logging/logging.module';
import { AccountEventType } from '../../../domain/entities/account-event.entity';
import {
  type AccountMetadata,
  AccountStatus,
  type ClientAccount,
} from '../../../domain/entities/client-account.entity';
import { LOCAL_ERROR_CODES } from '../../../domain/instagram/meta-codes';
import {
  ACCOUNT_EVENT_REPOSITORY,
  type IAccountEventRepository,
  type NewAccountEvent,
} from '../../../domain/repositories/account-event.repository.interface';
import {
  ACCOUNT_METRICS_REPOSITORY,
  type IAccountMetricsRepository,
} from '../../../domain/repositories/account-metrics.repository.interface';
import {
  type AccountUpdate,
  CLIENT_ACCOUNT_REPOSITORY,
  type IClientAccountRepository,
} from '../../../domain/repositories/client-account.repository.interface';
import type { Queryable } from '../../../domain/repositories/queryable';
import {
  isDatabaseUnavailable,
  isQueryReadTimeout,
} from '../../../infrastructure/database/database-errors';
import { PG } from '../../../infrastructure/database/database.module';
import type { InstagramProfile } from '../../../infrastructure/instagram';
import { INSTAGRAM_CLIENT } from '../../../infrastructure/instagram/instagram-client.module';
import type { JobPayloads } from '../../../infrastructure/jobs/job-names';
import { loadAccount } from './account-access';
import { logFailure } from './account-failure';
import {
  AccountPicturesService,
  type PictureDownload,
  withPicture,
} from './account-pictures.service';
import type { AccountInstagramCalls, Transactions } from './account-ports';
import {
  changedFields,
  pictureExpiresAt,
  profileFields,
  rateLimitedUntil,
} from './account-profile';
import { AccountStatusService } from './account-status.service';
import { AccountTokenService } from './account-token.service';

/** `manual` is a person's POST /:id/sync; the others are the `account.sync` job's. */
export type SyncReason = JobPayloads['account.sync']['reason'];

export type SyncSkipReason = 'not_found' | 'no_token' | 'disconnected' | 'rate_limited';

/** A profile Instagram gave, waiting to be written (with its picture, if one was downloaded). */
interface ProfileWrite {
  accountId: string;
  profile: InstagramProfile;
  reason: SyncReason;
  download: PictureDownload | undefined;
}

/**
 * The most syncs one transaction writes. A worker runs JOBS_CONCURRENCY syncs at once, so its
 * batches stay smaller than this unless it is set high; the cap bounds how many row locks one
 * transaction holds, and for how long.
 */
export const MAX_SYNC_WRITE_BATCH = 32;

export type SyncOutcome =
  | { status: 'synced'; account: ClientAccount }
  | { status: 'failed'; account: ClientAccount; error: unknown }
  | { status: 'skipped'; reason: SyncSkipReason; account?: ClientAccount };

/**
 * Asks Instagram about an account: the sync (profile, counts and status) and the status check
 * (status only). Reads, calls Instagram with no transaction open, then writes under the row lock.
 * Instagram's failures are recorded on the account and returned, never thrown.
 */
@Injectable()
export class AccountSyncService {
  private readonly logger: Logger;
  /** Profiles that arrive while a batch is being written go together in the next one. */
  private readonly writes = new Coalescer<ProfileWrite, SyncOutcome>(
    (batch) => this.writeBatch(batch),
    // One write per account in a batch: a second sync of it waits and sees the first's row.
    { maxBatch: MAX_SYNC_WRITE_BATCH, keyOf: (write) => write.accountId },
  );

  constructor(
    @Inject(CLIENT_ACCOUNT_REPOSITORY) private readonly accounts: IClientAccountRepository,
    @Inject(ACCOUNT_EVENT_REPOSITORY) private readonly events: IAccountEventRepository,
    @Inject(INSTAGRAM_CLIENT) private readonly client: AccountInstagramCalls,
    @Inject(PG) private readonly db: Transactions,
    private readonly status: AccountStatusService,
    private readonly tokens: AccountTokenService,
    private readonly pictures: AccountPicturesService,
    @Inject(ACCOUNT_METRICS_REPOSITORY)
    private readonly metrics: Pick<IAccountMetricsRepository, 'recordAll'>,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(ROOT_LOGGER) logger: Logger,
  ) {
    this.logger = logger.child({ component: 'instagram-accounts' });
  }

  /**
   * The one sync, for a person's request and for the job alike; `reason` says which. With
   * `userId` (a person's request) the account must be theirs: 404 / 403 before anything else.
   * Without, an unknown account is a `not_found` skip.
   */
  async sync(accountId: string, reason: SyncReason, userId?: string): Promise<SyncOutcome> {
    let account: ClientAccount;
    if (userId !== undefined) {
      account = await loadAccount(this.accounts, accountId, userId);
    } else {
      const found = await this.accounts.findById(accountId);
      if (!found) return { status: 'skipped', reason: 'not_found' };
      account = found;
    }
    if (account.status === AccountStatus.DISCONNECTED) {
      return { status: 'skipped', reason: 'disconnected', account };
    }
    if (rateLimitedUntil(account, new Date())) {
      return { status: 'skipped', reason: 'rate_limited', account };
    }
    const token = await this.tokens.readToken(account.id);
    if (!token) return { status: 'skipped', reason: 'no_token', account };

    let profile: InstagramProfile;
    try {
      profile = await this.client.getProfile(token.accessToken);
    } catch (error) {
      const { accessToken } = token;
      logFailure(
        this.logger,
        'Instagram account sync failed',
        account.id,
        error,
        accessToken,
        reason,
      );
      const updated = await this.status.recordFailure(
        account.id,
        error,
        accessToken,
        'accounts-sync-failure',
      );
      if (!updated) return { status: 'skipped', reason: 'not_found' };
      return { status: 'failed', account: updated, error };
    }
    // The picture is downloaded here too, with no transaction open; its failure is recorded,
    // never the sync's.
    const pictureUrl = profile.profilePictureUrl;
    const download =
      pictureUrl && this.pictures.shouldFetch(account, pictureUrl, this.clock.now())
        ? await this.pictures.download(pictureUrl)
        : undefined;
    return this.writes.submit({ accountId: account.id, profile, reason, download });
  }

  /**
   * The spec's status check: a token past its expiry is `token_expired` without asking
   * Instagram; otherwise one live profile call decides. A disconnected account stays so (only a
   * reconnect re-activates it) and a rate-limited one is not called before its limit lifts.
   */
  async refreshAccountStatus(accountId: string, userId?: string): Promise<AccountStatus> {
    const account = await loadAccount(this.accounts, accountId, userId);
    if (account.status === AccountStatus.DISCONNECTED) return account.status;
    const now = new Date();
    if (account.tokenExpiresAt && account.tokenExpiresAt.getTime() <= now.getTime()) {
      await this.status.markTokenExpired(accountId, account.tokenExpiresAt);
      return AccountStatus.TOKEN_EXPIRED;
    }
    if (rateLimitedUntil(account, now)) return AccountStatus.RATE_LIMITED;
    const token = await this.tokens.readToken(accountId);
    if (!token) {
      await this.status.markStatus(accountId, AccountStatus.TOKEN_EXPIRED, {
        code: LOCAL_ERROR_CODES.NO_TOKEN,
        message: 'No Instagram token is stored for this account',
        reason: 'no_token',
      });
      return AccountStatus.TOKEN_EXPIRED;
    }
    try {
      await this.client.getProfile(token.accessToken);
    } catch (error) {
      logFailure(this.logger, 'Instagram status check failed', accountId, error, token.accessToken);
      const failed = await this.status.recordFailure(
        accountId,
        error,
        token.accessToken,
        'accounts-status-check',
      );
      if (!failed) throw new NotFoundException('Account not found');
      return failed.status;
    }
    const updated = await this.db.tx('accounts-status-check', (tx) =>
      this.status.applyStatus(tx, accountId, AccountStatus.ACTIVE, {
        reason: 'status_check_succeeded',
        keepDisconnected: true,
      }),
    );
    if (!updated) throw new NotFoundException('Account not found');
    return updated.status;
  }

  /**
   * The syncs that finished talking to Instagram while the batch before them was being written,
   * in one transaction: one lock statement, one update, one insert each of snapshots and events,
   * and so one fan-out of their webhooks. If that transaction fails, each sync is written again
   * in a transaction of its own: one account's bad write (or a deadlock with a person's change)
   * costs that account its sync and nobody else theirs.
   */
  private async writeBatch(
    batch: readonly ProfileWrite[],
  ): Promise<PromiseSettledResult<SyncOutcome>[]> {
    try {
      const outcomes = await this.db.tx('accounts-sync-apply', (tx) =>
        this.applyProfiles(tx, batch),
      );
      return outcomes.map((value) => ({ status: 'fulfilled', value }));
    } catch (error) {
      // With the database gone or not answering, writing each again would only wait longer.
      if (batch.length === 1 || isDatabaseUnavailable(error) || isQueryReadTimeout(error)) {
        return batch.map(() => ({ status: 'rejected', reason: error }));
      }
      this.logger.warn(
        { accounts: batch.length, err: loggableError(error) },
        'a batch of sync writes failed; writing each on its own',
      );
      const settled: PromiseSettledResult<SyncOutcome>[] = [];
      for (const write of batch) {
        try {
          const [value] = await this.db.tx('accounts-sync-apply', (tx) =>
            this.applyProfiles(tx, [write]),
          );
          settled.push({ status: 'fulfilled', value: value! });
        } catch (reason) {
          settled.push({ status: 'rejected', reason });
        }
      }
      return settled;
    }
  }

  /**
   * Each profile written under its row's lock, unless the account went away or was disconnected
   * meanwhile. One outcome per write, in the batch's order.
   */
  private async applyProfiles(
    tx: Queryable,
    batch: readonly ProfileWrite[],
  ): Promise<SyncOutcome[]> {
    const locked = new Map(
      (
        await this.accounts.findByIdsForUpdate(
          batch.map((w) => w.accountId),
          tx,
        )
      ).map((account) => [account.id, account]),
    );
    const now = new Date();
    // History and expiry judgements follow the injectable clock (tests move it with Instagram's).
    const observedAt = this.clock.now();
    const outcomes: SyncOutcome[] = [];
    const applied: { index: number; current: ClientAccount; data: Record<string, unknown> }[] = [];
    const updates: { id: string; changes: AccountUpdate }[] = [];
    for (const [index, write] of batch.entries()) {
      const current = locked.get(write.accountId);
      if (!current) {
        outcomes[index] = { status: 'skipped', reason: 'not_found' };
        continue;
      }
      // Disconnected while Instagram was answering: the user's decision stands.
      if (current.status === AccountStatus.DISCONNECTED) {
        outcomes[index] = { status: 'skipped', reason: 'disconnected', account: current };
        continue;
      }
      const { changes, changed } = await this.profileChanges(tx, current, write, now, observedAt);
      updates.push({ id: current.id, changes });
      applied.push({ index, current, data: { reason: write.reason, changed } });
    }
    const written = new Map(
      (await this.accounts.updateMany(updates, tx)).map((account) => [account.id, account]),
    );
    const synced: ClientAccount[] = [];
    const events: NewAccountEvent[] = [];
    for (const { index, current, data } of applied) {
      const updated = written.get(current.id);
      if (!updated) {
        outcomes[index] = { status: 'skipped', reason: 'not_found' };
        continue;
      }
      outcomes[index] = { status: 'synced', account: updated };
      synced.push(updated);
      const base = { accountId: updated.id, userId: updated.userId };
      events.push({ ...base, type: AccountEventType.SYNCED, data });
      if (current.status !== AccountStatus.ACTIVE) {
        events.push(
          ...(await this.status.transitionEvents(tx, updated, current.status, {
            reason: 'sync_succeeded',
          })),
        );
      }
    }
    // Exactly one snapshot per successful sync (a failed one never gets here).
    await this.metrics.recordAll(
      synced.map((account) => ({
        accountId: account.id,
        counts: {
          followerCount: account.followerCount ?? null,
          followingCount: account.followingCount ?? null,
          mediaCount: account.mediaCount ?? null,
        },
      })),
      observedAt,
      tx,
    );
    // Every account's events in one append (each account's together, in order): one insert and
    // one fan-out for the batch.
    await this.events.appendAll(events, tx);
    return outcomes;
  }

  /** What a sync writes to the account (its picture kept first), and what changed for its event. */
  private async profileChanges(
    tx: Queryable,
    current: ClientAccount,
    write: ProfileWrite,
    now: Date,
    observedAt: Date,
  ): Promise<{ changes: AccountUpdate; changed: Partial<Record<string, unknown>> }> {
    const { profile } = write;
    const fields = profileFields(profile, current);
    const changed = changedFields(current, fields);
    const picture = await this.pictures.settle(
      tx,
      current,
      profile.profilePictureUrl,
      write.download,
      observedAt,
    );
    // A re-signed link to the same picture is not a change worth a line in the history.
    if (!picture.changed) delete changed.profilePictureUrl;
    const metadata: AccountMetadata = withPicture(current.metadata, picture);
    delete metadata.errorDetails;
    delete metadata.rateLimitedUntil;
    delete metadata.transientFailures;
    delete metadata.profilePictureExpiresAt;
    metadata.igId = profile.id;
    metadata.igBusinessAccountId = profile.userId;
    metadata.lastMetadataUpdate = now;
    const pictureExpiry = pictureExpiresAt(profile.profilePictureUrl);
    if (pictureExpiry) metadata.profilePictureExpiresAt = pictureExpiry;
    return {
      changes: { ...fields, metadata, status: AccountStatus.ACTIVE, lastSyncAt: now },
      changed,
    };
  }
}
