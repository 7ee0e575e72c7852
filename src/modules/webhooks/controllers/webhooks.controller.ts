import {
  applyDecorators,
  BadRequestException,
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  HttpStatus,
  Param,
  ParseUUIDPipe,
  Post,
  Query,
  UseGuards,
} from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiBadRequestResponse,
  ApiBearerAuth,
  ApiBody,
  ApiConflictResponse,
  ApiCookieAuth,
  ApiCreatedResponse,
  ApiForbiddenResponse,
  ApiNoContentResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiTags,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import { SESSION_COOKIE } from '../../../common/auth/session-token';
import { ErrorResponseDto } from '../../../common/dto/error-response.dto';
import { GetUserId } from '../../../common/decorators/session.decorator';
import { SessionGuard } from '../../../common/guards/session.guard';
import { PageQueryDto } from '../../instagram/dto/pagination';
import {
  CreateWebhookDto,
  toDeliveryResponse,
  toWebhookResponse,
  WebhookCreatedResponseDto,
  WebhookDeliveryListResponseDto,
  WebhookDeliveryResponseDto,
  WebhookListResponseDto,
  WebhookResponseDto,
  WebhookSecretResponseDto,
} from '../dto/webhook.dto';
import { WebhookEndpointsService } from '../services/webhook-endpoints.service';

const WebhookId = () =>
  Param(
    'id',
    new ParseUUIDPipe({
      exceptionFactory: () => new BadRequestException('id must be a UUID (a webhook id)'),
    }),
  );

const unauthorized = ApiUnauthorizedResponse({ type: ErrorResponseDto, description: 'No session' });

/** What every `/:id` route shares: the id and its failures (400, 401, 403 another user's, 404). */
const WebhookRoute = (badRequest = 'Malformed id') =>
  applyDecorators(
    ApiParam({ name: 'id', format: 'uuid', description: 'Webhook id' }),
    ApiBadRequestResponse({ type: ErrorResponseDto, description: badRequest }),
    unauthorized,
    ApiForbiddenResponse({
      type: ErrorResponseDto,
      description: "Another user's webhook; nothing is changed",
    }),
    ApiNotFoundResponse({ type: ErrorResponseDto, description: 'No such webhook' }),
  );

@ApiTags('Webhooks')
@ApiBearerAuth()
@ApiCookieAuth(SESSION_COOKIE)
@Controller('webhooks')
@UseGuards(SessionGuard)
export class WebhooksController {
  constructor(private readonly webhooks: WebhookEndpointsService) {}

  @Post()
  @ApiOperation({
    summary: 'Register a webhook endpoint',
    description:
      'The answer carries the signing secret, shown this once. Every delivery is a POST of JSON {id, type, createdAt, data: {account}} with X-Ssell-Event, X-Ssell-Delivery (the event id, the same on every retry), X-Ssell-Timestamp (unix seconds) and X-Ssell-Signature: v1=<hex HMAC-SHA256 of "<timestamp>.<raw body>">. A 2xx within 10 s is delivered; anything else is retried with exponential backoff for 24 hours, in order per account.',
  })
  @ApiBody({ type: CreateWebhookDto })
  @ApiCreatedResponse({ type: WebhookCreatedResponseDto })
  @ApiBadRequestResponse({
    type: ErrorResponseDto,
    description:
      'Not http(s), credentials in the URL, a host that is (or resolves to) a loopback, private, link-local or metadata address, unknown event names, unknown fields',
  })
  @unauthorized
  @ApiConflictResponse({ type: ErrorResponseDto, description: 'The user has 20 webhooks already' })
  async create(
    @Body() body: CreateWebhookDto,
    @GetUserId() userId: string,
  ): Promise<WebhookCreatedResponseDto> {
    const { endpoint, secret } = await this.webhooks.register(userId, body);
    return { ...toWebhookResponse(endpoint), secret };
  }

  @Get()
  @ApiOperation({ summary: "The caller's webhook endpoints (without secrets)" })
  @ApiOkResponse({ type: WebhookListResponseDto })
  @unauthorized
  async list(@GetUserId() userId: string): Promise<WebhookListResponseDto> {
    return { webhooks: (await this.webhooks.list(userId)).map(toWebhookResponse) };
  }

  @Get(':id')
  @ApiOperation({ summary: 'One webhook endpoint (without its secret)' })
  @WebhookRoute()
  @ApiOkResponse({ type: WebhookResponseDto })
  async get(@WebhookId() id: string, @GetUserId() userId: string): Promise<WebhookResponseDto> {
    return toWebhookResponse(await this.webhooks.get(id, userId));
  }

  @Delete(':id')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiOperation({ summary: 'Delete the endpoint and its deliveries (pending ones are not sent)' })
  @WebhookRoute()
  @ApiNoContentResponse({ description: 'Deleted' })
  async remove(@WebhookId() id: string, @GetUserId() userId: string): Promise<void> {
    await this.webhooks.remove(id, userId);
  }

  @Post(':id/rotate-secret')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({
    summary: 'Replace the signing secret',
    description:
      'The new secret (shown this once) signs every attempt from now on, retries of older events included; the old one stops at once.',
  })
  @WebhookRoute()
  @ApiOkResponse({ type: WebhookSecretResponseDto })
  async rotateSecret(
    @WebhookId() id: string,
    @GetUserId() userId: string,
  ): Promise<WebhookSecretResponseDto> {
    return { secret: await this.webhooks.rotateSecret(id, userId) };
  }

  @Post(':id/test')
  @HttpCode(HttpStatus.ACCEPTED)
  @ApiOperation({
    summary: 'Send a ping',
    description:
      'Queues a `ping` event for this endpoint, signed, retried and logged like any other; the answer is its delivery (pending). Follow it in GET /webhooks/:id/deliveries.',
  })
  @WebhookRoute()
  @ApiAcceptedResponse({ type: WebhookDeliveryResponseDto })
  async test(
    @WebhookId() id: string,
    @GetUserId() userId: string,
  ): Promise<WebhookDeliveryResponseDto> {
    return toDeliveryResponse(await this.webhooks.sendPing(id, userId));
  }

  @Get(':id/deliveries')
  @ApiOperation({
    summary: "The endpoint's delivery log, newest first",
    description: 'Keyset-paginated like the account lists (`?limit`, `?cursor`).',
  })
  @WebhookRoute('Malformed id, limit or cursor')
  @ApiOkResponse({ type: WebhookDeliveryListResponseDto })
  async deliveries(
    @WebhookId() id: string,
    @GetUserId() userId: string,
    @Query() query: PageQueryDto,
  ): Promise<WebhookDeliveryListResponseDto> {
    const page = await this.webhooks.listDeliveries(id, userId, query);
    return { deliveries: page.deliveries.map(toDeliveryResponse), nextCursor: page.nextCursor };
  }
}
