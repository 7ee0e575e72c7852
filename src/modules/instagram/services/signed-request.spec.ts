import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  assertFresh,
  MAX_SIGNED_REQUEST_LENGTH,
  SIGNED_REQUEST_MAX_AGE_SECONDS,
  SIGNED_REQUEST_MAX_FUTURE_SECONDS,
  SignedRequestError,
  type SignedRequestFailure,
  verifySignedRequest,
} from './signed-request';

// instagram-platform.md, section E (from bk-rs/facebook-rs): secret `key`.
const TEST_VECTOR =
  'Mf_s6nTb38UYqioBmPqu0Ewm9souPZB9I2fIGwV729U.eyJ1c2VyX2lkIjoiMCIsImFsZ29yaXRobSI6IkhNQUMtU0hBMjU2IiwiaXNzdWVkX2F0IjoxNjI0MjQ0MTU2fQ';
const SECRET = 'key';

const b64 = (text: string) => Buffer.from(text).toString('base64url');

/** What Meta does: sign the encoded payload string. */
function sign(payload: string, secret = SECRET): string {
  const encoded = b64(payload);
  return `${createHmac('sha256', secret).update(encoded).digest('base64url')}.${encoded}`;
}

function reasonOf(run: () => unknown): SignedRequestFailure {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(SignedRequestError);
    return (error as SignedRequestError).reason;
  }
  throw new Error('expected a SignedRequestError');
}

describe('verifySignedRequest', () => {
  it("accepts the platform notes' test vector", () => {
    expect(verifySignedRequest(TEST_VECTOR, SECRET)).toEqual({
      algorithm: 'HMAC-SHA256',
      userId: '0',
      issuedAt: 1624244156,
      expires: undefined,
    });
  });

  it("reads Meta's data-deletion payload, keeping big ids exact", () => {
    const payload =
      '{"algorithm":"HMAC-SHA256","expires":1291840400,"issued_at":1291836800,"user_id":"26181203548593114"}';
    expect(verifySignedRequest(sign(payload), SECRET)).toEqual({
      algorithm: 'HMAC-SHA256',
      userId: '26181203548593114',
      issuedAt: 1291836800,
      expires: 1291840400,
    });
    // A bare number above 2^53 keeps its digits instead of being rounded.
    const numeric = '{"algorithm":"HMAC-SHA256","user_id":17841405793187218}';
    expect(verifySignedRequest(sign(numeric), SECRET).userId).toBe('17841405793187218');
  });

  it('refuses a tampered payload', () => {
    const [signature] = TEST_VECTOR.split('.');
    const forged = b64('{"user_id":"1","algorithm":"HMAC-SHA256","issued_at":1624244156}');
    expect(reasonOf(() => verifySignedRequest(`${signature}.${forged}`, SECRET))).toBe(
      'bad_signature',
    );
  });

  it('refuses a tampered signature, one of the wrong length, and another secret', () => {
    const [signature, payload] = TEST_VECTOR.split('.') as [string, string];
    const flipped = `${signature[0] === 'A' ? 'B' : 'A'}${signature.slice(1)}`;
    expect(reasonOf(() => verifySignedRequest(`${flipped}.${payload}`, SECRET))).toBe(
      'bad_signature',
    );
    expect(
      reasonOf(() => verifySignedRequest(`${signature.slice(0, 20)}.${payload}`, SECRET)),
    ).toBe('bad_signature');
    expect(reasonOf(() => verifySignedRequest(TEST_VECTOR, 'another-secret'))).toBe(
      'bad_signature',
    );
  });

  it('refuses another algorithm, even correctly signed', () => {
    for (const algorithm of ['HMAC-SHA1', 'none', '', 42]) {
      const payload = JSON.stringify({ algorithm, user_id: '1' });
      expect(reasonOf(() => verifySignedRequest(sign(payload), SECRET))).toBe('bad_algorithm');
    }
    expect(reasonOf(() => verifySignedRequest(sign('{"user_id":"1"}'), SECRET))).toBe(
      'bad_algorithm',
    );
  });

  it('refuses malformed strings', () => {
    const cases: Array<[unknown, SignedRequestFailure]> = [
      [undefined, 'missing'],
      [null, 'missing'],
      ['', 'missing'],
      [['a.b'], 'missing'],
      ['no-dot-at-all', 'malformed'],
      ['a.b.c', 'malformed'],
      ['.payload', 'malformed'],
      ['signature.', 'malformed'],
      ['sig+nature.payload', 'malformed'],
      ['signature.pay/load', 'malformed'],
      ['sig nature.payload', 'malformed'],
      ['a'.repeat(MAX_SIGNED_REQUEST_LENGTH) + '.b', 'malformed'],
    ];
    for (const [input, reason] of cases) {
      expect(reasonOf(() => verifySignedRequest(input, SECRET))).toBe(reason);
    }
  });

  it('refuses correctly signed payloads that are not what Meta sends', () => {
    const cases: Array<[string, SignedRequestFailure]> = [
      ['not json', 'bad_payload'],
      ['[1,2]', 'bad_payload'],
      ['"HMAC-SHA256"', 'bad_payload'],
      ['null', 'bad_payload'],
      ['{"algorithm":"HMAC-SHA256"}', 'bad_payload'],
      ['{"algorithm":"HMAC-SHA256","user_id":""}', 'bad_payload'],
      ['{"algorithm":"HMAC-SHA256","user_id":"12a"}', 'bad_payload'],
      ['{"algorithm":"HMAC-SHA256","user_id":{"id":"1"}}', 'bad_payload'],
      ['{"algorithm":"HMAC-SHA256","user_id":-1}', 'bad_payload'],
    ];
    for (const [payload, reason] of cases) {
      expect(reasonOf(() => verifySignedRequest(sign(payload), SECRET))).toBe(reason);
    }
  });

  it('never throws anything but SignedRequestError for arbitrary input', () => {
    const expectOnlyTyped = (input: unknown) => {
      try {
        verifySignedRequest(input, SECRET);
      } catch (error) {
        if (!(error instanceof SignedRequestError)) throw error;
      }
    };
    fc.assert(fc.property(fc.anything(), expectOnlyTyped), { numRuns: 500 });
    fc.assert(fc.property(fc.string({ maxLength: 300 }), expectOnlyTyped), { numRuns: 2000 });
    // Two well-formed base64url halves: past the shape checks, into HMAC and JSON parsing.
    const half = fc.stringMatching(/^[A-Za-z0-9_-]{1,120}$/);
    fc.assert(
      fc.property(half, half, (sig, payload) => expectOnlyTyped(`${sig}.${payload}`)),
      { numRuns: 2000 },
    );
    // Signed arbitrary text and JSON: past the signature, into payload validation.
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.json()), (payload) => expectOnlyTyped(sign(payload))),
      { numRuns: 2000 },
    );
  });
});

