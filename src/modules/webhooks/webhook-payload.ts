import type { ClientAccount } from '../../domain/entities/client-account.entity';
import type { WebhookEndpoint, WebhookEventType } from '../../domain/entities/webhook.entity';
import { type AccountResponseDto, toAccountResponse } from '../instagram/dto/account.dto';

/** The body of every delivery (README, "Webhooks"). */
export interface WebhookPayload<D> {
  /** The event's id: also X-Ssell-Delivery, the same on every retry. */
  id: string;
  type: WebhookEventType;
  createdAt: string;
  data: D;
}

/**
 * `data.account` is the account exactly as `GET /instagram/accounts/:id` shows it (the same
 * mapper: no token, no raw metadata), as the event left it.
 */
export function accountEventPayload(
  event: { id: string; createdAt: Date },
  type: WebhookEventType,
  account: ClientAccount,
  currentId: string | null,
): string {
  const payload: WebhookPayload<{ account: AccountResponseDto }> = {
    id: event.id,
    type,
    createdAt: event.createdAt.toISOString(),
    data: { account: toAccountResponse(account, event.createdAt, currentId) },
  };
  return JSON.stringify(payload);
}

/** `POST /webhooks/:id/test`: says which endpoint it tests, nothing about any account. */
export function pingPayload(id: string, endpoint: WebhookEndpoint, createdAt: Date): string {
  const payload: WebhookPayload<{ webhook: { id: string; url: string } }> = {
    id,
    type: 'ping',
    createdAt: createdAt.toISOString(),
    data: { webhook: { id: endpoint.id, url: endpoint.url } },
  };
  return JSON.stringify(payload);
}
