import type { Queryable } from '../../src/domain/repositories/queryable';
import type { Transactions } from '../../src/modules/instagram/services/account-ports';

/**
 * A stand-in for a transaction handle: the fake repositories never query through it, they only
 * record it, so tests can tell which transaction a write belonged to.
 */
export function fakeTransaction(name: string): Queryable {
  return { fake: name } as unknown as Queryable;
}

/** The handle every FakeDb transaction passes to its work. */
export const TX = fakeTransaction('transaction');

/** Tells whether a callback runs inside a transaction: Instagram must never be called there. */
export class FakeDb implements Transactions {
  depth = 0;
  /** The tag of every transaction opened, in order. */
  transactions: string[] = [];
  async tx<T>(tag: string, work: (tx: Queryable) => Promise<T>): Promise<T> {
    this.transactions.push(tag);
    this.depth += 1;
    try {
      return await work(TX);
    } finally {
      this.depth -= 1;
    }
  }
}
