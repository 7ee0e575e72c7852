import type { Queryable } from './queryable';

export const ACCOUNT_PICTURE_REPOSITORY = Symbol('ACCOUNT_PICTURE_REPOSITORY');

export type KeptPictureType = 'image/jpeg' | 'image/png' | 'image/webp' | 'image/gif';

/** The service's own copy of an account's Instagram profile picture. */
export interface KeptPicture {
  accountId: string;
  bytes: Buffer;
  contentType: KeptPictureType;
  /** Hex SHA-256 of the bytes: the ETag. */
  sha256: string;
  /** The signed Instagram URL the bytes came from. */
  sourceUrl: string;
  fetchedAt: Date;
}

export interface IAccountPictureRepository {
  find(accountId: string, tx?: Queryable): Promise<KeptPicture | null>;
  /** Inserts or replaces the account's picture. */
  save(picture: KeptPicture, tx?: Queryable): Promise<void>;
  delete(accountId: string, tx?: Queryable): Promise<void>;
}
