import { ApiProperty } from '@nestjs/swagger';
import { type AccountEvent, AccountEventType } from '../../../domain/entities/account-event.entity';

export class AccountEventResponseDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty({ enum: AccountEventType }) type!: AccountEventType;
  @ApiProperty({
    type: 'object',
    additionalProperties: true,
    description:
      'Per type: synced → {reason, changed: {field: {from, to}}}; status_changed → {from, to, code, subcode, reason}; updated → {changed}; token_refreshed → {expiresAt}; connected → {username, platformAccountId, permissions}; reconnected → {previousStatus}; disconnected → {by: user, revocation} or {by: instagram, reason: deauthorized}; needs_reconnect → {status, reason, code, subcode}; recovered → {from}; token_expiring → {daysLeft, expiresAt}',
    example: { changed: { followerCount: { from: 1200, to: 1250 } }, reason: 'manual' },
  })
  data!: Record<string, unknown>;
  @ApiProperty({ type: String, format: 'date-time' }) createdAt!: string;
}

export class AccountEventListResponseDto {
  @ApiProperty({ type: [AccountEventResponseDto], description: 'Newest first' })
  events!: AccountEventResponseDto[];
  @ApiProperty({
    type: String,
    nullable: true,
    description: 'Pass as `?cursor=` for the next page; null on the last page',
  })
  nextCursor!: string | null;
}

export function toAccountEventResponse(event: AccountEvent): AccountEventResponseDto {
  return {
    id: event.id,
    type: event.type,
    data: event.data,
    createdAt: event.createdAt.toISOString(),
  };
}
