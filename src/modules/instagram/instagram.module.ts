import { Module } from '@nestjs/common';
import { InstagramAccountsModule } from './instagram-accounts.module';
import { InstagramConnectLinksModule } from './instagram-connect-links.module';
import { InstagramConnectModule } from './instagram-connect.module';

@Module({
  imports: [InstagramAccountsModule, InstagramConnectModule, InstagramConnectLinksModule],
})
export class InstagramModule {}
