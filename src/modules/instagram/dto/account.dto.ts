import { ApiProperty, ApiPropertyOptional, ApiSchema } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  IsArray,
  IsDate,
  IsEnum,
  IsIn,
  IsOptional,
  IsString,
  IsUrl,
  Matches,
  MaxLength,
  ValidateIf,
} from 'class-validator';
import {
  AccountStatus,
  type ClientAccount,
  InstagramAccountType,
  SocialPlatform,
} from '../../../domain/entities/client-account.entity';
import {
  codeLabel,
  LOCAL_ERROR_CODES,
  storedCodeFamily,
  tokenInvalidReason,
  tokenReasonClause,
} from '../../../domain/instagram/meta-codes';
import { refreshStateFor } from '../services/token-refresh-policy';

/** Instagram's own rule for usernames; also well inside the 255-character column. */
export const INSTAGRAM_USERNAME = /^[A-Za-z0-9._]{1,30}$/;
export const USERNAME_MESSAGE =
  'username must be an Instagram username: 1 to 30 letters, digits, periods or underscores';
const URL_OPTIONS = { protocols: ['http', 'https'], require_protocol: true, require_tld: false };
const URL_MESSAGE = 'profilePictureUrl must be an http or https URL of at most 2048 characters';
export const STATUS_MANAGED_MESSAGE =
  'status is managed by the service (syncs and status checks set it); the only value a client may set is "disconnected", which pauses the account';

/** What the OAuth callback knows about an account it connects. Not an HTTP body. */
export class CreateAccountDto {
  @ApiProperty({ description: 'Instagram professional account id (exact digits)' })
  @IsString()
  @Matches(/^\d{1,64}$/, { message: 'platformAccountId must be a decimal Instagram id' })
  platformAccountId!: string;

  @ApiProperty({ example: 'lena.bakes', pattern: INSTAGRAM_USERNAME.source })
  @IsString()
  @Matches(INSTAGRAM_USERNAME, { message: USERNAME_MESSAGE })
  username!: string;

  @ApiPropertyOptional({ maxLength: 255 })
  @IsOptional()
  @IsString()
  @MaxLength(255)
  displayName?: string;

  @ApiPropertyOptional({ format: 'uri', maxLength: 2048 })
  @IsOptional()
  @IsUrl(URL_OPTIONS, { message: URL_MESSAGE })
  @MaxLength(2048, { message: URL_MESSAGE })
  profilePictureUrl?: string;

  @ApiPropertyOptional({ enum: InstagramAccountType })
  @IsOptional()
  @IsEnum(InstagramAccountType)
  accountType?: InstagramAccountType;

  @ApiPropertyOptional({ type: [String], description: 'Scopes granted during OAuth' })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(50)
  @IsString({ each: true })
  @MaxLength(100, { each: true })
  permissions?: string[];

  @ApiPropertyOptional({ type: String, format: 'date-time' })
  @IsOptional()
  @Type(() => Date)
  @IsDate()
  tokenExpiresAt?: Date;
}

/**
 * The spec's fields. Profile fields are overwritten by the next sync with what Instagram says;
 * `status` is the service's to keep truthful, so a client may only pause (`disconnected`).
 */
export class UpdateAccountDto {
  @ApiPropertyOptional({ example: 'lena.bakes', pattern: INSTAGRAM_USERNAME.source, maxLength: 30 })
  // Present means a string: null would violate the NOT NULL column.
  @ValidateIf((_dto, value) => value !== undefined)
  @IsString({ message: USERNAME_MESSAGE })
  @Matches(INSTAGRAM_USERNAME, { message: USERNAME_MESSAGE })
  username?: string;

  @ApiPropertyOptional({
    type: String,
    nullable: true,
    maxLength: 255,
    description: 'null clears it',
  })
  @IsOptional()
  @IsString()
  @MaxLength(255)
  displayName?: string | null;

  @ApiPropertyOptional({
    type: String,
    nullable: true,
    format: 'uri',
    maxLength: 2048,
    description: 'http or https URL; null clears it',
  })
  @IsOptional()
  @IsUrl(URL_OPTIONS, { message: URL_MESSAGE })
  @MaxLength(2048, { message: URL_MESSAGE })
  profilePictureUrl?: string | null;

  @ApiPropertyOptional({
    enum: [AccountStatus.DISCONNECTED],
    description: STATUS_MANAGED_MESSAGE,
  })
  @ValidateIf((_dto, value) => value !== undefined)
  @IsIn([AccountStatus.DISCONNECTED], { message: STATUS_MANAGED_MESSAGE })
  status?: AccountStatus;
}

