import { Inject, Injectable } from '@nestjs/common';
import { PreparedStatement } from 'pg-promise';
import type { User, UserWithPassword } from '../../../domain/entities/user.entity';
import type { IUserRepository } from '../../../domain/repositories/user.repository.interface';
import type { Db } from '../database';
import { PG } from '../database.module';

interface UserRow {
  id: string;
  email: string;
  name: string | null;
  created_at: Date;
  updated_at: Date;
  password_hash?: string;
}

const COLUMNS = 'id, email, name, created_at, updated_at';

const insertUser = new PreparedStatement({
  name: 'users-insert',
  text: `INSERT INTO users (email, name, password_hash) VALUES ($1, $2, $3)
         ON CONFLICT ((lower(email))) DO NOTHING
         RETURNING ${COLUMNS}`,
});
const findUserById = new PreparedStatement({
  name: 'users-find-by-id',
  text: `SELECT ${COLUMNS} FROM users WHERE id = $1`,
});
const findUserByEmail = new PreparedStatement({
  name: 'users-find-by-email',
  text: `SELECT ${COLUMNS}, password_hash FROM users WHERE lower(email) = lower($1)`,
});

function toUser(row: UserRow): User {
  return {
    id: row.id,
    email: row.email,
    name: row.name,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

@Injectable()
export class PostgresUserRepository implements IUserRepository {
  constructor(@Inject(PG) private readonly db: Db) {}

  async create(input: {
    email: string;
    name: string | null;
    passwordHash: string;
  }): Promise<User | null> {
    const row = await this.db.oneOrNone<UserRow>(insertUser, [
      input.email,
      input.name,
      input.passwordHash,
    ]);
    return row ? toUser(row) : null;
  }

  async findById(id: string): Promise<User | null> {
    const row = await this.db.oneOrNone<UserRow>(findUserById, [id]);
    return row ? toUser(row) : null;
  }

  async findByEmailWithPassword(email: string): Promise<UserWithPassword | null> {
    const row = await this.db.oneOrNone<UserRow>(findUserByEmail, [email]);
    if (!row?.password_hash) return null;
    return { ...toUser(row), passwordHash: row.password_hash };
  }

  async updatePasswordHash(id: string, passwordHash: string): Promise<void> {
    await this.db.none('UPDATE users SET password_hash = $2 WHERE id = $1', [id, passwordHash]);
  }
}
