import type { IDatabase, ITask } from 'pg-promise';

/**
 * The pool or an open task/transaction: repository methods take one to join a caller's
 * transaction. It names the driver's types (type-only, no runtime import) because ports must let a
 * service hand its transaction through; defined here, below every layer that passes one on.
 */
export type Queryable = IDatabase<unknown> | ITask<unknown>;