describe('assertFresh', () => {
  const now = 1_800_000_000_000;
  const nowSeconds = now / 1000;
  const payload = (issuedAt: number | undefined) => ({
    algorithm: 'HMAC-SHA256' as const,
    userId: '1',
    issuedAt,
    expires: undefined,
  });

  it('accepts what Meta may still be retrying: up to 36 hours old, a few minutes ahead', () => {
    expect(SIGNED_REQUEST_MAX_AGE_SECONDS).toBe(36 * 3600);
    for (const issuedAt of [
      nowSeconds,
      nowSeconds - 3600,
      nowSeconds - SIGNED_REQUEST_MAX_AGE_SECONDS,
      nowSeconds + SIGNED_REQUEST_MAX_FUTURE_SECONDS,
    ]) {
      expect(() => assertFresh(payload(issuedAt), now)).not.toThrow();
    }
  });

  it('refuses a stale, a future and an undated payload', () => {
    for (const issuedAt of [
      1,
      1624244156,
      nowSeconds - SIGNED_REQUEST_MAX_AGE_SECONDS - 1,
      nowSeconds + SIGNED_REQUEST_MAX_FUTURE_SECONDS + 1,
      nowSeconds + 86_400,
      undefined,
    ]) {
      expect({ issuedAt, reason: reasonOf(() => assertFresh(payload(issuedAt), now)) }).toEqual({
        issuedAt,
        reason: 'stale',
      });
    }
  });
});
