import { Controller, Get, Inject, ServiceUnavailableException } from '@nestjs/common';
import {
  ApiOkResponse,
  ApiOperation,
  ApiServiceUnavailableResponse,
  ApiTags,
} from '@nestjs/swagger';
import { PG } from '../../infrastructure/database/database.module';
import type { Db } from '../../infrastructure/database/database';

@ApiTags('Health')
@Controller('health')
export class HealthController {
  constructor(@Inject(PG) private readonly db: Db) {}

  @Get('live')
  @ApiOperation({ summary: 'The process is up and serving HTTP' })
  @ApiOkResponse({ schema: { example: { status: 'ok' } } })
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  @Get('ready')
  @ApiOperation({ summary: 'The service can take traffic: its database answers' })
  @ApiOkResponse({ schema: { example: { status: 'ok', database: 'up' } } })
  @ApiServiceUnavailableResponse({ description: 'The database does not answer within 2 s' })
  async ready(): Promise<{ status: 'ok'; database: 'up' }> {
    try {
      await this.db.task((t) =>
        t.one({ name: 'health-ready', text: 'SELECT 1 AS ok', rowMode: undefined }),
      );
      return { status: 'ok', database: 'up' };
    } catch {
      throw new ServiceUnavailableException('The database is not reachable');
    }
  }
}
