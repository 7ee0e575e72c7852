import { Inject, Injectable } from '@nestjs/common';
import { PreparedStatement } from 'pg-promise';
import type {
  SealedSecret,
  WebhookEndpoint,
  WebhookEventType,
  WebhookSubscription,
} from '../../../domain/entities/webhook.entity';
import { ALL_WEBHOOK_EVENTS } from '../../../domain/entities/webhook.entity';
import type {
  IWebhookEndpointRepository,
  NewWebhookEndpoint,
} from '../../../domain/repositories/webhook-endpoint.repository.interface';
import type { Db, Queryable } from '../database';
import { PG } from '../database.module';
import { currentAccountIdSql } from './postgres-current-account.repository';

interface EndpointRow {
  id: string;
  user_id: string;
  url: string;
  events: string[];
  description: string | null;
  created_at: Date;
  updated_at: Date;
}

interface SecretRow extends EndpointRow {
  secret_ciphertext: Buffer;
  secret_iv: Buffer;
  secret_auth_tag: Buffer;
  secret_key_version: number;
}

const COLUMNS = 'id, user_id, url, events, description, created_at, updated_at';
const SECRET_COLUMNS = 'secret_ciphertext, secret_iv, secret_auth_tag, secret_key_version';

// Runs for every change that appends account events (the fan-out), mostly to find nothing; the
// current account is read only for the rows it finds.
const findFanOutTargets = new PreparedStatement({
  name: 'webhook-endpoints-fan-out',
  text: `SELECT ${COLUMNS}, ${currentAccountIdSql(1)} AS current_account_id
         FROM webhook_endpoints
         WHERE user_id = $1 AND events && ($2::text[] || $3::text)
         ORDER BY created_at, id`,
});
const findWithSecret = new PreparedStatement({
  name: 'webhook-endpoints-with-secret',
  text: `SELECT ${COLUMNS}, ${SECRET_COLUMNS} FROM webhook_endpoints WHERE id = $1`,
});

function toEndpoint(row: EndpointRow): WebhookEndpoint {
  return {
    id: row.id,
    userId: row.user_id,
    url: row.url,
    events: row.events as WebhookSubscription[],
    description: row.description,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

@Injectable()
export class PostgresWebhookEndpointRepository implements IWebhookEndpointRepository {
  constructor(@Inject(PG) private readonly db: Db) {}

  async create(endpoint: NewWebhookEndpoint): Promise<WebhookEndpoint> {
    const { secret } = endpoint;
    const row = await this.db.one<EndpointRow>(
      `INSERT INTO webhook_endpoints (id, user_id, url, events, description, ${SECRET_COLUMNS})
       VALUES ($1, $2, $3, $4::text[], $5, $6, $7, $8, $9)
       RETURNING ${COLUMNS}`,
      [
        endpoint.id,
        endpoint.userId,
        endpoint.url,
        endpoint.events,
        endpoint.description,
        secret.ciphertext,
        secret.iv,
        secret.authTag,
        secret.keyVersion,
      ],
    );
    return toEndpoint(row);
  }

  async findById(id: string): Promise<WebhookEndpoint | null> {
    const row = await this.db.oneOrNone<EndpointRow>(
      `SELECT ${COLUMNS} FROM webhook_endpoints WHERE id = $1`,
      [id],
    );
    return row ? toEndpoint(row) : null;
  }

  async findWithSecret(
    id: string,
  ): Promise<{ endpoint: WebhookEndpoint; secret: SealedSecret } | null> {
    const row = await this.db.oneOrNone<SecretRow>(findWithSecret, [id]);
    if (!row) return null;
    return {
      endpoint: toEndpoint(row),
      secret: {
        ciphertext: row.secret_ciphertext,
        iv: row.secret_iv,
        authTag: row.secret_auth_tag,
        keyVersion: row.secret_key_version,
      },
    };
  }

  async listByUser(userId: string): Promise<WebhookEndpoint[]> {
    const rows = await this.db.manyOrNone<EndpointRow>(
      `SELECT ${COLUMNS} FROM webhook_endpoints WHERE user_id = $1 ORDER BY created_at, id`,
      [userId],
    );
    return rows.map(toEndpoint);
  }

  async countByUser(userId: string): Promise<number> {
    const row = await this.db.one<{ count: number }>(
      'SELECT count(*)::int AS count FROM webhook_endpoints WHERE user_id = $1',
      [userId],
    );
    return row.count;
  }

  async findFanOutTargets(
    userId: string,
    types: readonly WebhookEventType[],
    tx: Queryable = this.db,
  ): Promise<{ endpoints: WebhookEndpoint[]; currentAccountId: string | null }> {
    const rows = await tx.manyOrNone<EndpointRow & { current_account_id: string | null }>(
      findFanOutTargets,
      [userId, types, ALL_WEBHOOK_EVENTS],
    );
    return {
      endpoints: rows.map(toEndpoint),
      currentAccountId: rows[0]?.current_account_id ?? null,
    };
  }

  async replaceSecret(id: string, secret: SealedSecret): Promise<boolean> {
    const result = await this.db.result(
      `UPDATE webhook_endpoints
       SET secret_ciphertext = $2, secret_iv = $3, secret_auth_tag = $4, secret_key_version = $5,
           updated_at = now()
       WHERE id = $1`,
      [id, secret.ciphertext, secret.iv, secret.authTag, secret.keyVersion],
    );
    return result.rowCount === 1;
  }

  async secretKeyVersions(): Promise<number[]> {
    return this.db.map(
      'SELECT DISTINCT secret_key_version AS v FROM webhook_endpoints ORDER BY 1',
      [],
      (row: { v: number }) => row.v,
    );
  }

  async resealSecrets(
    currentVersion: number,
    reseal: (id: string, secret: SealedSecret) => SealedSecret | null,
  ): Promise<{ resealed: string[]; left: string[] }> {
    // A handful of rows per user: one transaction; SKIP LOCKED lets a second run go beside it.
    return this.db.tx('webhook-secrets-reseal', async (tx) => {
      const rows = await tx.manyOrNone<SecretRow>(
        `SELECT ${COLUMNS}, ${SECRET_COLUMNS} FROM webhook_endpoints
         WHERE secret_key_version <> $1 ORDER BY id FOR UPDATE SKIP LOCKED`,
        [currentVersion],
      );
      const resealed: string[] = [];
      const left: string[] = [];
      for (const row of rows) {
        const sealed = reseal(row.id, {
          ciphertext: row.secret_ciphertext,
          iv: row.secret_iv,
          authTag: row.secret_auth_tag,
          keyVersion: row.secret_key_version,
        });
        if (!sealed) {
          left.push(row.id);
          continue;
        }
        await tx.none(
          `UPDATE webhook_endpoints SET secret_ciphertext = $2, secret_iv = $3,
             secret_auth_tag = $4, secret_key_version = $5 WHERE id = $1`,
          [row.id, sealed.ciphertext, sealed.iv, sealed.authTag, sealed.keyVersion],
        );
        resealed.push(row.id);
      }
      return { resealed, left };
    });
  }

  async delete(id: string): Promise<boolean> {
    const result = await this.db.result('DELETE FROM webhook_endpoints WHERE id = $1', [id]);
    return result.rowCount === 1;
  }
}
