import type { Session } from '../entities/user.entity';

export const SESSION_REPOSITORY = Symbol('SESSION_REPOSITORY');

export interface ISessionRepository {
  create(input: {
    userId: string;
    tokenHash: Buffer;
    expiresAt: Date;
    userAgent: string | null;
    ip: string | null;
  }): Promise<Session>;
  /** The session only if it is neither revoked nor expired. */
  findActiveByTokenHash(tokenHash: Buffer): Promise<Session | null>;
  revoke(id: string): Promise<void>;
}
