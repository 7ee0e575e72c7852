import { createHmac, timingSafeEqual } from 'node:crypto';
import { parseJsonKeepingBigIntegers } from '../../../infrastructure/instagram/json-big-ids';

export type SignedRequestFailure =
  'missing' | 'malformed' | 'bad_signature' | 'bad_algorithm' | 'bad_payload' | 'stale';

/** Every way a `signed_request` can be refused; the message is safe to send back. */
export class SignedRequestError extends Error {
  constructor(
    readonly reason: SignedRequestFailure,
    message: string,
  ) {
    super(message);
    this.name = 'SignedRequestError';
  }
}

/** What Meta's deauthorize and data-deletion callbacks sign (platform notes, section E). */
export interface SignedRequestPayload {
  algorithm: 'HMAC-SHA256';
  /** App-scoped Instagram user id, exact digits. */
  userId: string;
  /** Unix seconds, when Meta sent it. */
  issuedAt: number | undefined;
  /** Unix seconds (data deletion only). */
  expires: number | undefined;
}

// Real ones are a few hundred characters; the bound keeps HMAC and JSON work small for garbage.
export const MAX_SIGNED_REQUEST_LENGTH = 8192;
// base64url without padding is what Meta sends; trailing `=` is tolerated because some
// re-encoders add it, and it is part of what was signed either way.
const BASE64URL = /^[A-Za-z0-9_-]+={0,2}$/;
const SHA256_BYTES = 32;
const USER_ID = /^\d{1,30}$/;

function fail(reason: SignedRequestFailure, message: string): never {
  throw new SignedRequestError(reason, message);
}

function optionalSeconds(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : undefined;
}

/**
 * Verifies Meta's `signed_request` (`base64url(signature).base64url(payload)`, the signature an
 * HMAC-SHA256 of the encoded payload string keyed by the app secret) and returns its payload.
 * Throws only {@link SignedRequestError}; nothing in the payload is trusted before the signature
 * has been checked.
 */
export function verifySignedRequest(
  signedRequest: unknown,
  appSecret: string,
): SignedRequestPayload {
  if (typeof signedRequest !== 'string' || signedRequest.length === 0) {
    fail('missing', 'signed_request is required');
  }
  if (signedRequest.length > MAX_SIGNED_REQUEST_LENGTH) {
    fail('malformed', 'signed_request is too long');
  }
  const parts = signedRequest.split('.');
  if (parts.length !== 2) fail('malformed', 'signed_request must be <signature>.<payload>');
  const [encodedSignature, encodedPayload] = parts as [string, string];
  if (!BASE64URL.test(encodedSignature) || !BASE64URL.test(encodedPayload)) {
    fail('malformed', 'signed_request is not base64url');
  }

  const given = Buffer.from(encodedSignature, 'base64url');
  const expected = createHmac('sha256', appSecret).update(encodedPayload).digest();
  // timingSafeEqual needs equal lengths; a signature of another length is simply wrong.
  if (given.length !== SHA256_BYTES || !timingSafeEqual(given, expected)) {
    fail('bad_signature', 'signed_request signature does not match');
  }

  let payload: unknown;
  try {
    payload = parseJsonKeepingBigIntegers(
      Buffer.from(encodedPayload, 'base64url').toString('utf8'),
    );
  } catch {
    fail('bad_payload', 'signed_request payload is not JSON');
  }
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
    fail('bad_payload', 'signed_request payload is not an object');
  }
  const fields = payload as Record<string, unknown>;
  if (typeof fields.algorithm !== 'string' || fields.algorithm.toUpperCase() !== 'HMAC-SHA256') {
    fail('bad_algorithm', 'signed_request algorithm must be HMAC-SHA256');
  }
  // Meta sends the id as a string; a bare number is accepted while it is exact (the parser above
  // turns larger ones into strings with every digit kept).
  const rawUserId = fields.user_id;
  const userId =
    typeof rawUserId === 'number' && Number.isSafeInteger(rawUserId)
      ? String(rawUserId)
      : rawUserId;
  if (typeof userId !== 'string' || !USER_ID.test(userId)) {
    fail('bad_payload', 'signed_request payload has no valid user_id');
  }
  return {
    algorithm: 'HMAC-SHA256',
    userId,
    issuedAt: optionalSeconds(fields.issued_at),
    expires: optionalSeconds(fields.expires),
  };
}

/**
 * How old a callback's `issued_at` may be. Meta documents no retry schedule for the deauthorize
 * and data-deletion callbacks; its webhooks are retried for up to 36 hours, and a retry may carry
 * the original signed_request. Refusing those would drop a deletion Meta requires us to honour,
 * while accepting a replay inside the window does no harm: a replayed deletion maps to its first
 * confirmation code and deletes nothing more, and neither callback touches an account connected
 * after the request was issued.
 */
export const SIGNED_REQUEST_MAX_AGE_SECONDS = 36 * 3600;
/** Clock difference between Meta and us. */
export const SIGNED_REQUEST_MAX_FUTURE_SECONDS = 5 * 60;

/** Refuses (as `stale`) a payload with no `issued_at`, or one outside the window above. */
export function assertFresh(payload: SignedRequestPayload, nowMs: number = Date.now()): void {
  const issuedAt = payload.issuedAt;
  if (issuedAt === undefined) fail('stale', 'signed_request has no issued_at');
  const nowSeconds = nowMs / 1000;
  if (issuedAt < nowSeconds - SIGNED_REQUEST_MAX_AGE_SECONDS) {
    fail('stale', 'signed_request issued_at is more than 36 hours old');
  }
  if (issuedAt > nowSeconds + SIGNED_REQUEST_MAX_FUTURE_SECONDS) {
    fail('stale', 'signed_request issued_at is in the future');
  }
}
