import { createHmac } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import {
  retryDelayMs,
  SECRET_REREAD_MS,
  WebhookDeliveryService,
} from './services/webhook-delivery.service';
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

describe('WebhookDeliveryService.drainEndpoint (its repositories, client and queue faked)', () => {
  const endpointId = '00000000-0000-4000-8000-0000000000e1';
  const accounts = ['a1', 'a2', 'a3'];

  function setup(options: { answer: () => number; secret: () => string }) {
    // Each account has one pending delivery; a claim hands it out once, then the pair is empty.
    const pending = new Map(accounts.map((a) => [a, `event-${a}`]));
    const leased = new Set<string>();
    const deliveries = {
      findDueStreamsOf: vi.fn(async () =>
        [...pending.keys()]
          .filter((a) => !leased.has(a))
          .map((accountId) => ({ endpointId, accountId })),
      ),
      claimNext: vi.fn(async (stream: { accountId: string }) => {
        const eventId = pending.get(stream.accountId);
        if (!eventId || leased.has(stream.accountId)) return { kind: 'empty' as const };
        leased.add(stream.accountId);
        return {
          kind: 'claimed' as const,
          delivery: {
            id: eventId,
            eventId,
            eventType: 'account.status_changed',
            payload: `{"id":"${eventId}"}`,
            attempts: 1,
            firstAttemptAt: new Date(),
          },
        };
      }),
      markDeliveredAndClaimNext: vi.fn(
        async (id: string, _code: number, stream: { accountId: string }) => {
          pending.delete(stream.accountId);
          return { kind: 'empty' as const };
        },
      ),
      markRetry: vi.fn(async (id: string) => {
        const account = [...pending.entries()].find(([, e]) => e === id)?.[0];
        if (account) leased.delete(account);
        pending.delete(account ?? '');
      }),
    };
    const endpoints = {
      findWithSecret: vi.fn(async () => ({
        endpoint: { url: 'https://hooks.example.com/x' },
        secret: 'sealed',
      })),
    };
    const secrets = { open: vi.fn(() => options.secret()) };
    const sent: { headers: Record<string, string>; payload: string }[] = [];
    const client = {
      post: vi.fn(async (_url: string, payload: string, headers: Record<string, string>) => {
        sent.push({ headers, payload });
        const status = options.answer();
        return status < 300
          ? { ok: true as const, statusCode: status }
          : { ok: false as const, reason: 'status', statusCode: status, error: `HTTP ${status}` };
      }),
    };
    const queue = { enqueue: vi.fn(async () => 'job-id'), enqueueMany: vi.fn(async () => 0) };
    const config = {
      webhooks: { timeoutMs: 1_000, retryBaseMs: 10_000, retryMaxDelayMs: 60_000, concurrency: 2 },
    };
    const logger = { child: () => ({ info: vi.fn(), warn: vi.fn(), error: vi.fn() }) };
    const service = new WebhookDeliveryService(
      endpoints as never,
      deliveries as never,
      secrets as never,
      client as never,
      queue as never,
      config as never,
      logger as never,
    );
    return { service, deliveries, endpoints, queue, sent };
  }

  it('delivers every pair of the endpoint, two at a time, reading the endpoint once', async () => {
    const { service, endpoints, sent } = setup({ answer: () => 204, secret: () => 'whsec_one' });
    const result = await service.drainEndpoint(endpointId);
    expect(result).toEqual({ delivered: 3, failed: 0, stopped: 'empty' });
    expect(sent.map((s) => s.payload).sort()).toEqual(accounts.map((a) => `{"id":"event-${a}"}`));
    expect(endpoints.findWithSecret).toHaveBeenCalledTimes(1);
  });

  it('reads the endpoint again after a second: a rotated secret signs from then on', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      let secret = 'whsec_old';
      const { service, endpoints, sent } = setup({
        answer: () => {
          // The secret rotates, and a second passes, during the first attempt.
          if (sent.length === 1) {
            secret = 'whsec_new';
            vi.setSystemTime(Date.now() + SECRET_REREAD_MS);
          }
          return 204;
        },
        secret: () => secret,
      });
      await service.drainEndpoint(endpointId);
      const signedWith = (s: (typeof sent)[number]) =>
        ['whsec_old', 'whsec_new'].find(
          (k) =>
            webhookSignature(k, Number(s.headers['x-ssell-timestamp']), s.payload) ===
            s.headers['x-ssell-signature'],
        );
      expect(sent.map(signedWith)).toEqual(['whsec_old', 'whsec_old', 'whsec_new']);
      expect(endpoints.findWithSecret).toHaveBeenCalledTimes(2);
    } finally {
      vi.useRealTimers();
    }
  });

  it('backs off after as many pairs in a row failed as it runs at once', async () => {
    const { service, queue, sent } = setup({ answer: () => 503, secret: () => 'whsec_one' });
    const result = await service.drainEndpoint(endpointId);
    expect(result).toMatchObject({ delivered: 0, stopped: 'retrying' });
    // Two slots: two pairs failed, and the third was left for the endpoint's next drain.
    expect(sent).toHaveLength(2);
    expect(queue.enqueue).toHaveBeenCalledWith(
      'webhook.deliver-endpoint',
      { endpointId },
      expect.objectContaining({ startAfter: expect.any(Date) }),
    );
  });
});
