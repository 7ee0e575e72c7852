/**
 * An Instagram professional account as the emulator keeps it. Its own file so that the seed data
 * and the state that loads it both depend on it instead of on each other.
 */
export interface EmulatorAccount {
  /** Professional account id (`/me` `user_id`). */
  userId: string;
  /** App-scoped id (`/me` `id`, the code exchange's `user_id`). */
  appScopedId: string;
  username: string;
  name?: string;
  accountType: string;
  biography?: string;
  website?: string;
  followersCount: number;
  followsCount: number;
  mediaCount: number;
  hasProfilePicture: boolean;
  /** Bumped when the person sets a new picture: the CDN path (and the bytes) change with it. */
  pictureVersion: number;
  /**
   * What the CDN serves for the current picture: a real PNG, or for tests a `text/html` page or
   * a 6 MB body declared as image/png (both of which a careful client must refuse).
   */
  pictureKind: PictureKind;
}

export type PictureKind = 'png' | 'html' | 'oversized';
