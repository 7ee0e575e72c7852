import {
  randomBytes,
  scrypt as scryptCallback,
  timingSafeEqual,
  type ScryptOptions,
} from 'node:crypto';
import { Injectable } from '@nestjs/common';

function scrypt(
  password: string,
  salt: Buffer,
  keylen: number,
  options: ScryptOptions,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scryptCallback(password, salt, keylen, options, (error, key) =>
      error ? reject(error) : resolve(key),
    );
  });
}

interface Params {
  ln: number;
  r: number;
  p: number;
}

/** Current cost: N = 2^15, r = 8, p = 1 (OWASP's scrypt minimum is N = 2^17 with p = 1 at 128 MB;
 *  2^15 keeps a login near 60 ms on two cores; the stored parameters let it be raised later). */
const CURRENT: Params = { ln: 15, r: 8, p: 1 };
const KEY_LENGTH = 32;
const FORMAT =
  /^scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/]+={0,2})\$([A-Za-z0-9+/]+={0,2})$/;

/**
 * scrypt password hashes in a self-describing string, `scrypt$ln=15,r=8,p=1$<salt>$<hash>`, so a
 * stronger setting can be introduced while old hashes still verify (and get upgraded on login).
 */
@Injectable()
export class PasswordHasher {
  async hash(password: string): Promise<string> {
    const salt = randomBytes(16);
    const key = await this.derive(password, salt, CURRENT);
    return `scrypt$ln=${CURRENT.ln},r=${CURRENT.r},p=${CURRENT.p}$${salt.toString('base64')}$${key.toString('base64')}`;
  }

  async verify(password: string, stored: string): Promise<boolean> {
    const match = FORMAT.exec(stored);
    if (!match) return false;
    const params = { ln: Number(match[1]), r: Number(match[2]), p: Number(match[3]) };
    const expected = Buffer.from(match[5]!, 'base64');
    const actual = await this.derive(
      password,
      Buffer.from(match[4]!, 'base64'),
      params,
      expected.length,
    );
    return actual.length === expected.length && timingSafeEqual(actual, expected);
  }

  needsRehash(stored: string): boolean {
    const match = FORMAT.exec(stored);
    return !match || Number(match[1]) < CURRENT.ln || Number(match[2]) < CURRENT.r;
  }

  /** Spends the same time as a real verification, for logins with an unknown email. */
  async burn(password: string): Promise<void> {
    await this.derive(password, randomBytes(16), CURRENT);
  }

  private derive(
    password: string,
    salt: Buffer,
    params: Params,
    keylen = KEY_LENGTH,
  ): Promise<Buffer> {
    const N = 2 ** params.ln;
    return scrypt(password.normalize('NFKC'), salt, keylen, {
      N,
      r: params.r,
      p: params.p,
      maxmem: 256 * N * params.r + 1024 * 1024,
    });
  }
}
