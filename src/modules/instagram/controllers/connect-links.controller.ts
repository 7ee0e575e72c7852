import { ApiErrorResponse, ApiUnauthorizedError } from '../../../common/swagger/api-error-response';
import { ACCOUNT_FORBIDDEN, ACCOUNT_NOT_FOUND } from '../services/account-access';
import {
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
  UseGuards,
} from '@nestjs/common';
import {
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
import { GetUserId } from '../../../common/decorators/session.decorator';
import { SessionGuard } from '../../../common/guards/session.guard';
import { SESSION_COOKIE } from '../../../common/auth/session-token';
import {
  ConnectLinkCreateDto,
  ConnectLinkCreatedResponseDto,
  ConnectLinkListResponseDto,
  toConnectLinkResponse,
} from '../dto/connect-link.dto';
import { ErrorResponseDto } from '../dto/error-response.dto';
import { ConnectLink } from '../../../domain/entities/connect-link.entity';
import { ConnectLinkService, MAX_OPEN_CONNECT_LINKS } from '../services/connect-link.service';

const uuidParam = (what: string) =>
  Param(
    'id',
    new ParseUUIDPipe({
      exceptionFactory: () => new BadRequestException(`id must be a UUID (${what})`),
    }),
  );

const unauthorized = ApiUnauthorizedResponse({ type: ErrorResponseDto, description: 'No session' });
const tooMany = ApiConflictResponse({
  type: ErrorResponseDto,
  description: `${MAX_OPEN_CONNECT_LINKS} open (unused, unexpired) links already: revoke some first`,
});

function created(link: ConnectLink, url: string): ConnectLinkCreatedResponseDto {
  return { ...toConnectLinkResponse(link), url };
}

/**
 * Connect links for clients (agencies): the owner's side. The public page a link opens is
 * `ConnectPageController`.
 */
@ApiTags('Connect links')
@ApiBearerAuth()
@ApiCookieAuth(SESSION_COOKIE)
@Controller('instagram')
@UseGuards(SessionGuard)
export class ConnectLinksController {
  constructor(private readonly links: ConnectLinkService) {}

  @Post('connect-links')
  @ApiOperation({
    summary: 'Make a connect link to send to a client',
    description:
      'The `url` is a public page (no ssell sign-in) that names you and lets the client connect an Instagram account into your user, exactly as your own connect would. It works once and until `expiresAt`; only a hash of its token is kept, so the URL is shown in this answer only.',
  })
  @ApiBody({ type: ConnectLinkCreateDto, required: false })
  @ApiCreatedResponse({ type: ConnectLinkCreatedResponseDto })
  @ApiBadRequestResponse({
    type: ErrorResponseDto,
    description: 'Unknown field, empty or over-long label, expiresInHours outside 1..168',
  })
  @unauthorized
  @tooMany
  async create(
    @GetUserId() userId: string,
    @Body() body: ConnectLinkCreateDto,
  ): Promise<ConnectLinkCreatedResponseDto> {
    const { link, url } = await this.links.create(userId, body);
    return created(link, url);
  }

  @Get('connect-links')
  @ApiOperation({
    summary: 'Your connect links that are neither revoked nor expired',
    description: 'Used ones included (`used: true`), newest first. The URLs are not shown again.',
  })
  @ApiOkResponse({ type: ConnectLinkListResponseDto })
  @unauthorized
  async list(@GetUserId() userId: string): Promise<ConnectLinkListResponseDto> {
    return { links: (await this.links.list(userId)).map(toConnectLinkResponse) };
  }

  @Delete('connect-links/:id')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiOperation({
    summary: 'Revoke a connect link',
    description:
      'Its page then says it was withdrawn, and a client mid-way through Instagram is refused at the callback. Revoking it again is a no-op.',
  })
  @ApiParam({ name: 'id', format: 'uuid', description: 'Connect link id' })
  @ApiNoContentResponse({ description: 'Revoked' })
  @ApiBadRequestResponse({ type: ErrorResponseDto, description: 'Malformed id' })
  @unauthorized
  @ApiForbiddenResponse({ type: ErrorResponseDto, description: "Another user's link" })
  @ApiNotFoundResponse({ type: ErrorResponseDto, description: 'No such link' })
  async revoke(
    @uuidParam('a connect link id') id: string,
    @GetUserId() userId: string,
  ): Promise<void> {
    await this.links.revoke(userId, id);
  }

  @Post('accounts/:id/reconnect-link')
  @ApiOperation({
    summary: 'Make a link that reconnects this account only',
    description:
      'Like POST /instagram/connect-links, for one of your accounts (any status): the page names the account, and if the client approves another Instagram account nothing changes and their page says `wrong_account`, naming both.',
  })
  @ApiParam({ name: 'id', format: 'uuid', description: 'Account id' })
  @ApiBody({ type: ConnectLinkCreateDto, required: false })
  @ApiCreatedResponse({ type: ConnectLinkCreatedResponseDto })
  @ApiErrorResponse(400, {
    description: 'Malformed id; unknown field, bad label or expiresInHours',
    examples: {
      'malformed id': 'id must be a UUID (an account id)',
      'bad expiresInHours': 'expiresInHours must not be greater than 168',
    },
  })
  @ApiUnauthorizedError()
  @ApiErrorResponse(403, {
    description: "Another user's account; nothing is created",
    examples: { "another user's account": ACCOUNT_FORBIDDEN },
  })
  @ApiErrorResponse(404, {
    description: 'No such account',
    examples: { 'unknown account': ACCOUNT_NOT_FOUND },
  })
  @ApiErrorResponse(409, {
    description: `${MAX_OPEN_CONNECT_LINKS} open (unused, unexpired) links already: revoke some first`,
    examples: {
      'too many open links': `You already have ${MAX_OPEN_CONNECT_LINKS} open connect links: revoke some (DELETE /instagram/connect-links/:id) or wait until they expire.`,
    },
  })
  async createReconnect(
    @uuidParam('an account id') accountId: string,
    @GetUserId() userId: string,
    @Body() body: ConnectLinkCreateDto,
  ): Promise<ConnectLinkCreatedResponseDto> {
    const { link, url } = await this.links.createReconnect(userId, accountId, body);
    return created(link, url);
  }
}
