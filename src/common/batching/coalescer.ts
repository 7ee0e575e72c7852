/**
 * Requests that arrive while a batch is running wait for the next batch, which serves them all
 * at once. Alone, a request goes straight away; under load, one round trip to the database does
 * the work of many, and nobody waits longer than the batch ahead of it.
 *
 * `keyOf` keeps two requests with one key out of the same batch: the second waits for the next,
 * so it sees what the first wrote, as it would have with a round trip of its own.
 */
export interface CoalescerOptions<I> {
  /** The most requests one batch takes; the rest wait for the next. */
  maxBatch: number;
  keyOf?: (item: I) => string;
}

/** One outcome per request, in the batch's order. */
export type BatchRun<I, O> = (items: readonly I[]) => Promise<readonly PromiseSettledResult<O>[]>;

interface Waiting<I, O> {
  item: I;
  resolve: (value: O) => void;
  reject: (reason: unknown) => void;
}

export class Coalescer<I, O> {
  private waiting: Waiting<I, O>[] = [];
  private running = false;

  constructor(
    private readonly run: BatchRun<I, O>,
    private readonly options: CoalescerOptions<I>,
  ) {
    if (!Number.isInteger(options.maxBatch) || options.maxBatch < 1) {
      throw new RangeError('maxBatch must be a positive integer');
    }
  }

  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      if (!this.running) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.running = true;
    try {
      while (this.waiting.length > 0) {
        const batch = this.take();
        let outcomes: readonly PromiseSettledResult<O>[];
        try {
          outcomes = await this.run(batch.map((w) => w.item));
        } catch (error) {
          outcomes = batch.map(() => ({ status: 'rejected', reason: error }));
        }
        batch.forEach((w, i) => {
          const outcome = outcomes[i];
          if (outcome?.status === 'fulfilled') w.resolve(outcome.value);
          else w.reject(outcome ? outcome.reason : new Error('the batch gave no outcome for this'));
        });
      }
    } finally {
      this.running = false;
    }
  }

  /** The next batch, in arrival order; what it leaves keeps its order for the one after. */
  private take(): Waiting<I, O>[] {
    const { keyOf, maxBatch } = this.options;
    const batch: Waiting<I, O>[] = [];
    const later: Waiting<I, O>[] = [];
    const keys = new Set<string>();
    for (const w of this.waiting) {
      const key = keyOf?.(w.item);
      if (batch.length >= maxBatch || (key !== undefined && keys.has(key))) {
        later.push(w);
        continue;
      }
      if (key !== undefined) keys.add(key);
      batch.push(w);
    }
    this.waiting = later;
    return batch;
  }
}
