/**
 * Meta's error codes and subcodes, the families they fall into, and the words people read about
 * them. The Instagram client's error mapping, the account status classifier and the accounts'
 * status sentences all read from here, so a code means the same thing everywhere. Imports nothing
 * from the project: both infrastructure/ and modules/ may depend on it.
 */

/** What kind of failure a reply is; the client has one error class per kind. */
export type InstagramErrorKind =
  | 'token_invalid'
  | 'permission'
  | 'rate_limited'
  | 'bad_request'
  | 'not_found'
  | 'transient'
  | 'network'
  | 'timeout'
  | 'unknown';

/** Whose budget a rate limit spends: the family of codes 4/341, 17, 32, 613, 9, 80000–80099. */
export type RateLimitScope =
  'app' | 'user' | 'page' | 'custom' | 'business_use_case' | 'publishing' | 'http';

const RATE_LIMIT_SCOPES: ReadonlyMap<number, RateLimitScope> = new Map([
  [4, 'app'],
  [341, 'app'],
  [17, 'user'],
  [32, 'page'],
  [613, 'custom'],
  [9, 'publishing'],
]);
const TOKEN_CODES = new Set([102, 190]);
const PERMISSION_CODES = new Set([3, 10, 25, 368]);
const TRANSIENT_CODES = new Set([1, 2]);
const NOT_FOUND_CODES = new Set([803]);
const BAD_REQUEST_CODES = new Set([100, 2500]);
/** Code 100 with this subcode: the object does not exist or this token cannot see it. */
const MISSING_OBJECT_SUBCODE = 33;

export function rateLimitScopeOf(code: number): RateLimitScope | undefined {
  return (
    RATE_LIMIT_SCOPES.get(code) ??
    (code >= 80000 && code <= 80099 ? 'business_use_case' : undefined)
  );
}

/** 3, 10, 25, 368 and 200–299: a permission is missing or removed, or the account is blocked. */
export function isPermissionCode(code: number): boolean {
  return PERMISSION_CODES.has(code) || (code >= 200 && code <= 299);
}

/**
 * The family of a Graph error code, checked in the order that matters: rate limits first (Meta
 * marks some `is_transient`, but retrying at once only extends the block). Undefined for a code
 * that belongs to no family; the client then looks at the HTTP status.
 */
export function codeFamily(
  code: number,
  subcode?: number,
): Exclude<InstagramErrorKind, 'network' | 'timeout' | 'unknown'> | undefined {
  if (rateLimitScopeOf(code)) return 'rate_limited';
  if (TOKEN_CODES.has(code)) return 'token_invalid';
  if (isPermissionCode(code)) return 'permission';
  if (TRANSIENT_CODES.has(code)) return 'transient';
  if ((code === 100 && subcode === MISSING_OBJECT_SUBCODE) || NOT_FOUND_CODES.has(code)) {
    return 'not_found';
  }
  if (BAD_REQUEST_CODES.has(code)) return 'bad_request';
  return undefined;
}

/** The family of a code as an account row keeps it ("190"); ours ("TIMEOUT") have none. */
export function storedCodeFamily(code: string, subcode?: string): ReturnType<typeof codeFamily> {
  if (!/^\d{1,12}$/.test(code)) return undefined;
  return codeFamily(Number(code), subcode !== undefined ? Number(subcode) : undefined);
}

/** Why a token of code 190/102 is dead, from its subcode. */
export type TokenInvalidReason =
  | 'app_not_installed'
  | 'checkpointed'
  | 'password_changed'
  | 'expired'
  | 'unconfirmed_user'
  | 'invalid'
  | 'no_page_role'
  | 'inactive'
  | 'unknown';

interface TokenReasonWords {
  subcode?: number;
  /** After "code 190/460: " in a sync's answer. */
  brief: string;
  /** After "Instagram says " under the account on the page. */
  clause: string;
}

const TOKEN_REASONS: Readonly<Record<TokenInvalidReason, TokenReasonWords>> = {
  app_not_installed: {
    subcode: 458,
    brief: 'the app was removed from the account',
    clause: 'the app was removed from the account',
  },
  checkpointed: {
    subcode: 459,
    brief: 'the account needs a security check on Instagram',
    clause: 'the account is checkpointed (log in on Instagram to fix it)',
  },
  password_changed: {
    subcode: 460,
    brief: 'password changed',
    clause: 'the password was changed',
  },
  expired: { subcode: 463, brief: 'token expired', clause: 'the token expired' },
  unconfirmed_user: {
    subcode: 464,
    brief: 'the user is not confirmed',
    clause: 'the user is not confirmed',
  },
  invalid: { subcode: 467, brief: 'token invalid', clause: 'the token is invalid' },
  no_page_role: {
    subcode: 492,
    brief: 'no role on the Page',
    clause: 'the user has no role on the Page',
  },
  inactive: {
    subcode: 493,
    brief: 'the account has been inactive too long',
    clause: 'the account has been inactive too long',
  },
  unknown: { brief: 'token no longer valid', clause: 'the token is no longer valid' },
};

const REASON_BY_SUBCODE: ReadonlyMap<number, TokenInvalidReason> = new Map(
  (Object.entries(TOKEN_REASONS) as Array<[TokenInvalidReason, TokenReasonWords]>).flatMap(
    ([reason, words]) => (words.subcode === undefined ? [] : [[words.subcode, reason] as const]),
  ),
);

/** Accepts the subcode as Meta sends it (a number) or as the account row keeps it (a string). */
export function tokenInvalidReason(subcode: number | string | undefined): TokenInvalidReason {
  if (subcode === undefined || subcode === '') return 'unknown';
  return REASON_BY_SUBCODE.get(Number(subcode)) ?? 'unknown';
}

/** "password changed": the reason in a few words. */
export function tokenReasonBrief(reason: TokenInvalidReason): string {
  return TOKEN_REASONS[reason].brief;
}

/** "the password was changed": the reason as a clause of a sentence. */
export function tokenReasonClause(reason: TokenInvalidReason): string {
  return TOKEN_REASONS[reason].clause;
}

/** "190/460", or "190" without a subcode: how codes are shown to people. */
export function codeLabel(code: number | string, subcode?: number | string): string {
  return subcode !== undefined && subcode !== '' ? `${code}/${subcode}` : String(code);
}

/**
 * Codes of ours that an account's `errorDetails.code` may hold beside Meta's numbers, for
 * failures Meta did not describe with a code.
 */
export const LOCAL_ERROR_CODES = {
  /** The token passed its expiry date (no call to Meta needed to know). */
  TOKEN_EXPIRED: 'TOKEN_EXPIRED',
  /** No token is stored, or the stored one no longer decrypts. */
  NO_TOKEN: 'NO_TOKEN',
  /** The person removed the app in Instagram's settings (Meta's deauthorize callback). */
  DEAUTHORIZED: 'DEAUTHORIZED',
  TIMEOUT: 'TIMEOUT',
  NETWORK: 'NETWORK',
  /** A refresh answered with a token that expires no later than the one held. */
  REFRESH_NOT_EXTENDED: 'REFRESH_NOT_EXTENDED',
  /** Not a failure of Instagram's (a bug, the database). */
  UNKNOWN: 'UNKNOWN',
} as const;
