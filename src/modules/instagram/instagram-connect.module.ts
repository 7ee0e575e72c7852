import { Module } from '@nestjs/common';

/** New accounts and Meta's side: OAuth connect, deauthorize and data-deletion callbacks, jobs. */
@Module({})
export class InstagramConnectModule {}
