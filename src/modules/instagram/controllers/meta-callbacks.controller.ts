import { Body, Controller, Get, HttpCode, HttpStatus, Param, Post } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBody,
  ApiConsumes,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiTags,
} from '@nestjs/swagger';
import { ErrorResponseDto } from '../dto/error-response.dto';
import {
  DataDeletionResponseDto,
  DataDeletionStatusDto,
  DeauthorizeResponseDto,
  type SignedRequestBody,
  SignedRequestBodyDto,
  permissive,
} from '../dto/oauth.dto';
import { MetaCallbacksService } from '../services/meta-callbacks.service';

const SIGNED_REQUEST_400 = {
  type: ErrorResponseDto,
  description:
    'signed_request missing, malformed or not signed with the app secret; nothing changed',
};

/** Called by Meta, not by people: no session; the signed_request is the authentication. */
@ApiTags('Meta callbacks')
@Controller('instagram')
export class MetaCallbacksController {
  constructor(private readonly callbacks: MetaCallbacksService) {}

  @Post('webhooks/deauthorize')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({
    summary: 'Meta: the person removed the app in Instagram settings',
    description:
      "Every account matching the payload's user_id (app-scoped or professional id) loses its token and becomes disconnected. 200 also when nothing matched.",
  })
  @ApiConsumes('application/x-www-form-urlencoded', 'application/json')
  @ApiBody({ type: SignedRequestBodyDto })
  @ApiOkResponse({ type: DeauthorizeResponseDto })
  @ApiBadRequestResponse(SIGNED_REQUEST_400)
  async deauthorize(
    // An interface type: Meta may post fields besides signed_request, which the global pipe
    // would refuse.
    @Body(permissive(SignedRequestBodyDto)) body: SignedRequestBody,
  ): Promise<DeauthorizeResponseDto> {
    await this.callbacks.deauthorize(body.signed_request);
    return { success: true };
  }

  @Post('webhooks/data-deletion')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({
    summary: 'Meta: the person asked for their data to be deleted',
    description:
      'Deletes every matching account with its token, metrics and events, and answers where the person can check the deletion.',
  })
  @ApiConsumes('application/x-www-form-urlencoded', 'application/json')
  @ApiBody({ type: SignedRequestBodyDto })
  @ApiOkResponse({ type: DataDeletionResponseDto })
  @ApiBadRequestResponse(SIGNED_REQUEST_400)
  async dataDeletion(
    @Body(permissive(SignedRequestBodyDto)) body: SignedRequestBody,
  ): Promise<DataDeletionResponseDto> {
    const receipt = await this.callbacks.requestDataDeletion(body.signed_request);
    return { url: receipt.url, confirmation_code: receipt.confirmationCode };
  }

  @Get('data-deletion/:code')
  @ApiOperation({ summary: 'Status of a data deletion request (public: the code is the secret)' })
  @ApiParam({ name: 'code', description: 'The confirmation code given to Meta' })
  @ApiOkResponse({ type: DataDeletionStatusDto })
  @ApiBadRequestResponse({ type: ErrorResponseDto, description: 'Malformed code' })
  @ApiNotFoundResponse({ type: ErrorResponseDto, description: 'No request with this code' })
  async deletionStatus(@Param('code') code: string): Promise<DataDeletionStatusDto> {
    const request = await this.callbacks.deletionStatus(code);
    return {
      confirmation_code: request.confirmationCode,
      status: request.status,
      accounts_deleted: request.accountsDeleted,
      requested_at: request.requestedAt,
      completed_at: request.completedAt,
    };
  }
}
