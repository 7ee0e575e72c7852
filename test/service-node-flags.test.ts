/** The benchmarks run the service with the node flags `npm start` gives it. */
import { describe, expect, it } from 'vitest';
import { serviceNodeFlags } from '../bench/service-node';

describe('serviceNodeFlags', () => {
  it('reads the heap limit from the start script, 1 GB unless HEAP_LIMIT_MB says otherwise', () => {
    expect(serviceNodeFlags({})).toEqual(['--max-old-space-size=1024']);
    expect(serviceNodeFlags({ HEAP_LIMIT_MB: '512' })).toEqual(['--max-old-space-size=512']);
  });
});
