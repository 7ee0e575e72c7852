import type { User, UserWithPassword } from '../entities/user.entity';

export const USER_REPOSITORY = Symbol('USER_REPOSITORY');

export interface IUserRepository {
  /** `null` when the email (case-insensitively) is taken. */
  create(input: { email: string; name: string | null; passwordHash: string }): Promise<User | null>;
  findById(id: string): Promise<User | null>;
  findByEmailWithPassword(email: string): Promise<UserWithPassword | null>;
  updatePasswordHash(id: string, passwordHash: string): Promise<void>;
}
