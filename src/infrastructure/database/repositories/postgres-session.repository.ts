import { Inject, Injectable } from '@nestjs/common';
import { PreparedStatement } from 'pg-promise';
import type { Session } from '../../../domain/entities/user.entity';
import type { ISessionRepository } from '../../../domain/repositories/session.repository.interface';
import type { Db } from '../database';
import { PG } from '../database.module';

interface SessionRow {
  id: string;
  user_id: string;
  expires_at: Date;
}

const insertSession = new PreparedStatement({
  name: 'sessions-insert',
  text: `INSERT INTO sessions (user_id, token_hash, expires_at, user_agent, ip)
         VALUES ($1, $2, $3, $4, $5)
         RETURNING id, user_id, expires_at`,
});
// Runs on every cookie-authenticated request.
const findActiveSession = new PreparedStatement({
  name: 'sessions-find-active',
  text: `SELECT id, user_id, expires_at FROM sessions
         WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > NOW()`,
});
const revokeSession = new PreparedStatement({
  name: 'sessions-revoke',
  text: 'UPDATE sessions SET revoked_at = NOW() WHERE id = $1 AND revoked_at IS NULL',
});

const listRevocations = new PreparedStatement({
  name: 'session-revocations-since',
  text: `SELECT session_id, revoked_at FROM session_revocations WHERE revoked_at >= $1`,
});
const pruneRevocations = new PreparedStatement({
  name: 'session-revocations-prune',
  text: 'DELETE FROM session_revocations WHERE revoked_at < $1',
});

const toSession = (row: SessionRow): Session => ({
  id: row.id,
  userId: row.user_id,
  expiresAt: row.expires_at,
});

@Injectable()
export class PostgresSessionRepository implements ISessionRepository {
  constructor(@Inject(PG) private readonly db: Db) {}

  async create(input: {
    userId: string;
    tokenHash: Buffer;
    expiresAt: Date;
    userAgent: string | null;
    ip: string | null;
  }): Promise<Session> {
    const row = await this.db.one<SessionRow>(insertSession, [
      input.userId,
      input.tokenHash,
      input.expiresAt,
      input.userAgent?.slice(0, 512) ?? null,
      input.ip,
    ]);
    return toSession(row);
  }

  async findActiveByTokenHash(tokenHash: Buffer): Promise<Session | null> {
    const row = await this.db.oneOrNone<SessionRow>(findActiveSession, [tokenHash]);
    return row ? toSession(row) : null;
  }

  async revoke(id: string): Promise<void> {
    await this.db.none(revokeSession, [id]);
  }

  async listRevokedSince(since: Date): Promise<Array<{ sessionId: string; revokedAt: Date }>> {
    const rows = await this.db.manyOrNone<{ session_id: string; revoked_at: Date }>(
      listRevocations,
      [since],
    );
    return rows.map((row) => ({ sessionId: row.session_id, revokedAt: row.revoked_at }));
  }

  async pruneRevocations(before: Date): Promise<number> {
    return (await this.db.result(pruneRevocations, [before])).rowCount;
  }
}
