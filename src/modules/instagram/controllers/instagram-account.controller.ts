import {
  applyDecorators,
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  HttpStatus,
  Patch,
  Post,
  Query,
  UseGuards,
} from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiBody,
  ApiCookieAuth,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiTags,
} from '@nestjs/swagger';
import { GetUserId } from '../../../common/decorators/session.decorator';
import { SessionGuard } from '../../../common/guards/session.guard';
import { SESSION_COOKIE } from '../../../common/auth/session-token';
import type { ClientAccount } from '../../../domain/entities/client-account.entity';
import { ApiErrorResponse, ApiUnauthorizedError } from '../../../common/swagger/api-error-response';
import { AccountEventListResponseDto, toAccountEventResponse } from '../dto/account-event.dto';
import {
  AccountListResponseDto,
  AccountResponseDto,
  AccountStatusResponseDto,
  STATUS_MANAGED_MESSAGE,
  toAccountResponse,
  UpdateAccountDto,
  USERNAME_MESSAGE,
} from '../dto/account.dto';
import { CURSOR_MESSAGE, LIMIT_MESSAGE, PageQueryDto } from '../dto/pagination';
import { AccountSyncError } from '../errors/account-sync.error';
import { ACCOUNT_FORBIDDEN, ACCOUNT_NOT_FOUND } from '../services/account-access';
import { AccountSyncService } from '../services/account-sync.service';
import { AccountService, NOTHING_TO_UPDATE_MESSAGE } from '../services/account.service';
import { CurrentAccountService } from '../services/current-account.service';
import { AccountIdParam, MALFORMED_ACCOUNT_ID } from './account-id.param';

const PAGE_ERRORS = { 'limit out of range': LIMIT_MESSAGE, 'bad cursor': CURSOR_MESSAGE };

/**
 * What every `/:id` route shares in the document: the id parameter and its failures (400
 * malformed id or input, 401, 403 another user's account, 404), each with the answer the
 * service really gives.
 */
const AccountRoute = (
  badRequest: { description: string; examples: Record<string, string> } = {
    description: 'Malformed id',
    examples: {},
  },
) =>
  applyDecorators(
    ApiParam({ name: 'id', format: 'uuid', description: 'Account id' }),
    ApiErrorResponse(400, {
      description: badRequest.description,
      examples: { 'malformed id': MALFORMED_ACCOUNT_ID, ...badRequest.examples },
    }),
    ApiUnauthorizedError(),
    ApiErrorResponse(403, {
      description: "Another user's account; nothing is changed",
      examples: { "another user's account": ACCOUNT_FORBIDDEN },
    }),
    ApiErrorResponse(404, {
      description: 'No such account',
      examples: { 'unknown account': ACCOUNT_NOT_FOUND },
    }),
  );

@ApiTags('Instagram Accounts')
@ApiBearerAuth()
@ApiCookieAuth(SESSION_COOKIE)
@Controller('instagram/accounts')
@UseGuards(SessionGuard)
export class InstagramAccountController {
  constructor(
    private readonly accounts: AccountService,
    private readonly syncs: AccountSyncService,
    private readonly current: CurrentAccountService,
  ) {}

  /** The account in its public shape, with `isCurrent` for the caller. */
  private async respond(account: ClientAccount, userId: string) {
    return toAccountResponse(account, new Date(), await this.current.currentId(userId));
  }

  @Get()
  @ApiOperation({
    summary: 'List the connected Instagram accounts',
    description: 'Newest first (created_at, then id), keyset-paginated with an opaque cursor.',
  })
  @ApiOkResponse({ type: AccountListResponseDto })
  @ApiErrorResponse(400, {
    description: 'limit or cursor out of range, or unknown parameters',
    examples: PAGE_ERRORS,
  })
  @ApiUnauthorizedError()
  async list(
    @GetUserId() userId: string,
    @Query() query: PageQueryDto,
  ): Promise<AccountListResponseDto> {
    // The caller's current account comes with the page and the count, not one lookup per row.
    const page = await this.accounts.listAccounts(userId, query);
    const now = new Date();
    return {
      accounts: page.accounts.map((account) => toAccountResponse(account, now, page.currentId)),
      total: page.total,
      nextCursor: page.nextCursor,
    };
  }

  @Get(':id')
  @ApiOperation({ summary: 'One account' })
  @AccountRoute()
  @ApiOkResponse({ type: AccountResponseDto })
  async get(
    @AccountIdParam() id: string,
    @GetUserId() userId: string,
  ): Promise<AccountResponseDto> {
    // The account and the caller's current account in one statement: each round trip costs a
    // socket write and read here and a bind-execute in PostgreSQL.
    const { account, currentId } = await this.accounts.getAccountWithCurrent(id, userId);
    return toAccountResponse(account, new Date(), currentId);
  }

