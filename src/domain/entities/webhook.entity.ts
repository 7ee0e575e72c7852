import { AccountEventType } from './account-event.entity';

/** The events an endpoint can subscribe to (architecture.md, "outgoing webhooks"). */
export const WEBHOOK_EVENT_TYPES = [
  'account.connected',
  'account.reconnected',
  'account.status_changed',
  'account.token_refreshed',
  'account.token_expiring',
  'account.needs_reconnect',
  'account.recovered',
  'account.disconnected',
  'ping',
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** Subscribes to every event, present and future. */
export const ALL_WEBHOOK_EVENTS = '*';
export type WebhookSubscription = WebhookEventType | typeof ALL_WEBHOOK_EVENTS;

/**
 * The account events that are webhook events, and their names on the wire. `synced` and
 * `updated` are history only: a profile refresh every day is not news anyone asked to be paged for.
 */
const WEBHOOK_TYPE_OF_ACCOUNT_EVENT: Readonly<Partial<Record<AccountEventType, WebhookEventType>>> =
  {
    [AccountEventType.CONNECTED]: 'account.connected',
    [AccountEventType.RECONNECTED]: 'account.reconnected',
    [AccountEventType.STATUS_CHANGED]: 'account.status_changed',
    [AccountEventType.TOKEN_REFRESHED]: 'account.token_refreshed',
    [AccountEventType.TOKEN_EXPIRING]: 'account.token_expiring',
    [AccountEventType.NEEDS_RECONNECT]: 'account.needs_reconnect',
    [AccountEventType.RECOVERED]: 'account.recovered',
    [AccountEventType.DISCONNECTED]: 'account.disconnected',
  };

export function webhookTypeOf(type: AccountEventType): WebhookEventType | undefined {
  return WEBHOOK_TYPE_OF_ACCOUNT_EVENT[type];
}

export interface WebhookEndpoint {
  id: string;
  userId: string;
  url: string;
  events: WebhookSubscription[];
  description: string | null;
  createdAt: Date;
  updatedAt: Date;
}

export type WebhookDeliveryStatus = 'pending' | 'delivered' | 'failed';

/** One event for one endpoint: what the delivery log shows. */
export interface WebhookDelivery {
  id: string;
  endpointId: string;
  /** The X-Ssell-Delivery header: the event's id, the same on every attempt. */
  eventId: string;
  accountId: string | null;
  eventType: WebhookEventType;
  status: WebhookDeliveryStatus;
  attempts: number;
  lastStatusCode: number | null;
  lastError: string | null;
  nextAttemptAt: Date;
  createdAt: Date;
  deliveredAt: Date | null;
}

/**
 * An endpoint's signing secret as stored: AES-256-GCM output (the token cipher's shape). Only the
 * webhook secret cipher seals and opens it.
 */
export interface SealedSecret {
  ciphertext: Buffer;
  iv: Buffer;
  authTag: Buffer;
  keyVersion: number;
}
