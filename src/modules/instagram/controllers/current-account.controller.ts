import { Body, Controller, Get, HttpCode, HttpStatus, Put, UseGuards } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiBody,
  ApiCookieAuth,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import { GetUserId } from '../../../common/decorators/session.decorator';
import { SessionGuard } from '../../../common/guards/session.guard';
import { ApiErrorResponse, ApiUnauthorizedError } from '../../../common/swagger/api-error-response';
import type { ClientAccount } from '../../../domain/entities/client-account.entity';
import { SESSION_COOKIE } from '../../../common/auth/session-token';
import {
  ACTING_ACCOUNT_HEADER,
  ACTING_ACCOUNT_HEADER_MESSAGE,
  ActingAccount,
} from '../decorators/acting-account.decorator';
import { AccountResponseDto, toAccountResponse } from '../dto/account.dto';
import { CHOOSE_ACCOUNT_MESSAGE, ChooseCurrentAccountDto } from '../dto/current-account.dto';
import { ACCOUNT_FORBIDDEN, ACCOUNT_NOT_FOUND } from '../services/account-access';
import { CurrentAccountService, NO_CURRENT_ACCOUNT } from '../services/current-account.service';

/** Account switching: the account a person works in. */
@ApiTags('Instagram Accounts')
@ApiBearerAuth()
@ApiCookieAuth(SESSION_COOKIE)
@Controller('instagram/accounts')
@UseGuards(SessionGuard)
export class CurrentAccountController {
  constructor(private readonly current: CurrentAccountService) {}

  @Get('current')
  @ApiOperation({
    summary: 'The account the caller works in',
    description: `The chosen account, else the most recently connected one that is not disconnected. With \`${ACTING_ACCOUNT_HEADER}\`, the account it names (as every route that acts on an account does).`,
  })
  @ApiOkResponse({ type: AccountResponseDto })
  @ApiErrorResponse(400, {
    description: `Malformed ${ACTING_ACCOUNT_HEADER}`,
    examples: { 'malformed header': ACTING_ACCOUNT_HEADER_MESSAGE },
  })
  @ApiUnauthorizedError()
  @ApiErrorResponse(403, {
    description: "The header names another user's account",
    examples: { "another user's account": ACCOUNT_FORBIDDEN },
  })
  @ApiErrorResponse(404, {
    description: 'The caller has no account, or the header names none',
    examples: { 'no account yet': NO_CURRENT_ACCOUNT, 'unknown account': ACCOUNT_NOT_FOUND },
  })
  async get(
    @ActingAccount() account: ClientAccount,
    @GetUserId() userId: string,
  ): Promise<AccountResponseDto> {
    return toAccountResponse(account, new Date(), await this.current.currentId(userId));
  }

  @Put('current')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({
    summary: 'Switch to another account',
    description:
      'Kept per user (the same for the cookie and Bearer tokens, across restarts). Any status may be chosen: switch to a broken account to fix it.',
  })
  @ApiBody({ type: ChooseCurrentAccountDto })
  @ApiOkResponse({ type: AccountResponseDto, description: 'The account now current' })
  @ApiErrorResponse(400, {
    description: 'Malformed accountId, or unknown fields',
    examples: {
      'malformed accountId': CHOOSE_ACCOUNT_MESSAGE,
      'unknown field': 'property userId should not exist',
    },
  })
  @ApiUnauthorizedError()
  @ApiErrorResponse(403, {
    description: "Another user's account; nothing changes",
    examples: { "another user's account": ACCOUNT_FORBIDDEN },
  })
  @ApiErrorResponse(404, {
    description: 'No such account',
    examples: { 'unknown account': ACCOUNT_NOT_FOUND },
  })
  async choose(
    @Body() body: ChooseCurrentAccountDto,
    @GetUserId() userId: string,
  ): Promise<AccountResponseDto> {
    const account = await this.current.choose(userId, body.accountId);
    return toAccountResponse(account, new Date(), account.id);
  }
}
