import { Inject, Injectable } from '@nestjs/common';
import { PreparedStatement } from 'pg-promise';
import type {
  DataDeletionRequest,
  DataDeletionStatus,
  IDataDeletionRepository,
} from '../../../domain/repositories/data-deletion.repository.interface';
import type { Db, Queryable } from '../database';
import { PG } from '../database.module';

interface DeletionRow {
  confirmation_code: string;
  instagram_user_id: string;
  status: string;
  accounts_deleted: number;
  requested_at: Date;
  completed_at: Date | null;
}

const COLUMNS =
  'confirmation_code, instagram_user_id, status, accounts_deleted, requested_at, completed_at';

const insertRequest = new PreparedStatement({
  name: 'data-deletion-insert',
  text: `INSERT INTO data_deletion_requests (confirmation_code, instagram_user_id, issued_at)
         VALUES ($1, $2, $3)
         ON CONFLICT (instagram_user_id, issued_at) DO NOTHING
         RETURNING ${COLUMNS}`,
});
const findRequestByKey = new PreparedStatement({
  name: 'data-deletion-find-by-key',
  text: `SELECT ${COLUMNS} FROM data_deletion_requests
         WHERE instagram_user_id = $1 AND issued_at = $2`,
});
const lockRequest = new PreparedStatement({
  name: 'data-deletion-lock',
  text: `SELECT ${COLUMNS} FROM data_deletion_requests WHERE confirmation_code = $1 FOR UPDATE`,
});
const findRequest = new PreparedStatement({
  name: 'data-deletion-find',
  text: `SELECT ${COLUMNS} FROM data_deletion_requests WHERE confirmation_code = $1`,
});
const completeRequest = new PreparedStatement({
  name: 'data-deletion-complete',
  text: `UPDATE data_deletion_requests
         SET status = 'completed', accounts_deleted = $2, completed_at = now()
         WHERE confirmation_code = $1`,
});
const failRequest = new PreparedStatement({
  name: 'data-deletion-fail',
  text: `UPDATE data_deletion_requests SET status = 'failed'
         WHERE confirmation_code = $1 AND status <> 'completed'`,
});

const toRequest = (row: DeletionRow): DataDeletionRequest => ({
  confirmationCode: row.confirmation_code,
  instagramUserId: row.instagram_user_id,
  status: row.status as DataDeletionStatus,
  accountsDeleted: row.accounts_deleted,
  requestedAt: row.requested_at,
  completedAt: row.completed_at,
});

@Injectable()
export class PostgresDataDeletionRepository implements IDataDeletionRepository {
  constructor(@Inject(PG) private readonly db: Db) {}

  async findOrCreate(
    confirmationCode: string,
    instagramUserId: string,
    issuedAt: Date,
  ): Promise<DataDeletionRequest> {
    const created = await this.db.oneOrNone<DeletionRow>(insertRequest, [
      confirmationCode,
      instagramUserId,
      issuedAt,
    ]);
    // Not inserted: the same request is recorded already (the insert waited for its commit).
    return toRequest(
      created ?? (await this.db.one<DeletionRow>(findRequestByKey, [instagramUserId, issuedAt])),
    );
  }

  async findByCodeForUpdate(
    confirmationCode: string,
    tx: Queryable,
  ): Promise<DataDeletionRequest | null> {
    const row = await tx.oneOrNone<DeletionRow>(lockRequest, [confirmationCode]);
    return row ? toRequest(row) : null;
  }

  async findByCode(confirmationCode: string): Promise<DataDeletionRequest | null> {
    const row = await this.db.oneOrNone<DeletionRow>(findRequest, [confirmationCode]);
    return row ? toRequest(row) : null;
  }

  async markCompleted(
    confirmationCode: string,
    accountsDeleted: number,
    tx: Queryable = this.db,
  ): Promise<void> {
    await tx.none(completeRequest, [confirmationCode, accountsDeleted]);
  }

  async markFailed(confirmationCode: string): Promise<void> {
    await this.db.none(failRequest, [confirmationCode]);
  }
}
