import {
  applyDecorators,
  Controller,
  Get,
  Inject,
  type OnModuleInit,
  Param,
  Req,
  Res,
} from '@nestjs/common';
import {
  ApiFoundResponse,
  ApiGoneResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiProduces,
  ApiQuery,
  ApiResponse,
  ApiTags,
  ApiTooManyRequestsResponse,
} from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { registerErrorPage } from '../../../common/filters/framework-errors';
import { APP_CONFIG } from '../../../config/config.module';
import type { AppConfig } from '../../../config/config';
import { CONNECT_PAGE_PATH, ConnectLinkService } from '../services/connect-link.service';
import { ConnectPageRateLimiter } from '../services/connect-page-rate-limiter';
import { OAUTH_BINDING_COOKIE } from '../services/instagram-connect.service';
import {
  closedLinkPage,
  connectDonePage,
  type ConnectDoneQuery,
  openLinkPage,
  type RenderedPage,
  tooManyRequestsPage,
} from '../views/connect-pages';
import { oauthBindingCookie, setBindingCookie } from './oauth-binding-cookie';

const HTML = { 'text/html': { schema: { type: 'string' } } };
const TOKEN_PARAM = ApiParam({
  name: 'token',
  description: 'The token of the link (43 characters, base64url), from its `url`',
});
const LIMITED = ApiTooManyRequestsResponse({
  description: 'Too many requests from this IP (an HTML page; `Retry-After` says how long)',
  content: HTML,
});
const CLOSED = applyDecorators(
  ApiNotFoundResponse({ description: 'Unknown or malformed link (an HTML page)', content: HTML }),
  ApiGoneResponse({
    description: 'The link was used, has expired or was revoked: an HTML page saying which',
    content: HTML,
  }),
);

function send(reply: FastifyReply, page: RenderedPage): void {
  void reply
    .status(page.status)
    // The URL holds the token: nothing may keep the page, index it, or pass it on as a referrer.
    .header('cache-control', 'no-store')
    .header('x-robots-tag', 'noindex, nofollow')
    .header('referrer-policy', 'no-referrer')
    .type('text/html; charset=utf-8')
    .send(page.html);
}

/** A query parameter given once, as a string; anything else counts as absent. */
function single(query: unknown, name: string): string | undefined {
  const value = (query as Record<string, unknown> | undefined)?.[name];
  return typeof value === 'string' && value.length <= 64 ? value : undefined;
}

/**
 * The public pages of connect links: the client opening one has no ssell session, so every answer
 * here is a page (never JSON), and every request that looks a link up counts against its IP.
 */
@ApiTags('Connect links (public pages)')
@Controller('connect')
export class ConnectPageController implements OnModuleInit {
  constructor(
    private readonly links: ConnectLinkService,
    private readonly limiter: ConnectPageRateLimiter,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  onModuleInit(): void {
    // A mangled link (a token far too long, broken %-escapes) is refused by the router before
    // this controller runs: it is still just a link that is not valid.
    registerErrorPage(`${CONNECT_PAGE_PATH}/`, () => closedLinkPage('unknown'));
  }

  // Declared before :token so that nobody has to wonder: find-my-way prefers static paths anyway.
  @Get('done')
  @ApiOperation({
    summary: 'Where a client lands after Instagram (public page)',
    description:
      "The OAuth callback of a link-started connect redirects here: `?connected=<username>`, or `?error=<reason>` (`wrong_account` with `expected` and `approved` usernames, `account_in_use`, `access_denied`, `invalid_state`, `state_expired`, `other_browser`, `link_used`, `link_expired`, `link_revoked`, `link_busy`, `link_unknown`, or one of the callback's reasons). The text is the page's own: the query only picks it.",
  })
  @ApiProduces('text/html')
  // Decorators apply bottom-up: listed in reverse so the document reads connected, error….
  @ApiQuery({
    name: 'approved',
    type: String,
    required: false,
    description: 'wrong_account: who Instagram approved',
  })
  @ApiQuery({
    name: 'expected',
    type: String,
    required: false,
    description: 'wrong_account: the account of the link',
  })
  @ApiQuery({
    name: 'error',
    type: String,
    required: false,
    description: 'Why nothing was connected',
  })
  @ApiQuery({
    name: 'connected',
    type: String,
    required: false,
    description: 'The connected username',
  })
  @ApiOkResponse({ description: 'Connected (or consent not given)', content: HTML })
  @ApiGoneResponse({ description: 'The link could not be used any more', content: HTML })
  @ApiResponse({
    status: 'default',
    description:
      'Every other refusal is a page too: 400 (a connect this browser cannot finish), 404 (no such link, or a query that names nothing), 409 (another Instagram account, or the link busy), 5xx (Instagram or ssell failed)',
    content: HTML,
  })
  done(@Req() request: FastifyRequest, @Res() reply: FastifyReply): void {
    const query: ConnectDoneQuery = {};
    for (const name of ['connected', 'error', 'expected', 'approved'] as const) {
      const value = single(request.query, name);
      if (value !== undefined) query[name] = value;
    }
    send(reply, connectDonePage(query));
  }

  @Get(':token')
  @ApiOperation({
    summary: 'The page a connect link opens (public, no sign-in)',
    description:
      "Says whose workspace the account will join (the owner's name and their email with its local part masked) and, for a reconnect link, which account to log in as; its button starts Instagram's consent. Reading the page changes nothing.",
  })
  @ApiProduces('text/html')
  @TOKEN_PARAM
  @ApiOkResponse({ description: 'The open link', content: HTML })
  @CLOSED
  @LIMITED
  async page(
    @Param('token') token: string,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    if (await this.limited(request, reply)) return;
    const opened = await this.links.open(token);
    send(
      reply,
      opened.kind === 'open'
        ? openLinkPage(opened.view, this.links.authorizePath(token))
        : closedLinkPage(opened.closed),
    );
  }

  @Get(':token/authorize')
  @ApiOperation({
    summary: "The page's button: on to Instagram's consent (public)",
    description: `Creates a single-use OAuth state (10 minutes) bound to the link and to this browser (sets the \`${OAUTH_BINDING_COOKIE}\` cookie, as /instagram/oauth/authorize does), then redirects to Instagram with \`force_reauth=true\`. The callback connects the account into the link owner's user and lands on /connect/done.`,
  })
  @TOKEN_PARAM
  @ApiFoundResponse({ description: "To Instagram's consent page" })
  @CLOSED
  @LIMITED
  async authorize(
    @Param('token') token: string,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    if (await this.limited(request, reply)) return;
    const started = await this.links.startAuthorization(
      token,
      request.cookies[oauthBindingCookie(this.config.isProduction).name],
    );
    if (started.kind === 'closed') {
      send(reply, closedLinkPage(started.closed));
      return;
    }
    setBindingCookie(reply, started.binding, this.config.isProduction);
    void reply
      .header('cache-control', 'no-store')
      .header('referrer-policy', 'no-referrer')
      .redirect(started.url, 302);
  }

  /** Answers 429 (a page) and says so when the IP has spent its budget. */
  private async limited(request: FastifyRequest, reply: FastifyReply): Promise<boolean> {
    const wait = await this.limiter.consume(request.ip);
    if (wait === null) return false;
    void reply.header('retry-after', String(Math.max(1, Math.ceil(wait))));
    send(reply, tooManyRequestsPage(wait));
    return true;
  }
}
