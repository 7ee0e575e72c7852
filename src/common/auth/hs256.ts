import { createHmac, timingSafeEqual } from 'node:crypto';

const PART = /^[A-Za-z0-9_-]+$/;

function parseJson(part: string): unknown {
  try {
    return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
}

/**
 * The claims of an HS256 JWT signed with `key`, or null: what jsonwebtoken's `verify` with
 * `algorithms: ['HS256']` accepts, without its per-call option handling and stream machinery (a
 * twentieth of an API request's CPU). Header and payload non-empty, `alg` exactly HS256, the
 * signature compared as jws compares it (the base64url text, in constant time), an object
 * payload, and `nbf`/`exp` numbers that hold at `nowSeconds` when present. The caller checks the
 * claims it needs.
 */
export function verifyHs256(
  token: string,
  key: Buffer,
  nowSeconds = Math.floor(Date.now() / 1000),
): Record<string, unknown> | null {
  const dot1 = token.indexOf('.');
  const dot2 = token.indexOf('.', dot1 + 1);
  if (dot1 <= 0 || dot2 <= dot1 + 1 || token.indexOf('.', dot2 + 1) !== -1) return null;
  const head = token.slice(0, dot1);
  const body = token.slice(dot1 + 1, dot2);
  const signature = token.slice(dot2 + 1);
  if (!PART.test(head) || !PART.test(body) || !PART.test(signature)) return null;

  const header = parseJson(head) as { alg?: unknown } | undefined;
  if (typeof header !== 'object' || header === null || header.alg !== 'HS256') return null;

  const expected = Buffer.from(
    createHmac('sha256', key).update(token.slice(0, dot2)).digest('base64url'),
  );
  const given = Buffer.from(signature);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;

  const claims = parseJson(body);
  if (typeof claims !== 'object' || claims === null) return null;
  const { nbf, exp } = claims as { nbf?: unknown; exp?: unknown };
  if (nbf !== undefined && (typeof nbf !== 'number' || nbf > nowSeconds)) return null;
  if (exp !== undefined && (typeof exp !== 'number' || nowSeconds >= exp)) return null;
  return claims as Record<string, unknown>;
}
