import { ValidationPipe } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, IsString, IsUUID, MaxLength } from 'class-validator';

export class AuthorizeQueryDto {
  @ApiPropertyOptional({
    enum: ['json'],
    description: '`json`: answer 200 {url} instead of redirecting (single-page clients)',
  })
  @IsOptional()
  @IsIn(['json'])
  format?: 'json';

  @ApiPropertyOptional({
    format: 'uuid',
    description:
      "Reconnect this account (the caller's own): the callback accepts only the same Instagram account, and Instagram is asked to choose the account again (`force_reauth=true`)",
  })
  @IsOptional()
  @IsUUID('all', { message: 'accountId must be a UUID (an account id)' })
  accountId?: string;
}

/** The callback's query once validated. An interface on purpose: see {@link permissive}. */
export interface OAuthCallbackQuery {
  code?: string;
  state?: string;
  error?: string;
  error_reason?: string;
  error_description?: string;
}

/**
 * What Instagram sends back to the callback. Validated by {@link permissive}: Meta may add
 * parameters, so unknown ones are dropped instead of refused, but every known one is bounded.
 */
export class OAuthCallbackQueryDto implements OAuthCallbackQuery {
  @IsOptional()
  @IsString()
  @MaxLength(2048)
  code?: string;

  @IsOptional()
  @IsString()
  @MaxLength(256)
  state?: string;

  @IsOptional()
  @IsString()
  @MaxLength(128)
  error?: string;

  @IsOptional()
  @IsString()
  @MaxLength(128)
  error_reason?: string;

  @IsOptional()
  @IsString()
  @MaxLength(1024)
  error_description?: string;
}

/** A Meta callback's body once validated (an interface: see {@link permissive}). */
export interface SignedRequestBody {
  signed_request: string;
}

/** Meta posts `signed_request` as a form field; other fields it may add are ignored. */
export class SignedRequestBodyDto implements SignedRequestBody {
  @ApiProperty({
    description:
      'base64url(HMAC-SHA256 signature).base64url(JSON payload), signed with the app secret',
    maxLength: 8192,
  })
  @IsString()
  @MaxLength(8192)
  signed_request!: string;
}

/**
 * The global ValidationPipe refuses unknown fields. Routes Meta calls must tolerate fields Meta
 * adds, so they declare their parameter with an interface type (emitted as `Object`, which the
 * global pipe leaves alone) and validate with this pipe: known fields checked, unknown ones
 * stripped.
 */
export function permissive(dto: new () => object): ValidationPipe {
  return new ValidationPipe({
    expectedType: dto,
    whitelist: true,
    forbidNonWhitelisted: false,
    transform: true,
    validationError: { target: false, value: false },
  });
}

export class AuthorizeUrlResponseDto {
  @ApiProperty({
    description: "Instagram's consent page, with client_id, redirect_uri, scope and state",
  })
  url!: string;
}

export class OAuthInfoResponseDto {
  @ApiProperty({ description: 'Instagram is emulated (no app credentials configured)' })
  demo!: boolean;

  @ApiProperty({ type: [String], example: ['instagram_business_basic'] })
  scopes!: string[];
}

export class DeauthorizeResponseDto {
  @ApiProperty({ example: true }) success!: boolean;
}

export class DataDeletionResponseDto {
  @ApiProperty({ description: 'Where the person can check the deletion' }) url!: string;
  @ApiProperty({ example: 'k3V9qLmZ2xT8rB4nW7cY' }) confirmation_code!: string;
}

export class DataDeletionStatusDto {
  @ApiProperty() confirmation_code!: string;
  @ApiProperty({ enum: ['pending', 'completed', 'failed'] }) status!: string;
  @ApiProperty() accounts_deleted!: number;
  @ApiProperty() requested_at!: Date;
  @ApiProperty({ nullable: true, type: Date }) completed_at!: Date | null;
}