export class TokenRefreshErrorDto {
  @ApiProperty({ description: "Meta's error code, or ours", example: '2' }) code!: string;
  @ApiProperty({ example: 'An unexpected error has occurred. Please retry your request later.' })
  message!: string;
  @ApiProperty({ type: String, format: 'date-time', description: 'When that attempt failed' })
  at!: string;
}

@ApiSchema({
  description:
    'A connected Instagram account. Every property is always present; values that are not known are null.',
})
export class AccountResponseDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty({ enum: SocialPlatform, example: SocialPlatform.INSTAGRAM })
  platform!: SocialPlatform;
  @ApiProperty({ example: 'lena.bakes' }) username!: string;
  @ApiProperty({ type: String, nullable: true, example: 'Lena Okafor | Home Baking' })
  displayName!: string | null;
  @ApiProperty({
    type: String,
    nullable: true,
    description:
      "Instagram's CDN URL as Instagram gave it; it stops working after a few days. Show `avatarUrl` instead.",
  })
  profilePictureUrl!: string | null;
  @ApiProperty({
    type: String,
    nullable: true,
    description:
      "The service's kept copy of the picture (GET it with the session cookie or Bearer token); null until one is kept",
    example: '/instagram/accounts/3f0c2a52-8a54-4a43-9d07-6b1f0f0b8f51/avatar',
  })
  avatarUrl!: string | null;
  @ApiProperty({
    description: "Whether this is the caller's current account (GET /instagram/accounts/current)",
    example: true,
  })
  isCurrent!: boolean;
  @ApiProperty({ type: Number, nullable: true, example: 48213 }) followerCount!: number | null;
  @ApiProperty({ type: Number, nullable: true, example: 512 }) followingCount!: number | null;
  @ApiProperty({ type: Number, nullable: true, example: 387 }) mediaCount!: number | null;
  @ApiProperty({ type: String, nullable: true }) biography!: string | null;
  @ApiProperty({ type: String, nullable: true }) website!: string | null;
  @ApiProperty({ enum: AccountStatus }) status!: AccountStatus;
  @ApiProperty({
    type: String,
    nullable: true,
    description: 'Why the account is not active, as a sentence for people; null when active',
    example: 'Instagram says the password was changed (190/460). Reconnect the account.',
  })
  statusDetail!: string | null;
  @ApiProperty({
    type: String,
    format: 'date-time',
    nullable: true,
    description: 'While rate limited: when Instagram is expected to answer again',
  })
  rateLimitedUntil!: string | null;
  @ApiProperty({ enum: InstagramAccountType }) accountType!: InstagramAccountType;
  @ApiProperty({ type: [String], description: 'Scopes granted during OAuth' })
  permissions!: string[];
  @ApiProperty({ type: String, format: 'date-time' }) createdAt!: string;
  @ApiProperty({ type: String, format: 'date-time' }) updatedAt!: string;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) lastSyncAt!: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  tokenExpiresAt!: string | null;
  @ApiProperty({
    type: String,
    format: 'date-time',
    nullable: true,
    description: 'When the token was last refreshed; null until a refresh of it has worked',
  })
  lastRefreshAt!: string | null;
  @ApiProperty({
    type: TokenRefreshErrorDto,
    nullable: true,
    description:
      'The latest failed refresh of the current token since the last one that worked; null when none failed',
  })
  lastRefreshError!: TokenRefreshErrorDto | null;
  @ApiProperty({
    description:
      'Failed refreshes of the current token since the last one that worked (retried with backoff until it expires)',
    example: 0,
  })
  refreshAttempts!: number;
}

export class AccountListResponseDto {
  @ApiProperty({ type: [AccountResponseDto], description: 'Newest first' })
  accounts!: AccountResponseDto[];
  @ApiProperty({ description: "All of the user's accounts, across pages" }) total!: number;
  @ApiProperty({
    type: String,
    nullable: true,
    description: 'Pass as `?cursor=` for the next page; null on the last page',
  })
  nextCursor!: string | null;
}

export class AccountStatusResponseDto {
  @ApiProperty({ enum: AccountStatus }) status!: AccountStatus;
}

const iso = (date: Date | undefined): string | null => (date ? date.toISOString() : null);

/** Where the kept picture is served (null until one is kept). */
export function avatarPathOf(account: ClientAccount): string | null {
  return account.metadata.picture ? `/instagram/accounts/${account.id}/avatar` : null;
}

