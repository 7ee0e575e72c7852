import type { ClientAccount } from '../../src/domain/entities/client-account.entity';
import {
  InstagramNetworkError,
  InstagramPermissionError,
  type InstagramProfile,
  InstagramRateLimitError,
  InstagramTimeoutError,
  InstagramTokenInvalidError,
  InstagramTransientError,
} from '../../src/infrastructure/instagram';

/** What Instagram's /me would answer for `account`, with `overrides`. */
export function profileOf(
  account: ClientAccount,
  overrides: Partial<InstagramProfile> = {},
): InstagramProfile {
  return {
    id: '9007199254740993',
    userId: account.platformAccountId,
    username: account.username,
    name: account.displayName,
    accountType: 'Business',
    profilePictureUrl: 'https://scontent.cdninstagram.com/v/1_n.jpg?oh=00_x&oe=6A1BD339',
    followersCount: account.followerCount,
    followsCount: account.followingCount,
    mediaCount: account.mediaCount,
    ...overrides,
  };
}

// The client's typed errors as Meta's replies produce them.
export const tokenError = (subcode = 460) =>
  new InstagramTokenInvalidError(
    'Error validating access token: The session has been invalidated because the user changed their password',
    { code: 190, subcode, fbtraceId: 'AbCdEf123', type: 'OAuthException', httpStatus: 400 },
  );
export const rateLimitError = (resetAt: Date, code = 4) =>
  new InstagramRateLimitError(
    `(#${code}) Application request limit reached`,
    { code, httpStatus: 403 },
    resetAt,
    code === 4 ? 'app' : 'business_use_case',
    true,
  );
export const transientError = () =>
  new InstagramTransientError('An unexpected error has occurred', { code: 2, isTransient: true });
export const timeoutError = () =>
  new InstagramTimeoutError('Instagram did not answer within 1000 ms (getProfile)', {}, 1000);
export const networkError = () =>
  new InstagramNetworkError('Network error talking to Instagram', {}, 'ECONNRESET');
export const permissionError = () =>
  new InstagramPermissionError('(#10) Application does not have permission', { code: 10 });