  @Patch(':id')
  @ApiOperation({
    summary: 'Update username, display name or picture, or pause the account',
    description:
      'Only the listed fields; anything else is a 400. `status` is managed by the service: the only value a client may set is `disconnected`.',
  })
  @AccountRoute({
    description:
      'Malformed id; unknown or forbidden field, value too long, status other than disconnected, empty body',
    examples: {
      'unknown or forbidden field': 'property userId should not exist',
      'bad username': USERNAME_MESSAGE,
      'status other than disconnected': STATUS_MANAGED_MESSAGE,
      'empty body': NOTHING_TO_UPDATE_MESSAGE,
    },
  })
  @ApiBody({ type: UpdateAccountDto })
  @ApiOkResponse({ type: AccountResponseDto })
  async update(
    @AccountIdParam() id: string,
    @Body() body: UpdateAccountDto,
    @GetUserId() userId: string,
  ): Promise<AccountResponseDto> {
    return this.respond(await this.accounts.updateAccount(id, userId, body), userId);
  }

  @Delete(':id')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiOperation({
    summary: 'Disconnect the account',
    description:
      'Attempts token revocation (Instagram Login has no revocation endpoint; the outcome is kept in the account history), destroys the stored token and removes the account.',
  })
  @AccountRoute()
  @ApiNoContentResponse({ description: 'Disconnected' })
  async remove(@AccountIdParam() id: string, @GetUserId() userId: string): Promise<void> {
    await this.accounts.deleteAccount(id, userId);
  }

  @Post(':id/sync')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({ summary: 'Sync the profile and counts from Instagram now' })
  @AccountRoute()
  @ApiOkResponse({ type: AccountResponseDto })
  @ApiErrorResponse(409, {
    description:
      'Instagram rejected the token or a permission, no token is stored, or the account is disconnected: reconnect it',
    examples: {
      'token rejected':
        "Instagram rejected this account's access (code 190/460: password changed). Reconnect the account.",
      'permission refused':
        'Instagram refused a permission this account needs (code 10). Reconnect the account and grant the requested permissions.',
      'no token stored':
        'No usable Instagram token is stored for this account. Reconnect the account.',
      disconnected: 'This account is disconnected. Reconnect the account to sync it again.',
    },
  })
  @ApiErrorResponse(429, {
    description: 'Instagram rate-limited the account; Retry-After says for how long',
    examples: {
      'rate limited': 'Instagram rate-limited this account until 14:05 UTC; try again then.',
    },
    retryAfter: true,
  })
  @ApiErrorResponse(502, {
    description: 'Instagram failed or did not answer in time; try again',
    examples: {
      timeout: 'Instagram did not answer in time; try again',
      unreachable: 'Instagram could not be reached; try again',
      'temporary problem': 'Instagram had a temporary problem (2); try again',
    },
  })
  async sync(
    @AccountIdParam() id: string,
    @GetUserId() userId: string,
  ): Promise<AccountResponseDto> {
    const outcome = await this.syncs.sync(id, 'manual', userId);
    // AccountSyncErrorFilter answers it: 409, 429 with Retry-After, 502 or 404.
    if (outcome.status !== 'synced') throw AccountSyncError.of(outcome);
    return this.respond(outcome.account, userId);
  }

  @Post(':id/refresh-status')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({
    summary: 'Check the token and update the status',
    description:
      'A token past its expiry is token_expired without a call to Instagram; otherwise one profile call decides. A disconnected account stays disconnected until reconnected.',
  })
  @AccountRoute()
  @ApiOkResponse({ type: AccountStatusResponseDto })
  async refreshStatus(
    @AccountIdParam() id: string,
    @GetUserId() userId: string,
  ): Promise<AccountStatusResponseDto> {
    return { status: await this.syncs.refreshAccountStatus(id, userId) };
  }

  @Get(':id/events')
  @ApiOperation({
    summary: "The account's history, newest first",
    description: 'Paginated like the list.',
  })
  @AccountRoute({ description: 'Malformed id, limit or cursor', examples: PAGE_ERRORS })
  @ApiOkResponse({ type: AccountEventListResponseDto })
  async events(
    @AccountIdParam() id: string,
    @GetUserId() userId: string,
    @Query() query: PageQueryDto,
  ): Promise<AccountEventListResponseDto> {
    const page = await this.accounts.listEvents(id, userId, query);
    return { events: page.events.map(toAccountEventResponse), nextCursor: page.nextCursor };
  }
}
