import { createSecretKey } from 'node:crypto';
import { Global, Module } from '@nestjs/common';
import { JwtModule } from '@nestjs/jwt';
import { REVOKED_SESSIONS } from '../../common/guards/revoked-sessions';
import { SessionGuard } from '../../common/guards/session.guard';
import { APP_CONFIG } from '../../config/config.module';
import type { AppConfig } from '../../config/config';
import { SESSION_REPOSITORY } from '../../domain/repositories/session.repository.interface';
import { USER_REPOSITORY } from '../../domain/repositories/user.repository.interface';
import { PostgresSessionRepository } from '../../infrastructure/database/repositories/postgres-session.repository';
import { PostgresUserRepository } from '../../infrastructure/database/repositories/postgres-user.repository';
import { AuthRateLimiter } from './auth-rate-limiter';
import { AuthController } from './auth.controller';
import { AuthService } from './auth.service';
import { PasswordHasher } from './password-hasher';
import { SessionRevocations } from './session-revocations';

/** Global so that any feature module can put `@UseGuards(SessionGuard)` on its routes. */
@Global()
@Module({
  imports: [
    JwtModule.registerAsync({
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) => ({
        // A KeyObject, not the string: given a string, jsonwebtoken first tries to parse it as a
        // public key on every verify, and that failed parse was 29% of the CPU of an API request.
        secret: createSecretKey(Buffer.from(config.auth.jwtSecret, 'utf8')),
        signOptions: { algorithm: 'HS256' },
        verifyOptions: { algorithms: ['HS256'] },
      }),
    }),
  ],
  controllers: [AuthController],
  providers: [
    AuthService,
    PasswordHasher,
    AuthRateLimiter,
    SessionGuard,
    SessionRevocations,
    { provide: REVOKED_SESSIONS, useExisting: SessionRevocations },
    { provide: USER_REPOSITORY, useClass: PostgresUserRepository },
    { provide: SESSION_REPOSITORY, useClass: PostgresSessionRepository },
  ],
  exports: [SessionGuard, JwtModule, SESSION_REPOSITORY, USER_REPOSITORY, REVOKED_SESSIONS],
})
export class AuthModule {}