/**
 * The public shape of an account: never a token, never raw metadata. `currentId` is the
 * caller's current account (CurrentAccountService.currentId), which sets `isCurrent`.
 */
export function toAccountResponse(
  account: ClientAccount,
  now = new Date(),
  currentId: string | null = null,
): AccountResponseDto {
  const refresh = account.tokenExpiresAt
    ? refreshStateFor(account, account.tokenExpiresAt)
    : account.metadata.tokenRefresh;
  return {
    id: account.id,
    platform: account.platform,
    username: account.username,
    displayName: account.displayName ?? null,
    profilePictureUrl: account.profilePictureUrl ?? null,
    avatarUrl: avatarPathOf(account),
    isCurrent: account.id === currentId,
    followerCount: account.followerCount ?? null,
    followingCount: account.followingCount ?? null,
    mediaCount: account.mediaCount ?? null,
    biography: account.biography ?? null,
    website: account.website ?? null,
    status: account.status,
    statusDetail: describeAccountStatus(account, now),
    rateLimitedUntil:
      account.status === AccountStatus.RATE_LIMITED ? iso(account.metadata.rateLimitedUntil) : null,
    accountType: account.accountType,
    permissions: [...account.permissions],
    createdAt: account.createdAt.toISOString(),
    updatedAt: account.updatedAt.toISOString(),
    lastSyncAt: iso(account.lastSyncAt),
    tokenExpiresAt: iso(account.tokenExpiresAt),
    lastRefreshAt: iso(refresh?.lastRefreshAt),
    lastRefreshError: refresh?.lastError
      ? {
          code: refresh.lastError.code,
          message: refresh.lastError.message,
          at: refresh.lastError.at.toISOString(),
        }
      : null,
    refreshAttempts: refresh?.attempts ?? 0,
  };
}

/** "14:05 UTC" when `now` is given and within a day of it, else "2025-06-01 14:05 UTC". */
export function formatUtc(date: Date, now?: Date): string {
  const [day, time] = date.toISOString().split('T') as [string, string];
  const clock = `${time.slice(0, 5)} UTC`;
  return now && Math.abs(date.getTime() - now.getTime()) < 24 * 60 * 60 * 1000
    ? clock
    : `${day} ${clock}`;
}

/** The sentence the accounts page shows under a non-active account. */
export function describeAccountStatus(account: ClientAccount, now: Date): string | null {
  const details = account.metadata.errorDetails;
  const codes = details ? codeLabel(details.code, details.subcode) : '';
  const family = details ? storedCodeFamily(details.code, details.subcode) : undefined;
  switch (account.status) {
    case AccountStatus.ACTIVE:
      return null;
    case AccountStatus.TOKEN_EXPIRED:
      if (details && family === 'token_invalid') {
        const why = tokenReasonClause(tokenInvalidReason(details.subcode));
        return `Instagram says ${why} (${codes}). Reconnect the account.`;
      }
      if (details?.code === LOCAL_ERROR_CODES.NO_TOKEN) {
        return 'No Instagram token is stored for this account. Reconnect the account.';
      }
      if (account.tokenExpiresAt && account.tokenExpiresAt.getTime() <= now.getTime()) {
        return `The token expired on ${formatUtc(account.tokenExpiresAt)}. Reconnect the account.`;
      }
      return "Instagram no longer accepts this account's token. Reconnect the account.";
    case AccountStatus.RATE_LIMITED: {
      const until = account.metadata.rateLimitedUntil;
      return until
        ? `Rate limited by Instagram until ${formatUtc(until, now)}.`
        : 'Rate limited by Instagram; syncing resumes when the limit lifts.';
    }
    case AccountStatus.ERROR:
      if (!details) return 'The last sync failed. Try syncing again.';
      if (details.code === LOCAL_ERROR_CODES.TIMEOUT) {
        return 'The last sync failed: Instagram did not answer in time. Try syncing again.';
      }
      if (details.code === LOCAL_ERROR_CODES.NETWORK) {
        return 'The last sync failed: Instagram could not be reached. Try syncing again.';
      }
      if (family === 'permission') {
        return `Instagram refused a permission this account needs (${codes}). Reconnect the account and grant the requested permissions.`;
      }
      return `The last sync failed: Instagram answered with error ${codes} (${details.message}). Try syncing again.`;
    case AccountStatus.DISCONNECTED:
      if (details?.code === LOCAL_ERROR_CODES.DEAUTHORIZED) {
        return 'The app was removed from this Instagram account. Reconnect the account to use it again.';
      }
      return 'Disconnected: syncing is paused. Reconnect the account to resume.';
    default:
      return null;
  }
}
