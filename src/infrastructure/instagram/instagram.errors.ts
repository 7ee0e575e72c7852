import {
  codeFamily,
  type InstagramErrorKind,
  rateLimitScopeOf,
  type RateLimitScope,
  tokenInvalidReason,
  type TokenInvalidReason,
} from '../../domain/instagram/meta-codes';
import { scrubMessage } from './redact';
import {
  businessUseCaseRegainAt,
  headerValue,
  parseUsageHeaders,
  type HttpHeaders,
  type InstagramUsage,
} from './usage-headers';

export type { InstagramErrorKind, RateLimitScope, TokenInvalidReason };

export interface InstagramErrorDetails {
  /** Meta's numeric error code; undefined for transport failures and non-Graph bodies. */
  code?: number;
  subcode?: number;
  /** Meta's `type` (`OAuthException`, `GraphMethodException`, …) or the code-exchange `error_type`. */
  type?: string;
  fbtraceId?: string;
  httpStatus?: number;
  isTransient?: boolean;
  /** Meta's localized `error_user_msg`, scrubbed like `message`. */
  userMessage?: string;
  usage?: InstagramUsage;
  /** Client operation that failed, e.g. `getProfile`. */
  operation?: string;
}

/**
 * Every failure talking to Instagram. `message` never contains a token, code, secret or proof:
 * it is scrubbed before the error is built, so it can go to logs and API responses as is.
 */
export abstract class InstagramApiError extends Error {
  abstract readonly kind: InstagramErrorKind;
  readonly code: number | undefined;
  readonly subcode: number | undefined;
  readonly type: string | undefined;
  readonly fbtraceId: string | undefined;
  readonly httpStatus: number | undefined;
  readonly isTransient: boolean;
  readonly userMessage: string | undefined;
  readonly usage: InstagramUsage | undefined;
  readonly operation: string | undefined;

  constructor(message: string, details: InstagramErrorDetails = {}) {
    super(message);
    this.name = new.target.name;
    this.code = details.code;
    this.subcode = details.subcode;
    this.type = details.type;
    this.fbtraceId = details.fbtraceId;
    this.httpStatus = details.httpStatus;
    this.isTransient = details.isTransient ?? false;
    this.userMessage = details.userMessage;
    this.usage = details.usage;
    this.operation = details.operation;
  }

  /** A log-friendly summary with no secrets (the message is already scrubbed). */
  toLog(): Record<string, unknown> {
    return {
      name: this.name,
      kind: this.kind,
      message: this.message,
      code: this.code,
      subcode: this.subcode,
      type: this.type,
      fbtraceId: this.fbtraceId,
      httpStatus: this.httpStatus,
      operation: this.operation,
    };
  }
}

/** Codes 190 and 102: the token is dead; the person has to connect the account again. */
export class InstagramTokenInvalidError extends InstagramApiError {
  readonly kind = 'token_invalid';
  get reason(): TokenInvalidReason {
    return tokenInvalidReason(this.subcode);
  }
}

/** Codes 3, 10, 200–299 (and 25, 368): a permission is missing, removed or the account blocked. */
export class InstagramPermissionError extends InstagramApiError {
  readonly kind = 'permission';
}

export class InstagramRateLimitError extends InstagramApiError {
  readonly kind = 'rate_limited';
  constructor(
    message: string,
    details: InstagramErrorDetails,
    /** When calls may resume: Meta's estimate if it sent one, otherwise a conservative default. */
    readonly resetAt: Date,
    readonly scope: RateLimitScope,
    /** Whether `resetAt` came from Meta (`estimated_time_to_regain_access`, `Retry-After`). */
    readonly resetAtFromMeta: boolean,
  ) {
    super(message, details);
  }
}

/** Code 100 and friends, and the code-exchange `{error_type, code, error_message}` body. */
export class InstagramBadRequestError extends InstagramApiError {
  readonly kind: 'bad_request' | 'not_found' = 'bad_request';
}

/** Code 100 subcode 33 / code 803: the object does not exist or this token cannot see it. */
export class InstagramNotFoundError extends InstagramBadRequestError {
  override readonly kind = 'not_found';
}

