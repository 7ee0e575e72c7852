import type { Queryable } from './queryable';
import type {
  SealedSecret,
  WebhookEndpoint,
  WebhookEventType,
  WebhookSubscription,
} from '../entities/webhook.entity';

export const WEBHOOK_ENDPOINT_REPOSITORY = Symbol('WEBHOOK_ENDPOINT_REPOSITORY');

export interface NewWebhookEndpoint {
  /** Chosen by the caller: the secret is sealed with the id as associated data before the insert. */
  id: string;
  userId: string;
  url: string;
  events: WebhookSubscription[];
  description: string | null;
  secret: SealedSecret;
}

export interface IWebhookEndpointRepository {
  create(endpoint: NewWebhookEndpoint): Promise<WebhookEndpoint>;
  findById(id: string): Promise<WebhookEndpoint | null>;
  /** The endpoint and its sealed secret, for signing a delivery. */
  findWithSecret(id: string): Promise<{ endpoint: WebhookEndpoint; secret: SealedSecret } | null>;
  /** Oldest first. */
  listByUser(userId: string): Promise<WebhookEndpoint[]>;
  countByUser(userId: string): Promise<number>;
  /**
   * What a fan-out needs, in one round trip inside the events' transaction: the user's endpoints
   * subscribed to any of `types` (by name or `*`), oldest first, and, when there is one, the
   * user's current account as the transaction has it (the payloads' `isCurrent`).
   */
  findFanOutTargets(
    userId: string,
    types: readonly WebhookEventType[],
    tx?: Queryable,
  ): Promise<{ endpoints: WebhookEndpoint[]; currentAccountId: string | null }>;
  replaceSecret(id: string, secret: SealedSecret): Promise<boolean>;
  /** The key versions the stored secrets are sealed with. */
  secretKeyVersions(): Promise<number[]>;
  /**
   * Key rotation: every secret not on `currentVersion` is handed to `reseal` (row locked) and
   * written back sealed anew; `null` leaves it as it was. The ids of rows resealed and left.
   */
  resealSecrets(
    currentVersion: number,
    reseal: (id: string, secret: SealedSecret) => SealedSecret | null,
  ): Promise<{ resealed: string[]; left: string[] }>;
  /** Its deliveries go with it. */
  delete(id: string): Promise<boolean>;
}
