import { Inject, Injectable } from '@nestjs/common';
import { PreparedStatement } from 'pg-promise';
import type {
  IAccountPictureRepository,
  KeptPicture,
  KeptPictureType,
} from '../../../domain/repositories/account-picture.repository.interface';
import type { Db, Queryable } from '../database';
import { PG } from '../database.module';

interface PictureRow {
  account_id: string;
  content: Buffer;
  content_type: string;
  sha256: string;
  source_url: string;
  fetched_at: Date;
}

const savePicture = new PreparedStatement({
  name: 'account-picture-save',
  text: `INSERT INTO account_pictures (account_id, content, content_type, sha256, source_url, fetched_at)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (account_id) DO UPDATE SET
           content = EXCLUDED.content, content_type = EXCLUDED.content_type,
           sha256 = EXCLUDED.sha256, source_url = EXCLUDED.source_url, fetched_at = EXCLUDED.fetched_at`,
});

const findPicture = new PreparedStatement({
  name: 'account-picture-find',
  text: `SELECT account_id, content, content_type, sha256, source_url, fetched_at
         FROM account_pictures WHERE account_id = $1`,
});

@Injectable()
export class PostgresAccountPictureRepository implements IAccountPictureRepository {
  constructor(@Inject(PG) private readonly db: Db) {}

  async find(accountId: string, tx: Queryable = this.db): Promise<KeptPicture | null> {
    const row = await tx.oneOrNone<PictureRow>(findPicture, [accountId]);
    if (!row) return null;
    return {
      accountId: row.account_id,
      bytes: row.content,
      contentType: row.content_type as KeptPictureType,
      sha256: row.sha256,
      sourceUrl: row.source_url,
      fetchedAt: row.fetched_at,
    };
  }

  async save(picture: KeptPicture, tx: Queryable = this.db): Promise<void> {
    await tx.none(savePicture, [
      picture.accountId,
      picture.bytes,
      picture.contentType,
      picture.sha256,
      picture.sourceUrl,
      picture.fetchedAt,
    ]);
  }

  async delete(accountId: string, tx: Queryable = this.db): Promise<void> {
    await tx.none('DELETE FROM account_pictures WHERE account_id = $1', [accountId]);
  }
}
