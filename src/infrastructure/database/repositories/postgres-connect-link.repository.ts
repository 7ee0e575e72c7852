import { Inject, Injectable } from '@nestjs/common';
import { PreparedStatement } from 'pg-promise';
import type {
  ConnectLink,
  ConnectLinkState,
  ConnectLinkView,
} from '../../../domain/entities/connect-link.entity';
import type {
  ConnectLinkClaim,
  IConnectLinkRepository,
  NewConnectLink,
} from '../../../domain/repositories/connect-link.repository.interface';
import type { Queryable } from '../../../domain/repositories/queryable';
import type { Db } from '../database';
import { PG } from '../database.module';

interface LinkRow {
  id: string;
  user_id: string;
  label: string | null;
  account_id: string | null;
  created_at: Date;
  expires_at: Date;
  used_at: Date | null;
  used_account_id: string | null;
  revoked_at: Date | null;
}

interface ViewRow extends LinkRow {
  state: ConnectLinkState;
  owner_name: string | null;
  owner_email: string;
  account_username: string | null;
}

const COLUMNS = `l.id, l.user_id, l.label, l.account_id, l.created_at, l.expires_at, l.used_at,
  l.used_account_id, l.revoked_at`;
// By the database's clock, so every process (and a test moving it) agrees on what has expired.
const STATE = `CASE WHEN l.revoked_at IS NOT NULL THEN 'revoked'
                    WHEN l.used_at IS NOT NULL THEN 'used'
                    WHEN l.expires_at <= now() THEN 'expired'
                    ELSE 'open' END`;

// The cap is checked in the insert itself; two creates racing may both pass it by one, which is
// all it is for: a bound on rows, not an exact quota.
const insertLink = new PreparedStatement({
  name: 'connect-links-insert',
  text: `INSERT INTO connect_links AS l (user_id, token_hash, label, account_id, expires_at)
         SELECT $1, $2, $3, $4, now() + make_interval(hours => $5)
         WHERE (SELECT count(*) FROM connect_links
                WHERE user_id = $1 AND revoked_at IS NULL AND used_at IS NULL
                  AND expires_at > now()) < $6
         RETURNING ${COLUMNS}`,
});
const findById = new PreparedStatement({
  name: 'connect-links-find-by-id',
  text: `SELECT ${COLUMNS} FROM connect_links l WHERE l.id = $1`,
});
const findViewByTokenHash = new PreparedStatement({
  name: 'connect-links-find-view',
  text: `SELECT ${COLUMNS}, ${STATE} AS state, u.name AS owner_name, u.email AS owner_email,
                a.username AS account_username
         FROM connect_links l
         JOIN users u ON u.id = l.user_id
         LEFT JOIN client_accounts a ON a.id = l.account_id
         WHERE l.token_hash = $1`,
});
const listUnexpired = new PreparedStatement({
  name: 'connect-links-list',
  text: `SELECT ${COLUMNS} FROM connect_links l
         WHERE l.user_id = $1 AND l.revoked_at IS NULL AND l.expires_at > now()
         ORDER BY l.created_at DESC, l.id DESC`,
});
const revokeLink = new PreparedStatement({
  name: 'connect-links-revoke',
  text: `UPDATE connect_links SET revoked_at = COALESCE(revoked_at, now()), claimed_until = NULL
         WHERE id = $1`,
});
// One statement: the update wins the row or the select says why not. The select reads the
// statement's snapshot, so a racing claim that just won shows as an open row here: `busy`.
const claimLink = new PreparedStatement({
  name: 'connect-links-claim',
  text: `WITH claimed AS (
           UPDATE connect_links SET claimed_until = now() + make_interval(secs => $2)
           WHERE id = $1 AND revoked_at IS NULL AND used_at IS NULL AND expires_at > now()
             AND (claimed_until IS NULL OR claimed_until <= now())
           RETURNING id)
         SELECT 'claimed' AS outcome FROM claimed
         UNION ALL
         SELECT CASE WHEN l.revoked_at IS NOT NULL THEN 'revoked'
                     WHEN l.used_at IS NOT NULL THEN 'used'
                     WHEN l.expires_at <= now() THEN 'expired'
                     ELSE 'busy' END
         FROM connect_links l WHERE l.id = $1 AND NOT EXISTS (SELECT 1 FROM claimed)`,
});
const markUsed = new PreparedStatement({
  name: 'connect-links-mark-used',
  text: `UPDATE connect_links SET used_at = now(), used_account_id = $2, claimed_until = NULL
         WHERE id = $1 AND used_at IS NULL AND revoked_at IS NULL`,
});
const releaseLink = new PreparedStatement({
  name: 'connect-links-release',
  text: 'UPDATE connect_links SET claimed_until = NULL WHERE id = $1 AND used_at IS NULL',
});

function toLink(row: LinkRow): ConnectLink {
  return {
    id: row.id,
    userId: row.user_id,
    label: row.label,
    accountId: row.account_id,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    usedAt: row.used_at,
    usedAccountId: row.used_account_id,
    revokedAt: row.revoked_at,
  };
}

@Injectable()
export class PostgresConnectLinkRepository implements IConnectLinkRepository {
  constructor(@Inject(PG) private readonly db: Db) {}

  async create(link: NewConnectLink): Promise<ConnectLink | null> {
    const row = await this.db.oneOrNone<LinkRow>(insertLink, [
      link.userId,
      link.tokenHash,
      link.label,
      link.accountId,
      link.expiresInHours,
      link.maxOpen,
    ]);
    return row ? toLink(row) : null;
  }

  async findById(id: string): Promise<ConnectLink | null> {
    const row = await this.db.oneOrNone<LinkRow>(findById, [id]);
    return row ? toLink(row) : null;
  }

  async findViewByTokenHash(tokenHash: Buffer): Promise<ConnectLinkView | null> {
    const row = await this.db.oneOrNone<ViewRow>(findViewByTokenHash, [tokenHash]);
    if (!row) return null;
    return {
      link: toLink(row),
      state: row.state,
      owner: { name: row.owner_name, email: row.owner_email },
      accountUsername: row.account_username,
    };
  }

  async listUnexpired(userId: string): Promise<ConnectLink[]> {
    return (await this.db.manyOrNone<LinkRow>(listUnexpired, [userId])).map(toLink);
  }

  async revoke(id: string): Promise<void> {
    await this.db.none(revokeLink, [id]);
  }

  async claim(id: string, leaseSeconds: number): Promise<ConnectLinkClaim> {
    const row = await this.db.oneOrNone<{ outcome: ConnectLinkClaim }>(claimLink, [
      id,
      leaseSeconds,
    ]);
    return row?.outcome ?? 'gone';
  }

  async markUsed(id: string, accountId: string, tx: Queryable = this.db): Promise<boolean> {
    return (await tx.result(markUsed, [id, accountId], (r) => r.rowCount)) === 1;
  }

  async release(id: string): Promise<void> {
    await this.db.none(releaseLink, [id]);
  }
}
