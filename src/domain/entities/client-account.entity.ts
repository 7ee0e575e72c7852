export enum SocialPlatform {
  INSTAGRAM = 'instagram',
  WHATSAPP = 'whatsapp', // For future use
}

export enum AccountStatus {
  ACTIVE = 'active',
  TOKEN_EXPIRED = 'token_expired',
  DISCONNECTED = 'disconnected',
  RATE_LIMITED = 'rate_limited',
  ERROR = 'error',
}

export enum InstagramAccountType {
  PERSONAL = 'personal',
  BUSINESS = 'business',
  CREATOR = 'creator',
}

export interface AccountErrorDetails {
  /** Meta's error code as a string (e.g. "190"), or one of ours (e.g. "NETWORK"). */
  code: string;
  message: string;
  timestamp: Date;
  subcode?: string;
  fbtraceId?: string;
}

/** A failed token refresh, as the account keeps it: Meta's code (or ours), a safe message, when. */
export interface TokenRefreshError {
  code: string;
  message: string;
  at: Date;
}

/**
 * How refreshing the account's current token is going. Bound to that token by its expiry: a new
 * token (a refresh that worked, or a reconnect) starts from a clean state.
 */
export interface TokenRefreshState {
  /** The expiry of the token these marks are about. */
  tokenExpiresAt: Date;
  /** When a refresh last worked (absent until one has, for this token's line). */
  lastRefreshAt?: Date;
  /** Failed refreshes since the last one that worked. */
  attempts: number;
  lastError?: TokenRefreshError;
  /** Backoff: the sweep leaves the token alone until then. */
  nextAttemptAt?: Date;
  /** The expiry warnings (days before expiry: 14, 7, 1) already written for this token. */
  warnedDays: number[];
}

export interface AccountMetadata {
  /** App-scoped Instagram user id (`/me`'s `id`, the token exchange's `user_id`). */
  igId?: string;
  /** Professional account id; equals `platformAccountId` for Instagram-Login accounts. */
  igBusinessAccountId?: string;
  /** Connected Facebook Page (Facebook-Login accounts only). */
  facebookPageId?: string;
  isVerified?: boolean;
  lastMetadataUpdate?: Date;
  errorDetails?: AccountErrorDetails;
  /** While `rate_limited`: when Meta's budget is expected back. */
  rateLimitedUntil?: Date;
  /** Hex Unix time from the picture URL's `oe=`: after it the CDN answers 403. */
  profilePictureExpiresAt?: Date;
  /**
   * Syncs and status checks in a row that failed transiently (5xx, timeouts, code 1/2): the
   * account turns `error` only at the third. A success, or a failure that is not transient,
   * resets it.
   */
  transientFailures?: number;
  tokenRefresh?: TokenRefreshState;
  /** The kept copy of the profile picture (account_pictures), when there is one. */
  picture?: KeptPictureSummary;
  /** The last picture download that failed; cleared by the next one that succeeds. */
  pictureError?: PictureErrorDetails;
}

/** Enough about the kept picture to decide on a re-fetch and to answer without reading it. */
export interface KeptPictureSummary {
  /** Hex SHA-256 of the bytes (the ETag). */
  sha256: string;
  /** The Instagram URL's path: the picture's identity (the query only re-signs it). */
  path: string;
  /** The `oe=` expiry of the URL it was fetched from. */
  sourceExpiresAt?: Date;
  fetchedAt: Date;
}

export interface PictureErrorDetails {
  /** e.g. too_large, unsupported_type, http_status, timeout, forbidden_address. */
  reason: string;
  message: string;
  at: Date;
}

export interface ClientAccount {
  id: string; // UUID
  userId: string; // User UUID (foreign key)
  platform: SocialPlatform;
  platformAccountId: string; // Instagram professional account id, exact digits
  username: string;
  displayName?: string;
  profilePictureUrl?: string;
  followerCount?: number;
  followingCount?: number;
  mediaCount?: number;
  biography?: string;
  website?: string;
  status: AccountStatus;
  accountType: InstagramAccountType;
  metadata: AccountMetadata;
  permissions: string[]; // Scopes granted during OAuth
  createdAt: Date;
  updatedAt: Date;
  lastSyncAt?: Date;
  tokenExpiresAt?: Date;
}

/** Meta's `account_type` → ours: Business → business, Media_Creator → creator, else personal. */
export function mapInstagramAccountType(raw: string | undefined | null): InstagramAccountType {
  switch (raw?.trim().toLowerCase()) {
    case 'business':
      return InstagramAccountType.BUSINESS;
    case 'media_creator':
    case 'creator':
      return InstagramAccountType.CREATOR;
    default:
      return InstagramAccountType.PERSONAL;
  }
}
