import { Module } from '@nestjs/common';
import { InstagramAccountsModule } from './instagram-accounts.module';
import { InstagramConnectModule } from './instagram-connect.module';

@Module({ imports: [InstagramAccountsModule, InstagramConnectModule] })
export class InstagramModule {}
