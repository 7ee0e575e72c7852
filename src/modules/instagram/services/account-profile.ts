import {
  AccountStatus,
  type ClientAccount,
  mapInstagramAccountType,
} from '../../../domain/entities/client-account.entity';
import type { AccountUpdate } from '../../../domain/repositories/client-account.repository.interface';
import type { InstagramProfile } from '../../../infrastructure/instagram';

// Column widths of client_accounts: Instagram's values fit, but a write must never fail on one.
export const DISPLAY_NAME_MAX = 255;
const WEBSITE_MAX = 500;

/** Profile fields a sync and the spec's PATCH write, compared for the events' `changed`. */
export const PROFILE_FIELDS = [
  'username',
  'displayName',
  'profilePictureUrl',
  'followerCount',
  'followingCount',
  'mediaCount',
  'biography',
  'website',
  'accountType',
] as const;
export type ProfileField = (typeof PROFILE_FIELDS)[number];
export type Changes = Partial<Record<ProfileField, { from: unknown; to: unknown }>>;

export function clip(value: string | undefined | null, max: number): string | undefined {
  if (value === undefined || value === null) return undefined;
  return value.length > max ? value.slice(0, max) : value;
}

/** A shortened URL is a wrong URL: one too long for the column is dropped instead. */
export function fitWebsite(value: string | undefined): string | undefined {
  return value !== undefined && value.length <= WEBSITE_MAX ? value : undefined;
}

/** Instagram CDN URLs carry their expiry as hex Unix seconds in `oe`. */
export function pictureExpiresAt(url: string | undefined | null): Date | undefined {
  if (!url) return undefined;
  let oe: string | null;
  try {
    oe = new URL(url).searchParams.get('oe');
  } catch {
    return undefined;
  }
  if (!oe || !/^[0-9A-Fa-f]{1,12}$/.test(oe)) return undefined;
  return new Date(parseInt(oe, 16) * 1000);
}

/**
 * The picture a CDN link names: its path. The query (`oh`, `oe`, …) only signs the link, and
 * Instagram re-signs it every time the profile is read.
 */
export function picturePath(url: string | undefined | null): string | undefined {
  if (!url) return undefined;
  try {
    return new URL(url).pathname;
  } catch {
    return undefined;
  }
}

/**
 * The fields of `next` whose value differs from the account's, as `{from, to}`. A missing value
 * on either side counts as null, so clearing a field is a change and clearing it twice is not.
 */
export function changedFields(
  current: ClientAccount,
  next: Partial<Record<ProfileField, unknown>>,
): Changes {
  const changed: Changes = {};
  for (const field of PROFILE_FIELDS) {
    if (!(field in next)) continue;
    const from = current[field] ?? null;
    const to = next[field] ?? null;
    if (from !== to) changed[field] = { from, to };
  }
  return changed;
}

/**
 * What a sync writes from a profile. Text fields Instagram leaves out are cleared (the row
 * mirrors Instagram); counts it leaves out keep their last known value.
 */
export function profileFields(
  profile: InstagramProfile,
  current: ClientAccount,
): Required<{ [K in ProfileField]: AccountUpdate[K] }> {
  return {
    username: profile.username,
    displayName: clip(profile.name, DISPLAY_NAME_MAX) ?? null,
    profilePictureUrl: profile.profilePictureUrl ?? null,
    followerCount: profile.followersCount ?? current.followerCount ?? null,
    followingCount: profile.followsCount ?? current.followingCount ?? null,
    mediaCount: profile.mediaCount ?? current.mediaCount ?? null,
    biography: profile.biography ?? null,
    website: fitWebsite(profile.website) ?? null,
    accountType: mapInstagramAccountType(profile.accountType),
  };
}

/** When the stored rate limit lifts, if it has not yet. */
export function rateLimitedUntil(account: ClientAccount, now: Date): Date | undefined {
  const until = account.metadata.rateLimitedUntil;
  return account.status === AccountStatus.RATE_LIMITED && until && until.getTime() > now.getTime()
    ? until
    : undefined;
}
