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
  Patch,
  Post,
  Query,
  UseGuards,
} from '@nestjs/common';
import {
  ApiBadGatewayResponse,
  ApiBadRequestResponse,
  ApiBearerAuth,
  ApiBody,
  ApiConflictResponse,
  ApiCookieAuth,
  ApiForbiddenResponse,
  ApiNoContentResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiTags,
  ApiTooManyRequestsResponse,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import { GetUserId } from '../../../common/decorators/session.decorator';
import { SessionGuard } from '../../../common/guards/session.guard';
import { SESSION_COOKIE } from '../../../common/auth/session-token';
import { AccountEventListResponseDto, toAccountEventResponse } from '../dto/account-event.dto';
import {
  AccountListResponseDto,
  AccountResponseDto,
  AccountStatusResponseDto,
  toAccountResponse,
  UpdateAccountDto,
} from '../dto/account.dto';
import { ErrorResponseDto } from '../dto/error-response.dto';
import { PageQueryDto } from '../dto/pagination';
import { AccountSyncError } from '../errors/account-sync.error';
import { AccountSyncService } from '../services/account-sync.service';
import { AccountService } from '../services/account.service';

const AccountId = () =>
  Param(
    'id',
    new ParseUUIDPipe({
      exceptionFactory: () => new BadRequestException('id must be a UUID (an account id)'),
    }),
  );

const errors = {
  badRequest: ApiBadRequestResponse({ type: ErrorResponseDto }),
  unauthorized: ApiUnauthorizedResponse({ type: ErrorResponseDto, description: 'No session' }),
};

/**
 * What every `/:id` route shares in the document: the id parameter and its failures (400
 * malformed id or input, 401, 403 another user's account, 404).
 */
const AccountRoute = (badRequest = 'Malformed id') =>
  applyDecorators(
    ApiParam({ name: 'id', format: 'uuid', description: 'Account id' }),
    ApiBadRequestResponse({ type: ErrorResponseDto, description: badRequest }),
    errors.unauthorized,
    ApiForbiddenResponse({
      type: ErrorResponseDto,
      description: "Another user's account; nothing is changed",
    }),
    ApiNotFoundResponse({ type: ErrorResponseDto, description: 'No such account' }),
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
  ) {}

  @Get()
  @ApiOperation({
    summary: 'List the connected Instagram accounts',
    description: 'Newest first (created_at, then id), keyset-paginated with an opaque cursor.',
  })
  @ApiOkResponse({ type: AccountListResponseDto })
  @errors.badRequest
  @errors.unauthorized
  async list(
    @GetUserId() userId: string,
    @Query() query: PageQueryDto,
  ): Promise<AccountListResponseDto> {
    const page = await this.accounts.listAccounts(userId, query);
    const now = new Date();
    return {
      accounts: page.accounts.map((account) => toAccountResponse(account, now)),
      total: page.total,
      nextCursor: page.nextCursor,
    };
  }

  @Get(':id')
  @ApiOperation({ summary: 'One account' })
  @AccountRoute()
  @ApiOkResponse({ type: AccountResponseDto })
  async get(@AccountId() id: string, @GetUserId() userId: string): Promise<AccountResponseDto> {
    return toAccountResponse(await this.accounts.getAccountById(id, userId));
  }

  @Patch(':id')
  @ApiOperation({
    summary: 'Update username, display name or picture, or pause the account',
    description:
      'Only the listed fields; anything else is a 400. `status` is managed by the service: the only value a client may set is `disconnected`.',
  })
  @AccountRoute(
    'Malformed id; unknown or forbidden field, value too long, status other than disconnected, empty body',
  )
  @ApiBody({ type: UpdateAccountDto })
  @ApiOkResponse({ type: AccountResponseDto })
  async update(
    @AccountId() id: string,
    @Body() body: UpdateAccountDto,
    @GetUserId() userId: string,
  ): Promise<AccountResponseDto> {
    return toAccountResponse(await this.accounts.updateAccount(id, userId, body));
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
  async remove(@AccountId() id: string, @GetUserId() userId: string): Promise<void> {
    await this.accounts.deleteAccount(id, userId);
  }

  @Post(':id/sync')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({ summary: 'Sync the profile and counts from Instagram now' })
  @AccountRoute()
  @ApiOkResponse({ type: AccountResponseDto })
  @ApiConflictResponse({
    type: ErrorResponseDto,
    description:
      'Instagram rejected the token or a permission, no token is stored, or the account is disconnected: reconnect it',
  })
  @ApiTooManyRequestsResponse({
    type: ErrorResponseDto,
    description: 'Instagram rate-limited the account; Retry-After says for how long',
  })
  @ApiBadGatewayResponse({
    type: ErrorResponseDto,
    description: 'Instagram failed or did not answer in time; try again',
  })
  async sync(@AccountId() id: string, @GetUserId() userId: string): Promise<AccountResponseDto> {
    const outcome = await this.syncs.sync(id, 'manual', userId);
    // AccountSyncErrorFilter answers it: 409, 429 with Retry-After, 502 or 404.
    if (outcome.status !== 'synced') throw AccountSyncError.of(outcome);
    return toAccountResponse(outcome.account);
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
    @AccountId() id: string,
    @GetUserId() userId: string,
  ): Promise<AccountStatusResponseDto> {
    return { status: await this.syncs.refreshAccountStatus(id, userId) };
  }

  @Get(':id/events')
  @ApiOperation({
    summary: "The account's history, newest first",
    description: 'Paginated like the list.',
  })
  @AccountRoute()
  @ApiOkResponse({ type: AccountEventListResponseDto })
  async events(
    @AccountId() id: string,
    @GetUserId() userId: string,
    @Query() query: PageQueryDto,
  ): Promise<AccountEventListResponseDto> {
    const page = await this.accounts.listEvents(id, userId, query);
    return { events: page.events.map(toAccountEventResponse), nextCursor: page.nextCursor };
  }
}
