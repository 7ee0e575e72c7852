import { Controller, Get, Inject, Query, Req, Res, UseGuards } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBearerAuth,
  ApiCookieAuth,
  ApiForbiddenResponse,
  ApiFoundResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiQuery,
  ApiTags,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { GetUserId } from '../../../common/decorators/session.decorator';
import { SessionGuard } from '../../../common/guards/session.guard';
import { APP_CONFIG } from '../../../config/config.module';
import type { AppConfig } from '../../../config/config';
import { SESSION_COOKIE } from '../../../common/auth/session-token';
import { ErrorResponseDto } from '../dto/error-response.dto';
import {
  AuthorizeQueryDto,
  AuthorizeUrlResponseDto,
  type OAuthCallbackQuery,
  OAuthCallbackQueryDto,
  OAuthInfoResponseDto,
  permissive,
} from '../dto/oauth.dto';
import {
  InstagramConnectService,
  OAUTH_BINDING_COOKIE,
  OAUTH_STATE_TTL_SECONDS,
} from '../services/instagram-connect.service';
import {
  OAUTH_BINDING_COOKIE_PATH,
  oauthBindingCookie,
  setBindingCookie,
} from './oauth-binding-cookie';

// The URLs carry a state or a code: no cache may keep them.
const NO_STORE = 'no-store';

const BINDING_COOKIE_DOC =
  `\`${OAUTH_BINDING_COOKIE}\`: HttpOnly, SameSite=Lax (it must come back on Instagram's top-level redirect), ` +
  `Path=${OAUTH_BINDING_COOKIE_PATH}, Max-Age=${OAUTH_STATE_TTL_SECONDS}; in production named \`__Host-${OAUTH_BINDING_COOKIE}\`, Secure, Path=/. 32 random bytes ` +
  '(base64url) binding the state to this browser; an existing well-formed value is kept, so several tabs can connect at once.';

@ApiTags('Instagram OAuth')
@Controller('instagram/oauth')
export class InstagramOAuthController {
  constructor(
    private readonly connect: InstagramConnectService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Get('authorize')
  @UseGuards(SessionGuard)
  @ApiBearerAuth()
  @ApiCookieAuth(SESSION_COOKIE)
  @ApiOperation({
    summary: "Start connecting an Instagram account: redirect to Instagram's consent page",
    description: `Creates a single-use state (10 minutes) bound to the signed-in user and to this browser: the response sets the \`${OAUTH_BINDING_COOKIE}\` cookie, and the callback accepts the state only from a browser that sends it back (an authorize URL opened in another browser, e.g. one sent to somebody else, lands there on \`/?error=invalid_state\`). \`?accountId=<id>\` makes it a reconnect of that account (the caller's own): the state is bound to it, Instagram is asked with \`force_reauth=true\`, and a callback that returns another Instagram account changes nothing and lands on \`/?error=wrong_account\`. \`?format=json\` answers 200 {url} for single-page clients instead of redirecting; it sets the cookie too, so call it from the page's own origin (fetch with credentials) before navigating to the URL.`,
  })
  @ApiFoundResponse({
    description: "Redirect to Instagram's consent page",
    headers: { 'Set-Cookie': { description: BINDING_COOKIE_DOC, schema: { type: 'string' } } },
  })
  @ApiOkResponse({
    type: AuthorizeUrlResponseDto,
    description: 'With `?format=json`',
    headers: { 'Set-Cookie': { description: BINDING_COOKIE_DOC, schema: { type: 'string' } } },
  })
  @ApiUnauthorizedResponse({ type: ErrorResponseDto })
  @ApiBadRequestResponse({
    type: ErrorResponseDto,
    description: 'Unknown query parameter, or a malformed accountId',
  })
  @ApiForbiddenResponse({
    type: ErrorResponseDto,
    description: "accountId is another user's account; nothing is stored",
  })
  @ApiNotFoundResponse({ type: ErrorResponseDto, description: 'No account with that accountId' })
  async authorize(
    @GetUserId() userId: string,
    @Query() query: AuthorizeQueryDto,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const cookie = oauthBindingCookie(this.config.isProduction);
    const { url, binding } = await this.connect.startAuthorization(
      userId,
      request.cookies[cookie.name],
      query.accountId,
    );
    setBindingCookie(reply, binding, this.config.isProduction);
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
    description: `Needs the \`${OAUTH_BINDING_COOKIE}\` cookie that /authorize set in the same browser. A missing, unknown, used or expired state, or one presented without that cookie or with another browser's, consumes nothing (the state stays usable by the browser that started it; the cookie is not cleared, it expires by itself) and redirects to \`/?error=invalid_state&error_description=<what happened and what to do>\`. Otherwise exchanges the code, stores the long-lived token encrypted, creates or re-activates the account, queues its first sync, then redirects to \`/?connected=<accountId>\`. A reconnect (\`/authorize?accountId=\`) that Instagram answers with another account writes nothing and redirects to \`/?error=wrong_account\` with a sentence naming both usernames. Instagram or consent failures redirect to \`/?error=<reason>&error_description=<text>\`. A connect started from a connect link's public page (its state starts with \`cl.\`) lands on the public \`/connect/done?connected=<username>\` or \`/connect/done?error=<reason>\` instead, and uses the link up only when the account is connected. Unknown parameters are ignored.`,
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
    description:
      'To `/?connected=<accountId>` or `/?error=…&error_description=…` (`invalid_state`, `wrong_account`, `access_denied`, …)',
  })
  @ApiBadRequestResponse({
    type: ErrorResponseDto,
    description: 'A parameter repeated or too long (nothing a browser sends on its own)',
  })
  async callback(
    // An interface type: the global pipe, which refuses unknown parameters, leaves it alone.
    @Query(permissive(OAuthCallbackQueryDto)) query: OAuthCallbackQuery,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const target = await this.connect.completeAuthorization(
      query,
      request.cookies[oauthBindingCookie(this.config.isProduction).name],
    );
    void reply.header('cache-control', NO_STORE).redirect(target, 302);
  }
}
