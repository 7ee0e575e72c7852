import { randomUUID } from 'node:crypto';
import {
  BadRequestException,
  ConflictException,
  ForbiddenException,
  Inject,
  Injectable,
  NotFoundException,
  type OnModuleInit,
} from '@nestjs/common';
import type { Logger } from 'pino';
import { ROOT_LOGGER } from '../../../common/logging/logging.module';
import { APP_CONFIG } from '../../../config/config.module';
import type { AppConfig } from '../../../config/config';
import {
  ALL_WEBHOOK_EVENTS,
  type WebhookDelivery,
  type WebhookEndpoint,
  type WebhookSubscription,
} from '../../../domain/entities/webhook.entity';
import {
  type IWebhookDeliveryRepository,
  WEBHOOK_DELIVERY_REPOSITORY,
} from '../../../domain/repositories/webhook-delivery.repository.interface';
import {
  type IWebhookEndpointRepository,
  WEBHOOK_ENDPOINT_REPOSITORY,
} from '../../../domain/repositories/webhook-endpoint.repository.interface';
import { TokenKeyError } from '../../../infrastructure/crypto/token-vault';
import { WebhookSecretCipher } from '../../../infrastructure/crypto/webhook-secret-cipher';
import type { Db } from '../../../infrastructure/database/database';
import { PG } from '../../../infrastructure/database/database.module';
import {
  parseTargetUrl,
  type Resolver,
  resolveTarget,
  TargetRefusedError,
} from '../../../infrastructure/http/target-address';
import { JobQueue } from '../../../infrastructure/jobs/job-queue';
import {
  decodeCursor,
  encodeCursor,
  type PageQueryDto,
  pageSize,
} from '../../instagram/dto/pagination';
import { requestDrain } from '../jobs/webhook-drains';
import { pingPayload } from '../webhook-payload';

/** The resolver registrations check a URL's host with (tests swap it). */
export const WEBHOOK_RESOLVER = Symbol('WEBHOOK_RESOLVER');

/** Each endpoint costs a lookup on every account event of its user: a few are plenty. */
export const MAX_WEBHOOKS_PER_USER = 20;

export interface RegisterWebhookInput {
  url: string;
  events: WebhookSubscription[];
  description?: string | undefined;
}

/** Registration, the owner's view of endpoints and their delivery log, secrets and pings. */
@Injectable()
export class WebhookEndpointsService implements OnModuleInit {
  private readonly logger: Logger;

  constructor(
    @Inject(WEBHOOK_ENDPOINT_REPOSITORY) private readonly endpoints: IWebhookEndpointRepository,
    @Inject(WEBHOOK_DELIVERY_REPOSITORY) private readonly deliveries: IWebhookDeliveryRepository,
    @Inject(PG) private readonly db: Db,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(WEBHOOK_RESOLVER) private readonly resolver: Resolver,
    private readonly secrets: WebhookSecretCipher,
    private readonly queue: JobQueue,
    @Inject(ROOT_LOGGER) logger: Logger,
  ) {
    this.logger = logger.child({ component: 'webhooks' });
  }

  /**
   * Boot check, as for the tokens: a secret sealed with a key the ring no longer has could never
   * sign again, so the start fails and says which key to put back.
   */
  async onModuleInit(): Promise<void> {
    const missing = (await this.endpoints.secretKeyVersions()).filter(
      (version) => !this.secrets.hasKeyVersion(version),
    );
    if (missing.length > 0) {
      throw new TokenKeyError(
        `webhook_endpoints holds signing secrets encrypted with key ${missing.map((v) => `v${v}`).join(', ')}, which TOKEN_ENCRYPTION_KEY does not contain` +
          ' (keep every old key listed after the current one until `npm run tokens:rotate` has moved them off it)',
      );
    }
  }

