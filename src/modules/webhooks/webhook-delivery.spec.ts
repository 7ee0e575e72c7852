import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { retryDelayMs } from './services/webhook-delivery.service';
import { deliveryHeaders, webhookSignature } from './webhook-signature';

describe('retryDelayMs', () => {
  it('doubles from the base up to the maximum, jittered into the upper half', () => {
    const low = () => 0;
    const high = () => 1;
    expect([1, 2, 3, 4, 5].map((n) => retryDelayMs(n, 10_000, 60_000, high))).toEqual([
      10_000, 20_000, 40_000, 60_000, 60_000,
    ]);
    expect([1, 2, 3].map((n) => retryDelayMs(n, 10_000, 60_000, low))).toEqual([
      5_000, 10_000, 20_000,
    ]);
    expect(retryDelayMs(10_000, 10_000, 3_600_000, high)).toBe(3_600_000);
  });

  it('with the defaults, 24 hours hold some forty attempts (about one an hour at the end)', () => {
    let elapsed = 0;
    let attempts = 0;
    while (elapsed < 24 * 3_600_000) {
      attempts++;
      elapsed += retryDelayMs(attempts, 10_000, 3_600_000, () => 0.5);
    }
    expect(attempts).toBeGreaterThanOrEqual(35);
    expect(attempts).toBeLessThanOrEqual(45);
  });
});

describe('the signature', () => {
  it('is v1= hex HMAC-SHA256 of "<timestamp>.<body>" with the secret', () => {
    const secret = 'whsec_test';
    const body = '{"id":"e1","type":"ping"}';
    const expected = createHmac('sha256', secret).update(`1700000000.${body}`).digest('hex');
    expect(webhookSignature(secret, 1700000000, body)).toBe(`v1=${expected}`);
  });

  it('every attempt carries the event id and a fresh timestamp over the same body', () => {
    const delivery = { eventId: 'e1', eventType: 'account.recovered', payload: '{}' };
    const a = deliveryHeaders('s', delivery, new Date(1_700_000_000_000));
    const b = deliveryHeaders('s', delivery, new Date(1_700_000_060_000));
    expect(a).toEqual({
      'x-ssell-event': 'account.recovered',
      'x-ssell-delivery': 'e1',
      'x-ssell-timestamp': '1700000000',
      'x-ssell-signature': webhookSignature('s', 1700000000, '{}'),
    });
    expect(b['x-ssell-delivery']).toBe('e1');
    expect(b['x-ssell-signature']).not.toBe(a['x-ssell-signature']);
  });
});
