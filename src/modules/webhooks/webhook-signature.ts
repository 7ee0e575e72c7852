import { createHmac } from 'node:crypto';

/** The headers every delivery carries (README, "Webhooks"). */
export const WEBHOOK_HEADERS = {
  event: 'x-ssell-event',
  delivery: 'x-ssell-delivery',
  timestamp: 'x-ssell-timestamp',
  signature: 'x-ssell-signature',
} as const;

/**
 * `v1=<hex HMAC-SHA256 of "<timestamp>.<raw body>">` keyed with the endpoint's secret (its UTF-8
 * bytes, `whsec_` included). The timestamp is inside the signed text, so a receiver that refuses
 * old timestamps also refuses replays of old deliveries.
 */
export function webhookSignature(secret: string, timestamp: number, body: string): string {
  const mac = createHmac('sha256', secret).update(`${timestamp}.${body}`, 'utf8').digest('hex');
  return `v1=${mac}`;
}

/** The headers of one attempt: a fresh timestamp and signature, the same event id every time. */
export function deliveryHeaders(
  secret: string,
  delivery: { eventId: string; eventType: string; payload: string },
  now: Date = new Date(),
): Record<string, string> {
  const timestamp = Math.floor(now.getTime() / 1000);
  return {
    [WEBHOOK_HEADERS.event]: delivery.eventType,
    [WEBHOOK_HEADERS.delivery]: delivery.eventId,
    [WEBHOOK_HEADERS.timestamp]: String(timestamp),
    [WEBHOOK_HEADERS.signature]: webhookSignature(secret, timestamp, delivery.payload),
  };
}
