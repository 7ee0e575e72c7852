import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsInt, IsOptional, IsString, Max, MaxLength, Min, MinLength } from 'class-validator';
import type { ConnectLink } from '../../../domain/entities/connect-link.entity';

export const CONNECT_LINK_DEFAULT_HOURS = 72;
export const CONNECT_LINK_MAX_HOURS = 168;

const trim = ({ value }: { value: unknown }) => (typeof value === 'string' ? value.trim() : value);

export class ConnectLinkCreateDto {
  @ApiPropertyOptional({
    example: 'Bakery on Main Street',
    maxLength: 100,
    description: 'Your note, to tell links apart; never shown on the public page',
  })
  @IsOptional()
  @Transform(trim)
  @IsString()
  @MinLength(1, { message: 'label must not be empty (leave it out instead)' })
  @MaxLength(100)
  label?: string;

  @ApiPropertyOptional({
    minimum: 1,
    maximum: CONNECT_LINK_MAX_HOURS,
    default: CONNECT_LINK_DEFAULT_HOURS,
    description: 'How long the link works, in hours',
  })
  @IsOptional()
  @IsInt({ message: 'expiresInHours must be a whole number of hours' })
  @Min(1)
  @Max(CONNECT_LINK_MAX_HOURS)
  expiresInHours?: number;
}

export class ConnectLinkResponseDto {
  @ApiProperty({ format: 'uuid' }) id!: string;

  @ApiProperty({ type: String, nullable: true, example: 'Bakery on Main Street' })
  label!: string | null;

  @ApiProperty({
    type: String,
    format: 'uuid',
    nullable: true,
    description:
      'A reconnect link: the account it reconnects (only that Instagram account is accepted). Null for a connect link.',
  })
  accountId!: string | null;

  @ApiProperty() createdAt!: Date;
  @ApiProperty() expiresAt!: Date;

  @ApiProperty({ description: 'The link connected an account and works no more' })
  used!: boolean;

  @ApiProperty({ type: Date, nullable: true }) usedAt!: Date | null;

  @ApiProperty({
    type: String,
    format: 'uuid',
    nullable: true,
    description: 'The account the link connected (null until used, or once it is removed)',
  })
  connectedAccountId!: string | null;
}

export class ConnectLinkCreatedResponseDto extends ConnectLinkResponseDto {
  @ApiProperty({
    example: 'https://app.ssell.example/connect/3q2-7wYkPz0oXb1mV9cLr4tN8sJh6uFgAeDiKoQyWnE',
    description:
      'The public page to send to the client. Shown here only: ssell keeps only a hash of its token.',
  })
  url!: string;
}

export class ConnectLinkListResponseDto {
  @ApiProperty({
    type: [ConnectLinkResponseDto],
    description: 'Links neither revoked nor expired, used ones included, newest first',
  })
  links!: ConnectLinkResponseDto[];
}

export function toConnectLinkResponse(link: ConnectLink): ConnectLinkResponseDto {
  return {
    id: link.id,
    label: link.label,
    accountId: link.accountId,
    createdAt: link.createdAt,
    expiresAt: link.expiresAt,
    used: link.usedAt !== null,
    usedAt: link.usedAt,
    connectedAccountId: link.usedAccountId,
  };
}
