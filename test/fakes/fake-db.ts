/** The handle a FakeDb transaction passes to its work: tests compare writes against it. */
export const TX = { fake: 'transaction' };

/** Tells whether a callback runs inside a transaction: Instagram must never be called there. */
export class FakeDb {
  depth = 0;
  /** The tag of every transaction opened, in order. */
  transactions: string[] = [];
  async tx<T>(tag: string, work: (tx: unknown) => Promise<T>): Promise<T> {
    this.transactions.push(tag);
    this.depth += 1;
    try {
      return await work(TX);
    } finally {
      this.depth -= 1;
    }
  }
}
