/** The benchmarks run the service with the node flags `npm start` gives it. */
import { describe, expect, it } from 'vitest';
import { serviceNodeFlags } from '../bench/service-node';

describe('serviceNodeFlags', () => {
  it('reads the heap limit from the start script, 1 GB unless HEAP_LIMIT_MB says otherwise', () => {
    expect(serviceNodeFlags({})[0]).toBe('--max-old-space-size=1024');
    expect(serviceNodeFlags({ HEAP_LIMIT_MB: '512' })[0]).toBe('--max-old-space-size=512');
  });

  it('turns off allocation-site pretenuring, which put the rows of a 1M-account list in the old generation', () => {
    expect(serviceNodeFlags({})).toEqual([
      '--max-old-space-size=1024',
      '--no-allocation-site-pretenuring',
    ]);
  });
});
