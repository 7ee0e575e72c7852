import { ApiProperty } from '@nestjs/swagger';
import { IsUUID } from 'class-validator';

export const CHOOSE_ACCOUNT_MESSAGE = 'accountId must be an account id (a UUID)';

export class ChooseCurrentAccountDto {
  @ApiProperty({
    format: 'uuid',
    description: "One of the caller's accounts, in any status",
    example: '3f0c2a52-8a54-4a43-9d07-6b1f0f0b8f51',
  })
  @IsUUID('all', { message: CHOOSE_ACCOUNT_MESSAGE })
  accountId!: string;
}