/** Codes 1 and 2, `is_transient: true`, and 5xx: worth retrying. */
export class InstagramTransientError extends InstagramApiError {
  readonly kind = 'transient';
}

/** The request failed below HTTP: refused, reset, dropped, DNS. */
export class InstagramNetworkError extends InstagramApiError {
  readonly kind: 'network' | 'timeout' = 'network';
  constructor(
    message: string,
    details: InstagramErrorDetails,
    /** undici / Node error code, e.g. `UND_ERR_SOCKET`, `ECONNREFUSED`. */
    readonly causeCode: string | undefined,
  ) {
    super(message, details);
  }

  override toLog(): Record<string, unknown> {
    return { ...super.toLog(), causeCode: this.causeCode };
  }
}

/** No complete response within `timeoutMs` for one attempt. */
export class InstagramTimeoutError extends InstagramNetworkError {
  override readonly kind = 'timeout';
  constructor(
    message: string,
    details: InstagramErrorDetails,
    readonly timeoutMs: number,
  ) {
    super(message, details, 'TIMEOUT');
  }
}

/** Anything we cannot classify, including a 2xx whose body does not have the expected shape. */
export class InstagramUnknownError extends InstagramApiError {
  readonly kind = 'unknown';
}

export type TokenRefreshRefusal = 'too_young' | 'expired';

/**
 * Thrown before any request when Meta would refuse the refresh anyway: long-lived tokens can be
 * refreshed only once they are at least 24 hours old and not yet expired.
 */
export class TokenRefreshNotAllowedError extends Error {
  constructor(
    readonly reason: TokenRefreshRefusal,
    /** For `too_young`: the first moment a refresh is allowed. */
    readonly retryAt: Date | undefined,
  ) {
    super(
      reason === 'too_young'
        ? 'Long-lived Instagram tokens can be refreshed only once they are at least 24 hours old'
        : 'The Instagram token has expired and can no longer be refreshed; the account must be reconnected',
    );
    this.name = 'TokenRefreshNotAllowedError';
  }
}

// ---------------------------------------------------------------------------------------------
// Mapping Meta's replies to the taxonomy above

export const DEFAULT_RATE_LIMIT_RESET_MS = 60 * 60 * 1000;
const PUBLISHING_LIMIT_RESET_MS = 24 * 60 * 60 * 1000;

export interface MapGraphErrorOptions {
  now?: Date;
  /** Values to cut out of messages (the token, code, secret and proof of this request). */
  secrets?: readonly string[];
  /**
   * Wait assumed when Meta rate-limits without saying for how long. Platform limits are
   * rolling one-hour windows, so one hour is the longest a block from them can last.
   */
  defaultRateLimitResetMs?: number;
  operation?: string;
}

interface GraphErrorFields {
  message: string;
  type?: string;
  code?: number;
  subcode?: number;
  isTransient?: boolean;
  fbtraceId?: string;
  userMessage?: string;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function asInt(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isInteger(value)) return value;
  if (typeof value === 'string' && /^-?\d{1,12}$/.test(value)) return Number(value);
  return undefined;
}

