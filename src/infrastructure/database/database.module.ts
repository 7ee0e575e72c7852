import {
  Global,
  Inject,
  Module,
  type DynamicModule,
  type OnApplicationShutdown,
} from '@nestjs/common';
import type { DatabaseHandle } from './database';

/** Injection token of the pg-promise database object (`@Inject(PG) db: Db`). */
export const PG = Symbol('PG');
/** The connection string, for libraries that open their own pool (the job queue). */
export const DATABASE_URL = Symbol('DATABASE_URL');
/** The pool's `application_name`, for connections opened beside it (a LISTEN connection). */
export const DATABASE_NAME = Symbol('DATABASE_NAME');
/** Whether PostgreSQL answers (`DatabaseHealth`): readiness reports it. */
export const DATABASE_HEALTH = Symbol('DATABASE_HEALTH');
const HANDLE = Symbol('DATABASE_HANDLE');

@Global()
@Module({})
export class DatabaseModule implements OnApplicationShutdown {
  constructor(@Inject(HANDLE) private readonly handle: DatabaseHandle) {}

  static forRoot(handle: DatabaseHandle): DynamicModule {
    return {
      module: DatabaseModule,
      providers: [
        { provide: HANDLE, useValue: handle },
        { provide: PG, useValue: handle.db },
        { provide: DATABASE_URL, useValue: handle.url },
        { provide: DATABASE_HEALTH, useValue: handle.health },
        { provide: DATABASE_NAME, useValue: handle.name },
      ],
      exports: [PG, DATABASE_URL, DATABASE_HEALTH, DATABASE_NAME],
    };
  }

  /** Runs after the HTTP server stopped taking and finished its requests. */
  async onApplicationShutdown(): Promise<void> {
    await this.handle.close();
  }
}
