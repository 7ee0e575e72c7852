import { Module } from '@nestjs/common';

/** Existing accounts: list, read, update, sync, status, token refresh, disconnect, events. */
@Module({})
export class InstagramAccountsModule {}
