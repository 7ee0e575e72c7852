import { Controller, Get, Query, Res, UseGuards } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBearerAuth,
  ApiCookieAuth,
  ApiFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiQuery,
  ApiTags,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { GetUserId } from '../../../common/decorators/session.decorator';
import { SessionGuard } from '../../../common/guards/session.guard';
import { SESSION_COOKIE } from '../../auth/session-token';
import { ErrorResponseDto } from '../dto/error-response.dto';
import {
  AuthorizeQueryDto,
  AuthorizeUrlResponseDto,
  type OAuthCallbackQuery,
  OAuthCallbackQueryDto,
  OAuthInfoResponseDto,
  permissive,
} from '../dto/oauth.dto';
import { InstagramConnectService } from '../services/instagram-connect.service';

// The URLs carry a state or a code: no cache may keep them.
const NO_STORE = 'no-store';

@ApiTags('Instagram OAuth')
@Controller('instagram/oauth')
export class InstagramOAuthController {
  constructor(private readonly connect: InstagramConnectService) {}

  @Get('authorize')
  @UseGuards(SessionGuard)
  @ApiBearerAuth()
  @ApiCookieAuth(SESSION_COOKIE)
  @ApiOperation({
    summary: "Start connecting an Instagram account: redirect to Instagram's consent page",
    description:
      'Creates a single-use state (10 minutes) bound to the signed-in user. `?format=json` answers 200 {url} for single-page clients instead of redirecting.',
  })
  @ApiFoundResponse({ description: "Redirect to Instagram's consent page" })
  @ApiOkResponse({ type: AuthorizeUrlResponseDto, description: 'With `?format=json`' })
  @ApiUnauthorizedResponse({ type: ErrorResponseDto })
  @ApiBadRequestResponse({ type: ErrorResponseDto, description: 'Unknown query parameter' })
  async authorize(
    @GetUserId() userId: string,
    @Query() query: AuthorizeQueryDto,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const url = await this.connect.startAuthorization(userId);
    void reply.header('cache-control', NO_STORE);
    if (query.format === 'json') {
      const body: AuthorizeUrlResponseDto = { url };
      void reply.send(body);
      return;
    }
    void reply.redirect(url, 302);
  }

  @Get('info')
  @UseGuards(SessionGuard)
  @ApiBearerAuth()
  @ApiCookieAuth(SESSION_COOKIE)
  @ApiOperation({ summary: 'How connecting works here: demo mode, and the scopes requested' })
  @ApiOkResponse({ type: OAuthInfoResponseDto })
  @ApiUnauthorizedResponse({ type: ErrorResponseDto })
  info(): OAuthInfoResponseDto {
    return this.connect.info();
  }

  @Get('callback')
  @ApiOperation({
    summary: 'Where Instagram sends the person back (no session: the state names the user)',
    description:
      'Exchanges the code, stores the long-lived token encrypted, creates or re-activates the account, queues its first sync, then redirects to `/?connected=<accountId>`. Instagram or consent failures redirect to `/?error=<reason>&error_description=<text>`. Unknown parameters are ignored.',
  })
  // Decorators apply bottom-up: listed in reverse so the document reads code, state, error….
  @ApiQuery({ name: 'error_description', required: false })
  @ApiQuery({ name: 'error_reason', required: false, example: 'user_denied' })
  @ApiQuery({ name: 'error', required: false, example: 'access_denied' })
  @ApiQuery({ name: 'state', required: false, description: 'The state from /authorize' })
  @ApiQuery({
    name: 'code',
    required: false,
    description: 'Authorization code (1 hour, single use)',
  })
  @ApiFoundResponse({
    description: 'To `/?connected=<accountId>` or `/?error=…&error_description=…`',
  })
  @ApiBadRequestResponse({
    type: ErrorResponseDto,
    description: 'Missing, unknown, used or expired state; or a parameter too long',
  })
  async callback(
    // An interface type: the global pipe, which refuses unknown parameters, leaves it alone.
    @Query(permissive(OAuthCallbackQueryDto)) query: OAuthCallbackQuery,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const target = await this.connect.completeAuthorization(query);
    void reply.header('cache-control', NO_STORE).redirect(target, 302);
  }
}
