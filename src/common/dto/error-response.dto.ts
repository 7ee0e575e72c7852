import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

/** The envelope every error has (src/common/filters/error-reply.ts), for Swagger. */
export class ErrorResponseDto {
  @ApiProperty({ example: 404 }) statusCode!: number;
  @ApiProperty({ example: 'Not Found' }) error!: string;
  @ApiProperty({ example: 'Account not found' }) message!: string;
  @ApiPropertyOptional({ description: 'Also sent as the X-Request-Id header' }) requestId?: string;
}
