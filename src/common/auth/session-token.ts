import { createHash, randomBytes } from 'node:crypto';

export const SESSION_COOKIE = 'ssell_session';

/** 256 random bits; the browser holds this, the database only its SHA-256. */
export function newSessionToken(): string {
  return randomBytes(32).toString('base64url');
}

export function hashSessionToken(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

const TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/;
export function isWellFormedSessionToken(value: unknown): value is string {
  return typeof value === 'string' && TOKEN_SHAPE.test(value);
}
