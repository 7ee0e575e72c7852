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
  /** Sessions revoked or deleted since `since` (what a process must refuse Bearer JWTs of). */
  listRevokedSince(since: Date): Promise<Array<{ sessionId: string; revokedAt: Date }>>;
  /** Forgets revocations older than `before` (their JWTs have expired); returns how many. */
  pruneRevocations(before: Date): Promise<number>;
}
