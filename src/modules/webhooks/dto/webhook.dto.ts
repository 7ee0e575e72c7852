import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  ArrayMaxSize,
  ArrayMinSize,
  ArrayUnique,
  IsArray,
  IsIn,
  IsOptional,
  IsString,
  MaxLength,
} from 'class-validator';
import {
  ALL_WEBHOOK_EVENTS,
  WEBHOOK_EVENT_TYPES,
  type WebhookDelivery,
  type WebhookDeliveryStatus,
  type WebhookEndpoint,
  type WebhookEventType,
  type WebhookSubscription,
} from '../../../domain/entities/webhook.entity';

export const WEBHOOK_URL_MAX = 2048;
export const WEBHOOK_DESCRIPTION_MAX = 500;
const SUBSCRIPTIONS = [...WEBHOOK_EVENT_TYPES, ALL_WEBHOOK_EVENTS];
const EVENTS_MESSAGE = `events must be a list of event names (${WEBHOOK_EVENT_TYPES.join(', ')}) or ["*"]`;

export class CreateWebhookDto {
  @ApiProperty({
    description:
      'Where deliveries are POSTed: http or https, no credentials. Loopback, private, link-local and cloud metadata addresses are refused (loopback and private ones are allowed when WEBHOOK_ALLOW_PRIVATE_TARGETS=true).',
    example: 'https://hooks.example.com/ssell',
    maxLength: WEBHOOK_URL_MAX,
  })
  @IsString({ message: 'url must be an http or https URL' })
  @MaxLength(WEBHOOK_URL_MAX, { message: `url must be at most ${WEBHOOK_URL_MAX} characters` })
  url!: string;

  @ApiProperty({
    description: 'The events to receive, or ["*"] for all of them',
    enum: SUBSCRIPTIONS,
    isArray: true,
    example: ['account.needs_reconnect', 'account.recovered'],
  })
  @IsArray({ message: EVENTS_MESSAGE })
  @ArrayMinSize(1, { message: EVENTS_MESSAGE })
  @ArrayMaxSize(SUBSCRIPTIONS.length, { message: EVENTS_MESSAGE })
  @ArrayUnique({ message: 'events must not repeat a name' })
  @IsIn(SUBSCRIPTIONS, { each: true, message: EVENTS_MESSAGE })
  events!: WebhookSubscription[];

  @ApiPropertyOptional({ maxLength: WEBHOOK_DESCRIPTION_MAX, example: 'CRM: account alerts' })
  @IsOptional()
  @IsString()
  @MaxLength(WEBHOOK_DESCRIPTION_MAX)
  description?: string;
}

export class WebhookResponseDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty({ example: 'https://hooks.example.com/ssell' }) url!: string;
  @ApiProperty({ enum: SUBSCRIPTIONS, isArray: true }) events!: WebhookSubscription[];
  @ApiProperty({ type: String, nullable: true }) description!: string | null;
  @ApiProperty({ type: String, format: 'date-time' }) createdAt!: string;
}

export class WebhookCreatedResponseDto extends WebhookResponseDto {
  @ApiProperty({
    description:
      'The signing secret. Shown here and on rotation only: store it now. X-Ssell-Signature is v1=<hex HMAC-SHA256 of "<X-Ssell-Timestamp>.<raw body>"> keyed with it.',
    example: 'whsec_6Jx0m2…',
  })
  secret!: string;
}

export class WebhookSecretResponseDto {
  @ApiProperty({
    description: 'The new signing secret (the old one stops signing at once). Shown once.',
  })
  secret!: string;
}

export class WebhookListResponseDto {
  @ApiProperty({ type: [WebhookResponseDto], description: 'Oldest first' })
  webhooks!: WebhookResponseDto[];
}

export class WebhookDeliveryResponseDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty({ enum: WEBHOOK_EVENT_TYPES }) event!: WebhookEventType;
  @ApiProperty({
    enum: ['pending', 'delivered', 'failed'],
    description:
      'pending: not yet answered with a 2xx (retried with backoff for 24 hours); failed: given up',
  })
  status!: WebhookDeliveryStatus;
  @ApiProperty({ description: 'Attempts made so far' }) attempts!: number;
  @ApiProperty({
    type: Number,
    nullable: true,
    description: "The receiver's HTTP status at the last attempt; null if it did not answer",
  })
  lastStatusCode!: number | null;
  @ApiProperty({ type: String, format: 'date-time' }) createdAt!: string;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) deliveredAt!: string | null;
}

export class WebhookDeliveryListResponseDto {
  @ApiProperty({ type: [WebhookDeliveryResponseDto], description: 'Newest first' })
  deliveries!: WebhookDeliveryResponseDto[];
  @ApiProperty({
    type: String,
    nullable: true,
    description: 'Pass as `?cursor=` for the next page; null on the last page',
  })
  nextCursor!: string | null;
}

export function toWebhookResponse(endpoint: WebhookEndpoint): WebhookResponseDto {
  return {
    id: endpoint.id,
    url: endpoint.url,
    events: [...endpoint.events],
    description: endpoint.description,
    createdAt: endpoint.createdAt.toISOString(),
  };
}

export function toDeliveryResponse(delivery: WebhookDelivery): WebhookDeliveryResponseDto {
  return {
    id: delivery.id,
    event: delivery.eventType,
    status: delivery.status,
    attempts: delivery.attempts,
    lastStatusCode: delivery.lastStatusCode,
    createdAt: delivery.createdAt.toISOString(),
    deliveredAt: delivery.deliveredAt ? delivery.deliveredAt.toISOString() : null,
  };
}
