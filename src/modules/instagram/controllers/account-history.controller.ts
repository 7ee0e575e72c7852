import { Controller, Get, Headers, HttpStatus, Query, Res, UseGuards } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiCookieAuth,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiResponse,
  ApiTags,
} from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { GetUserId } from '../../../common/decorators/session.decorator';
import { SessionGuard } from '../../../common/guards/session.guard';
import { ApiErrorResponse, ApiUnauthorizedError } from '../../../common/swagger/api-error-response';
import { SESSION_COOKIE } from '../../../common/auth/session-token';
import { AccountListResponseDto, toAccountResponse } from '../dto/account.dto';
import {
  AccountMetricsResponseDto,
  ExpiringQueryDto,
  MetricsQueryDto,
  toMetricsResponse,
} from '../dto/account-metrics.dto';
import { ACCOUNT_FORBIDDEN, ACCOUNT_NOT_FOUND } from '../services/account-access';
import { AccountMetricsService } from '../services/account-metrics.service';
import { AccountPicturesService } from '../services/account-pictures.service';
import { CurrentAccountService } from '../services/current-account.service';
import { ExpiringAccountsService } from '../services/expiring-accounts.service';
import { AccountIdParam, MALFORMED_ACCOUNT_ID } from './account-id.param';

const ApiForbiddenAccount = () =>
  ApiErrorResponse(403, {
    description: "Another user's account",
    examples: { "another user's account": ACCOUNT_FORBIDDEN },
  });

/** If-None-Match against one strong ETag: `*`, a list, weak forms. */
function matchesEtag(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return header
    .split(',')
    .map((tag) => tag.trim().replace(/^W\//, ''))
    .some((tag) => tag === '*' || tag === etag);
}

/** History, pictures, expiry: what a person reads about their accounts over time. */
@ApiTags('Instagram Accounts')
@ApiBearerAuth()
@ApiCookieAuth(SESSION_COOKIE)
@Controller('instagram/accounts')
@UseGuards(SessionGuard)
export class AccountHistoryController {
  constructor(
    private readonly metrics: AccountMetricsService,
    private readonly pictures: AccountPicturesService,
    private readonly expiring: ExpiringAccountsService,
    private readonly current: CurrentAccountService,
  ) {}

  @Get('expiring')
  @ApiOperation({
    summary: 'Accounts whose token expires soon',
    description:
      "The caller's accounts whose token still works (active, rate_limited, error) and expires within `days`, soonest first, in the list's shape and paginated like it. Expired and disconnected accounts need a reconnect and are not listed.",
  })
  @ApiOkResponse({ type: AccountListResponseDto })
  @ApiErrorResponse(400, {
    description: 'days, limit or cursor out of range, or unknown parameters',
    examples: {
      'days out of range': 'days must be an integer from 1 to 60',
      'limit out of range': 'limit must be an integer from 1 to 100',
    },
  })
  @ApiUnauthorizedError()
  async listExpiring(
    @GetUserId() userId: string,
    @Query() query: ExpiringQueryDto,
  ): Promise<AccountListResponseDto> {
    const [page, currentId] = await Promise.all([
      this.expiring.list(userId, query),
      this.current.currentId(userId),
    ]);
    const now = new Date();
    return {
      accounts: page.accounts.map((account) => toAccountResponse(account, now, currentId)),
      total: page.total,
      nextCursor: page.nextCursor,
    };
  }

  @Get(':id/metrics')
  @ApiOperation({
    summary: 'Follower, following and media counts over time',
    description:
      'One point per UTC day or ISO week (the last snapshot in it; every successful sync records one), and the change from the first point to the last. Default: the last 30 days, by day; at most 366 days.',
  })
  @ApiParam({ name: 'id', format: 'uuid', description: 'Account id' })
  @ApiOkResponse({ type: AccountMetricsResponseDto })
  @ApiErrorResponse(400, {
    description: 'Malformed id or parameters',
    examples: {
      'malformed id': MALFORMED_ACCOUNT_ID,
      'bad interval': 'interval must be day or week',
      'bad date':
        'from must be an ISO date (2025-06-01) or a date-time with its zone (2025-06-01T12:00:00Z)',
      'reversed range': 'from must be before to',
      'range too long': 'from and to may be at most 366 days apart',
    },
  })
  @ApiUnauthorizedError()
  @ApiForbiddenAccount()
  @ApiErrorResponse(404, {
    description: 'No such account',
    examples: { 'unknown account': ACCOUNT_NOT_FOUND },
  })
  async accountMetrics(
    @AccountIdParam() id: string,
    @GetUserId() userId: string,
    @Query() query: MetricsQueryDto,
  ): Promise<AccountMetricsResponseDto> {
    return toMetricsResponse(await this.metrics.history(id, userId, query));
  }

  @Get(':id/avatar')
  @ApiOperation({
    summary: "The account's kept profile picture",
    description:
      "The service's own copy of the Instagram picture, which keeps working after Instagram's signed link expires. Works with the session cookie, so an <img> on the page can show it. Revalidate with If-None-Match.",
  })
  @ApiParam({ name: 'id', format: 'uuid', description: 'Account id' })
  @ApiOkResponse({
    description: 'The picture',
    content: {
      'image/jpeg': { schema: { type: 'string', format: 'binary' } },
      'image/png': { schema: { type: 'string', format: 'binary' } },
      'image/webp': { schema: { type: 'string', format: 'binary' } },
      'image/gif': { schema: { type: 'string', format: 'binary' } },
    },
    headers: {
      ETag: { description: 'SHA-256 of the bytes, quoted', schema: { type: 'string' } },
      'Cache-Control': { description: '`private`', schema: { type: 'string' } },
    },
  })
  @ApiResponse({
    status: 304,
    description: 'If-None-Match matched: the copy the client has is current',
  })
  @ApiErrorResponse(400, {
    description: 'Malformed id',
    examples: { 'malformed id': MALFORMED_ACCOUNT_ID },
  })
  @ApiUnauthorizedError()
  @ApiForbiddenAccount()
  @ApiErrorResponse(404, {
    description: 'No such account, or no picture kept for it yet',
    examples: {
      'unknown account': ACCOUNT_NOT_FOUND,
      'no picture yet': 'No picture is kept for this account yet',
    },
  })
  async avatar(
    @AccountIdParam() id: string,
    @GetUserId() userId: string,
    @Headers('if-none-match') ifNoneMatch: string | undefined,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<Buffer | undefined> {
    const picture = await this.pictures.findOwned(id, userId);
    const etag = `"${picture.sha256}"`;
    void reply.header('etag', etag).header('cache-control', 'private');
    if (matchesEtag(ifNoneMatch, etag)) {
      void reply.status(HttpStatus.NOT_MODIFIED);
      return undefined;
    }
    void reply.header('content-type', picture.contentType);
    return picture.bytes;
  }
}