function asString(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

function parseBody(body: unknown): unknown {
  if (typeof body !== 'string') return body;
  try {
    return JSON.parse(body) as unknown;
  } catch {
    return undefined;
  }
}

/** The Graph envelope `{"error":{…}}`, or the code exchange's `{error_type, code, error_message}`. */
function readErrorFields(body: unknown): { fields: GraphErrorFields; graph: boolean } | undefined {
  if (!isRecord(body)) return undefined;
  if (isRecord(body.error)) {
    const e = body.error;
    return {
      graph: true,
      fields: {
        message: asString(e.message) ?? 'Instagram API error',
        type: asString(e.type),
        code: asInt(e.code),
        subcode: asInt(e.error_subcode),
        isTransient: typeof e.is_transient === 'boolean' ? e.is_transient : undefined,
        fbtraceId: asString(e.fbtrace_id),
        userMessage: asString(e.error_user_msg),
      },
    };
  }
  if (typeof body.error_type === 'string' || typeof body.error_message === 'string') {
    // Here `code` is an HTTP status, not a Graph code: keep it out of `code`.
    return {
      graph: false,
      fields: {
        message: asString(body.error_message) ?? 'Instagram API error',
        type: asString(body.error_type),
      },
    };
  }
  return undefined;
}

function retryAfterMs(headers: HttpHeaders): number | undefined {
  const raw = headerValue(headers, 'retry-after');
  if (raw === undefined || !/^\d{1,7}$/.test(raw.trim())) return undefined;
  return Number(raw.trim()) * 1000;
}

/**
 * Turns one non-successful reply into a typed error. Pure: decisions come from Meta's `code`
 * (never from the HTTP status, which Meta sets inconsistently), except when there is no usable
 * body: then 5xx is transient and 429 a rate limit.
 */
export function mapGraphError(
  status: number,
  body: unknown,
  headers: HttpHeaders = {},
  options: MapGraphErrorOptions = {},
): InstagramApiError {
  const now = options.now ?? new Date();
  const usage = parseUsageHeaders(headers, now);
  const parsed = readErrorFields(parseBody(body));
  const base = {
    httpStatus: status,
    ...(usage ? { usage } : {}),
    ...(options.operation ? { operation: options.operation } : {}),
  };

  if (!parsed) {
    if (status >= 500) {
      return new InstagramTransientError(`Instagram returned HTTP ${status}`, {
        ...base,
        isTransient: true,
      });
    }
    if (status === 429) {
      return rateLimitError(`Instagram returned HTTP 429`, base, 'http', headers, now, options);
    }
    return new InstagramUnknownError(
      `Instagram returned HTTP ${status} without an error description`,
      base,
    );
  }

  const f = parsed.fields;
  const message = scrubMessage(f.message, options.secrets);
  const details: InstagramErrorDetails = {
    ...base,
    ...(f.code !== undefined ? { code: f.code } : {}),
    ...(f.subcode !== undefined ? { subcode: f.subcode } : {}),
    ...(f.type !== undefined ? { type: f.type } : {}),
    ...(f.fbtraceId !== undefined ? { fbtraceId: f.fbtraceId } : {}),
    ...(f.isTransient !== undefined ? { isTransient: f.isTransient } : {}),
    ...(f.userMessage !== undefined
      ? { userMessage: scrubMessage(f.userMessage, options.secrets) }
      : {}),
  };

  if (!parsed.graph) {
    return status >= 500
      ? new InstagramTransientError(message, { ...details, isTransient: true })
      : new InstagramBadRequestError(message, details);
  }

  // The code's family decides (domain/instagram/meta-codes.ts). Rate limits first: Meta marks
  // some of them `is_transient`, but retrying at once only extends the block.
  const code = f.code;
  const family = code === undefined ? undefined : codeFamily(code, f.subcode);
  const scope = code === undefined ? undefined : rateLimitScopeOf(code);
  if (scope) return rateLimitError(message, details, scope, headers, now, options);
  if (family === 'token_invalid') return new InstagramTokenInvalidError(message, details);
  if (family === 'permission') return new InstagramPermissionError(message, details);
  if (family === 'transient' || f.isTransient === true) {
    return new InstagramTransientError(message, { ...details, isTransient: true });
  }
  if (family === 'not_found') return new InstagramNotFoundError(message, details);
  if (family === 'bad_request') return new InstagramBadRequestError(message, details);
  if (status >= 500) return new InstagramTransientError(message, { ...details, isTransient: true });
  return new InstagramUnknownError(message, details);
}

function rateLimitError(
  message: string,
  details: InstagramErrorDetails,
  scope: RateLimitScope,
  headers: HttpHeaders,
  now: Date,
  options: MapGraphErrorOptions,
): InstagramRateLimitError {
  const fromBuc = businessUseCaseRegainAt(details.usage?.businessUseCase, now);
  const retryAfter = retryAfterMs(headers);
  const fallbackMs =
    scope === 'publishing'
      ? PUBLISHING_LIMIT_RESET_MS
      : (options.defaultRateLimitResetMs ?? DEFAULT_RATE_LIMIT_RESET_MS);
  const resetAt =
    fromBuc ?? new Date(now.getTime() + (retryAfter !== undefined ? retryAfter : fallbackMs));
  return new InstagramRateLimitError(
    message,
    details,
    resetAt,
    scope,
    fromBuc !== undefined || retryAfter !== undefined,
  );
}
