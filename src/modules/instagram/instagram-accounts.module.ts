import { Module } from '@nestjs/common';
import { ACCOUNT_EVENT_REPOSITORY } from '../../domain/repositories/account-event.repository.interface';
import { ACCOUNT_METRICS_REPOSITORY } from '../../domain/repositories/account-metrics.repository.interface';
import { ACCOUNT_PICTURE_REPOSITORY } from '../../domain/repositories/account-picture.repository.interface';
import { CLIENT_ACCOUNT_REPOSITORY } from '../../domain/repositories/client-account.repository.interface';
import { CURRENT_ACCOUNT_REPOSITORY } from '../../domain/repositories/current-account.repository.interface';
import { EXPIRING_ACCOUNT_REPOSITORY } from '../../domain/repositories/expiring-account.repository.interface';
import { PostgresAccountEventRepository } from '../../infrastructure/database/repositories/postgres-account-event.repository';
import { PostgresAccountMetricsRepository } from '../../infrastructure/database/repositories/postgres-account-metrics.repository';
import { PostgresAccountPictureRepository } from '../../infrastructure/database/repositories/postgres-account-picture.repository';
import { PostgresClientAccountRepository } from '../../infrastructure/database/repositories/postgres-client-account.repository';
import { PostgresCurrentAccountRepository } from '../../infrastructure/database/repositories/postgres-current-account.repository';
import { AccountHistoryController } from './controllers/account-history.controller';
import { CurrentAccountController } from './controllers/current-account.controller';
import { InstagramAccountController } from './controllers/instagram-account.controller';
import { ActingAccountPipe } from './decorators/acting-account.decorator';
import { AccountMetricsService } from './services/account-metrics.service';
import { AccountPicturesService } from './services/account-pictures.service';
import { AccountStatusService } from './services/account-status.service';
import { AccountSyncService } from './services/account-sync.service';
import { AccountTokenService } from './services/account-token.service';
import { AccountService } from './services/account.service';
import { CurrentAccountService } from './services/current-account.service';
import { ExpiringAccountsService } from './services/expiring-accounts.service';

const SERVICES = [
  AccountService,
  AccountSyncService,
  AccountStatusService,
  AccountTokenService,
  CurrentAccountService,
  AccountPicturesService,
  AccountMetricsService,
  ExpiringAccountsService,
];

/**
 * Existing accounts: list, read, update, sync, status, token refresh, disconnect, events; the
 * current account and its resolver (`@ActingAccount()`: a module whose routes act on an account
 * imports this one); metric history, kept pictures, expiring soon.
 */
@Module({
  controllers: [CurrentAccountController, AccountHistoryController, InstagramAccountController],
  providers: [
    { provide: CLIENT_ACCOUNT_REPOSITORY, useClass: PostgresClientAccountRepository },
    { provide: EXPIRING_ACCOUNT_REPOSITORY, useExisting: CLIENT_ACCOUNT_REPOSITORY },
    { provide: ACCOUNT_EVENT_REPOSITORY, useClass: PostgresAccountEventRepository },
    { provide: CURRENT_ACCOUNT_REPOSITORY, useClass: PostgresCurrentAccountRepository },
    { provide: ACCOUNT_PICTURE_REPOSITORY, useClass: PostgresAccountPictureRepository },
    { provide: ACCOUNT_METRICS_REPOSITORY, useClass: PostgresAccountMetricsRepository },
    ...SERVICES,
    ActingAccountPipe,
  ],
  exports: [
    ...SERVICES,
    ActingAccountPipe,
    CLIENT_ACCOUNT_REPOSITORY,
    ACCOUNT_EVENT_REPOSITORY,
    CURRENT_ACCOUNT_REPOSITORY,
  ],
})
export class InstagramAccountsModule {}
