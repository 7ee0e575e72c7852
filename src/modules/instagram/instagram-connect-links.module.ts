import { Module } from '@nestjs/common';
import { ConnectLinksController } from './controllers/connect-links.controller';
import { ConnectPageController } from './controllers/connect-page.controller';
import { InstagramAccountsModule } from './instagram-accounts.module';
import { InstagramConnectModule } from './instagram-connect.module';
import { ConnectLinkService } from './services/connect-link.service';
import { ConnectPageRateLimiter } from './services/connect-page-rate-limiter';

/** Connect links for clients: the owner's routes and the public pages a link opens. */
@Module({
  imports: [InstagramAccountsModule, InstagramConnectModule],
  controllers: [ConnectLinksController, ConnectPageController],
  providers: [ConnectLinkService, ConnectPageRateLimiter],
})
export class InstagramConnectLinksModule {}