  /** The new endpoint with its secret, which nobody can read back later. */
  async register(
    userId: string,
    input: RegisterWebhookInput,
  ): Promise<{ endpoint: WebhookEndpoint; secret: string }> {
    const events = this.subscriptions(input.events);
    const url = await this.checkTarget(input.url);
    if ((await this.endpoints.countByUser(userId)) >= MAX_WEBHOOKS_PER_USER) {
      throw new ConflictException(
        `A user can have at most ${MAX_WEBHOOKS_PER_USER} webhooks: delete one first`,
      );
    }
    const id = randomUUID();
    const secret = WebhookSecretCipher.generate();
    const endpoint = await this.endpoints.create({
      id,
      userId,
      url,
      events,
      description: input.description?.trim() || null,
      secret: this.secrets.seal(secret, id),
    });
    this.logger.info({ webhookId: id, userId, events }, 'webhook registered');
    return { endpoint, secret };
  }

  list(userId: string): Promise<WebhookEndpoint[]> {
    return this.endpoints.listByUser(userId);
  }

  /** 404 when there is no such endpoint, 403 when it is another user's. */
  async get(id: string, userId: string): Promise<WebhookEndpoint> {
    const endpoint = await this.endpoints.findById(id);
    if (!endpoint) throw new NotFoundException('Webhook not found');
    if (endpoint.userId !== userId) throw new ForbiddenException('Access denied to this webhook');
    return endpoint;
  }

  /** Its pending deliveries go with it. */
  async remove(id: string, userId: string): Promise<void> {
    await this.get(id, userId);
    if (!(await this.endpoints.delete(id))) throw new NotFoundException('Webhook not found');
    this.logger.info({ webhookId: id, userId }, 'webhook deleted');
  }

  /** A new secret signs every attempt from now on, retries of older deliveries included. */
  async rotateSecret(id: string, userId: string): Promise<string> {
    await this.get(id, userId);
    const secret = WebhookSecretCipher.generate();
    if (!(await this.endpoints.replaceSecret(id, this.secrets.seal(secret, id)))) {
      throw new NotFoundException('Webhook not found');
    }
    this.logger.info({ webhookId: id, userId }, 'webhook secret rotated');
    return secret;
  }

  /** Queues a `ping` like any event (signed, retried, logged); the pending delivery. */
  async sendPing(id: string, userId: string): Promise<WebhookDelivery> {
    const endpoint = await this.get(id, userId);
    const eventId = randomUUID();
    await this.db.tx('webhooks-ping', async (tx) => {
      const payload = pingPayload(eventId, endpoint, new Date());
      const streams = await this.deliveries.createMany(
        [
          {
            endpointId: id,
            eventId,
            accountEventId: null,
            accountId: null,
            eventType: 'ping',
            payload,
          },
        ],
        tx,
      );
      for (const stream of streams) await requestDrain(this.queue, stream, { tx });
    });
    const delivery = await this.deliveries.findByEvent(id, eventId);
    if (!delivery) throw new NotFoundException('Webhook not found');
    return delivery;
  }

  async listDeliveries(
    id: string,
    userId: string,
    page: PageQueryDto = {},
  ): Promise<{ deliveries: WebhookDelivery[]; nextCursor: string | null }> {
    await this.get(id, userId);
    const limit = pageSize(page.limit);
    const after = page.cursor === undefined ? null : decodeCursor(page.cursor);
    const result = await this.deliveries.listByEndpoint(id, limit, after);
    return {
      deliveries: result.deliveries,
      nextCursor: result.next ? encodeCursor(result.next) : null,
    };
  }

  private subscriptions(events: WebhookSubscription[]): WebhookSubscription[] {
    if (events.includes(ALL_WEBHOOK_EVENTS) && events.length > 1) {
      throw new BadRequestException('events is either ["*"] alone or a list of event names');
    }
    return [...events];
  }

  /** The URL as it will be called, once its form and every address of its host pass (400). */
  private async checkTarget(raw: string): Promise<string> {
    const allowPrivate = this.config.webhooks.allowPrivateTargets;
    try {
      const url = parseTargetUrl(raw.trim(), allowPrivate);
      await resolveTarget(url, allowPrivate, this.resolver);
      return url.href;
    } catch (error) {
      if (error instanceof TargetRefusedError) {
        throw new BadRequestException(`url is not an acceptable webhook target: ${error.message}`);
      }
      throw error;
    }
  }
}
