import { Module } from '@nestjs/common';
import { ACCOUNT_EVENT_REPOSITORY } from '../../domain/repositories/account-event.repository.interface';
import { CLIENT_ACCOUNT_REPOSITORY } from '../../domain/repositories/client-account.repository.interface';
import { PostgresAccountEventRepository } from '../../infrastructure/database/repositories/postgres-account-event.repository';
import { PostgresClientAccountRepository } from '../../infrastructure/database/repositories/postgres-client-account.repository';
import { InstagramAccountController } from './controllers/instagram-account.controller';
import { AccountStatusService } from './services/account-status.service';
import { AccountSyncService } from './services/account-sync.service';
import { AccountTokenService } from './services/account-token.service';
import { AccountService } from './services/account.service';

const SERVICES = [AccountService, AccountSyncService, AccountStatusService, AccountTokenService];

/** Existing accounts: list, read, update, sync, status, token refresh, disconnect, events. */
@Module({
  controllers: [InstagramAccountController],
  providers: [
    { provide: CLIENT_ACCOUNT_REPOSITORY, useClass: PostgresClientAccountRepository },
    { provide: ACCOUNT_EVENT_REPOSITORY, useClass: PostgresAccountEventRepository },
    ...SERVICES,
  ],
  exports: [...SERVICES, CLIENT_ACCOUNT_REPOSITORY, ACCOUNT_EVENT_REPOSITORY],
})
export class InstagramAccountsModule {}
