import { Module } from '@nestjs/common';
import { CONNECT_LINK_REPOSITORY } from '../../domain/repositories/connect-link.repository.interface';
import { DATA_DELETION_REPOSITORY } from '../../domain/repositories/data-deletion.repository.interface';
import { OAUTH_STATE_REPOSITORY } from '../../domain/repositories/oauth-state.repository.interface';
import { PostgresConnectLinkRepository } from '../../infrastructure/database/repositories/postgres-connect-link.repository';
import { PostgresDataDeletionRepository } from '../../infrastructure/database/repositories/postgres-data-deletion.repository';
import { PostgresOAuthStateRepository } from '../../infrastructure/database/repositories/postgres-oauth-state.repository';
import { InstagramOAuthController } from './controllers/instagram-oauth.controller';
import { MetaCallbacksController } from './controllers/meta-callbacks.controller';
import { InstagramAccountsModule } from './instagram-accounts.module';
import { AccountSweepsProcessor } from './jobs/account-sweeps.processor';
import { AccountSyncProcessor } from './jobs/account-sync.processor';
import { InstagramJobsScheduler } from './jobs/instagram-jobs.scheduler';
import { TokenRefreshProcessor } from './jobs/token-refresh.processor';
import { InstagramConnectService } from './services/instagram-connect.service';
import { MetaCallbacksService } from './services/meta-callbacks.service';

/** New accounts and Meta's side: OAuth connect, deauthorize and data-deletion callbacks, jobs. */
@Module({
  imports: [InstagramAccountsModule],
  controllers: [InstagramOAuthController, MetaCallbacksController],
  providers: [
    { provide: OAUTH_STATE_REPOSITORY, useClass: PostgresOAuthStateRepository },
    { provide: DATA_DELETION_REPOSITORY, useClass: PostgresDataDeletionRepository },
    // The callback uses connect links up; their own routes live in InstagramConnectLinksModule.
    { provide: CONNECT_LINK_REPOSITORY, useClass: PostgresConnectLinkRepository },
    InstagramConnectService,
    MetaCallbacksService,
    AccountSyncProcessor,
    TokenRefreshProcessor,
    AccountSweepsProcessor,
    InstagramJobsScheduler,
  ],
  exports: [InstagramConnectService, CONNECT_LINK_REPOSITORY],
})
export class InstagramConnectModule {}
