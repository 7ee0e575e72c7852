import { createHmac } from 'node:crypto';

const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** Hand-made JWTs, so tests can forge what a library would refuse to produce. */
export function craftJwt(
  payload: Record<string, unknown>,
  options: { secret?: string; alg?: 'HS256' | 'HS384' | 'HS512' | 'none' } = {},
): string {
  const alg = options.alg ?? 'HS256';
  const head = `${b64({ alg, typ: 'JWT' })}.${b64(payload)}`;
  if (alg === 'none') return `${head}.`;
  const digest = { HS256: 'sha256', HS384: 'sha384', HS512: 'sha512' }[alg];
  const signature = createHmac(digest, options.secret ?? 'x')
    .update(head)
    .digest('base64url');
  return `${head}.${signature}`;
}
