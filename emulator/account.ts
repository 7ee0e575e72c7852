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
}
