import { describe, expect, it } from 'vitest';
import { type BatchRun, Coalescer } from './coalescer';

/** A run whose batches the test sees and ends by hand. */
function controlledRun() {
  const batches: string[][] = [];
  const ends: Array<(outcomes: PromiseSettledResult<string>[]) => void> = [];
  const run: BatchRun<string, string> = (items) => {
    batches.push([...items]);
    return new Promise((resolve) => ends.push(resolve));
  };
  const fulfilAll = (i: number) =>
    ends[i]!(batches[i]!.map((item) => ({ status: 'fulfilled', value: item.toUpperCase() })));
  return { run, batches, ends, fulfilAll };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('Coalescer', () => {
  it('sends a lone request at once, and what arrives meanwhile together in the next batch', async () => {
    const { run, batches, fulfilAll } = controlledRun();
    const coalescer = new Coalescer(run, { maxBatch: 10 });
    const first = coalescer.submit('a');
    expect(batches).toEqual([['a']]);
    const rest = ['b', 'c', 'd'].map((item) => coalescer.submit(item));
    await tick();
    expect(batches).toHaveLength(1);
    fulfilAll(0);
    await expect(first).resolves.toBe('A');
    await tick();
    expect(batches).toEqual([['a'], ['b', 'c', 'd']]);
    fulfilAll(1);
    await expect(Promise.all(rest)).resolves.toEqual(['B', 'C', 'D']);
  });

  it('keeps a second request with the same key for the next batch, in arrival order', async () => {
    const { run, batches, fulfilAll } = controlledRun();
    const coalescer = new Coalescer(run, { maxBatch: 10, keyOf: (item) => item[0]! });
    const all = [coalescer.submit('x0')];
    all.push(coalescer.submit('a1'), coalescer.submit('b1'), coalescer.submit('a2'));
    all.push(coalescer.submit('a3'), coalescer.submit('c1'));
    fulfilAll(0);
    await tick();
    expect(batches[1]).toEqual(['a1', 'b1', 'c1']);
    fulfilAll(1);
    await tick();
    expect(batches[2]).toEqual(['a2']);
    fulfilAll(2);
    await tick();
    expect(batches[3]).toEqual(['a3']);
    fulfilAll(3);
    await expect(Promise.all(all)).resolves.toEqual(['X0', 'A1', 'B1', 'A2', 'A3', 'C1']);
  });

  it('takes at most maxBatch at a time', async () => {
    const { run, batches, fulfilAll } = controlledRun();
    const coalescer = new Coalescer(run, { maxBatch: 2 });
    const all = ['a', 'b', 'c', 'd', 'e'].map((item) => coalescer.submit(item));
    for (let i = 0; i < 3; i++) {
      fulfilAll(i);
      await tick();
    }
    expect(batches).toEqual([['a'], ['b', 'c'], ['d', 'e']]);
    await expect(Promise.all(all)).resolves.toEqual(['A', 'B', 'C', 'D', 'E']);
  });

  it("settles each request with its own outcome, and a failed batch fails only that batch's requests", async () => {
    const { run, batches, ends, fulfilAll } = controlledRun();
    const coalescer = new Coalescer(run, { maxBatch: 10 });
    const first = coalescer.submit('a');
    const b = coalescer.submit('b');
    const c = coalescer.submit('c');
    ends[0]!([{ status: 'rejected', reason: new Error('a failed') }]);
    await expect(first).rejects.toThrow('a failed');
    await tick();
    ends[1]!([
      { status: 'fulfilled', value: 'B' },
      { status: 'rejected', reason: new Error('c failed') },
    ]);
    await expect(b).resolves.toBe('B');
    await expect(c).rejects.toThrow('c failed');

    // A run that throws rejects its batch; the coalescer goes on with the next.
    const throwing = new Coalescer<string, string>(
      async (items) => {
        if (items.includes('boom')) throw new Error('batch failed');
        return items.map((value) => ({ status: 'fulfilled', value }));
      },
      { maxBatch: 10 },
    );
    await expect(throwing.submit('boom')).rejects.toThrow('batch failed');
    await expect(throwing.submit('fine')).resolves.toBe('fine');
    expect(batches).toHaveLength(2);
    fulfilAll(1);
  });

  it('rejects a request its batch gave no outcome for', async () => {
    const coalescer = new Coalescer<string, string>(async () => [], { maxBatch: 10 });
    await expect(coalescer.submit('a')).rejects.toThrow('no outcome');
  });

  it('refuses a maxBatch that is not a positive integer', () => {
    const run: BatchRun<string, string> = async () => [];
    expect(() => new Coalescer(run, { maxBatch: 0 })).toThrow(RangeError);
    expect(() => new Coalescer(run, { maxBatch: 1.5 })).toThrow(RangeError);
  });
});
