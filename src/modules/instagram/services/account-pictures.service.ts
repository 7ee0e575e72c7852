import { Inject, Injectable, NotFoundException } from '@nestjs/common';
import type { Logger } from 'pino';
import { ROOT_LOGGER } from '../../../common/logging/logging.module';
import type {
  AccountMetadata,
  ClientAccount,
  KeptPictureSummary,
  PictureErrorDetails,
} from '../../../domain/entities/client-account.entity';
import {
  ACCOUNT_PICTURE_REPOSITORY,
  type IAccountPictureRepository,
  type KeptPicture,
} from '../../../domain/repositories/account-picture.repository.interface';
import {
  CLIENT_ACCOUNT_REPOSITORY,
  type IClientAccountRepository,
} from '../../../domain/repositories/client-account.repository.interface';
import type { Queryable } from '../../../infrastructure/database/database';
import {
  type FetchedPicture,
  PictureFetcher,
  PictureFetchError,
} from '../../../infrastructure/http/picture-fetcher';
import { loadAccount } from './account-access';
import { pictureExpiresAt, picturePath } from './account-profile';

/** A kept picture whose link expires within this is fetched again at the next sync. */
export const PICTURE_REFRESH_WINDOW_MS = 24 * 60 * 60 * 1000;

export type PictureDownload =
  | { ok: true; url: string; picture: FetchedPicture }
  | { ok: false; url: string; error: PictureFetchError };

/** What a sync writes about the picture, and whether its event may say the picture changed. */
export interface PictureSettlement {
  picture: KeptPictureSummary | undefined;
  pictureError: PictureErrorDetails | undefined;
  changed: boolean;
}

/**
 * Kept profile pictures. Instagram's links expire after a few days, so the service keeps its own
 * copy (account_pictures) and serves it at /instagram/accounts/:id/avatar. A sync decides
 * whether to download (`shouldFetch`), downloads with no transaction open (`download`, which
 * never throws), then records the outcome in its own transaction (`settle`). A failed download
 * keeps the previous copy, is recorded on the account and is retried at the next sync.
 */
@Injectable()
export class AccountPicturesService {
  private readonly logger: Logger;

  constructor(
    @Inject(PictureFetcher) private readonly fetcher: Pick<PictureFetcher, 'fetch'>,
    @Inject(ACCOUNT_PICTURE_REPOSITORY) private readonly pictures: IAccountPictureRepository,
    @Inject(CLIENT_ACCOUNT_REPOSITORY) private readonly accounts: IClientAccountRepository,
    @Inject(ROOT_LOGGER) logger: Logger,
  ) {
    this.logger = logger.child({ component: 'account-pictures' });
  }

  /**
   * Download when Instagram's picture is a different picture (another path), when the link the
   * kept copy came from is about to expire, or when the last attempt failed. A re-signed link
   * to the same picture is not downloaded again.
   */
  shouldFetch(account: ClientAccount, url: string | undefined, now: Date): boolean {
    const path = picturePath(url);
    if (!path) return false;
    const kept = account.metadata.picture;
    if (!kept || account.metadata.pictureError) return true;
    if (kept.path !== path) return true;
    const expires = kept.sourceExpiresAt?.getTime();
    return expires !== undefined && expires - now.getTime() < PICTURE_REFRESH_WINDOW_MS;
  }

  async download(url: string): Promise<PictureDownload> {
    try {
      return { ok: true, url, picture: await this.fetcher.fetch(url) };
    } catch (raw) {
      const error =
        raw instanceof PictureFetchError
          ? raw
          : new PictureFetchError('network', 'The picture could not be downloaded');
      return { ok: false, url, error };
    }
  }

  /**
   * In the caller's transaction (the account row locked): keeps the downloaded bytes, drops the
   * copy when Instagram says there is no picture, and says what the account's metadata should
   * hold. `changed` is false when only the link's signature changed: the same path, or a new
   * path to the same bytes.
   */
  async settle(
    tx: Queryable,
    account: ClientAccount,
    url: string | undefined,
    download: PictureDownload | undefined,
    now: Date,
  ): Promise<PictureSettlement> {
    const before = picturePath(account.profilePictureUrl);
    const path = picturePath(url);
    const kept = account.metadata.picture;
    const keptError = account.metadata.pictureError;
    if (!url || !path) {
      if (kept) await this.pictures.delete(account.id, tx);
      return { picture: undefined, pictureError: undefined, changed: before !== undefined };
    }
    if (!download || download.url !== url) {
      return { picture: kept, pictureError: keptError, changed: before !== path };
    }
    if (!download.ok) {
      this.logger.warn(
        { accountId: account.id, reason: download.error.reason, status: download.error.status },
        'profile picture not kept; the previous copy stays and the next sync tries again',
      );
      return {
        picture: kept,
        pictureError: { reason: download.error.reason, message: download.error.message, at: now },
        changed: before !== path,
      };
    }
    const { picture } = download;
    await this.pictures.save(
      {
        accountId: account.id,
        bytes: picture.bytes,
        contentType: picture.contentType,
        sha256: picture.sha256,
        sourceUrl: url,
        fetchedAt: now,
      },
      tx,
    );
    const sourceExpiresAt = pictureExpiresAt(url);
    return {
      picture: {
        sha256: picture.sha256,
        path,
        ...(sourceExpiresAt ? { sourceExpiresAt } : {}),
        fetchedAt: now,
      },
      pictureError: undefined,
      changed: before !== path && kept?.sha256 !== picture.sha256,
    };
  }

  /** The owner's kept picture; 404 when the account has none (or does not exist), 403. */
  async findOwned(accountId: string, userId: string): Promise<KeptPicture> {
    await loadAccount(this.accounts, accountId, userId);
    const picture = await this.pictures.find(accountId);
    if (!picture) throw new NotFoundException('No picture is kept for this account yet');
    return picture;
  }
}

/** The account's metadata with a settlement applied. */
export function withPicture(
  metadata: AccountMetadata,
  settlement: PictureSettlement,
): AccountMetadata {
  const next: AccountMetadata = { ...metadata };
  delete next.picture;
  delete next.pictureError;
  if (settlement.picture) next.picture = settlement.picture;
  if (settlement.pictureError) next.pictureError = settlement.pictureError;
  return next;
}
