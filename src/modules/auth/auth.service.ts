import { ConflictException, Inject, Injectable, UnauthorizedException } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import { APP_CONFIG } from '../../config/config.module';
import type { AppConfig } from '../../config/config';
import type { User } from '../../domain/entities/user.entity';
import {
  type ISessionRepository,
  SESSION_REPOSITORY,
} from '../../domain/repositories/session.repository.interface';
import {
  type IUserRepository,
  USER_REPOSITORY,
} from '../../domain/repositories/user.repository.interface';
import { AuthRateLimiter } from './auth-rate-limiter';
import { PasswordHasher } from './password-hasher';
import { SessionRevocations } from './session-revocations';
import { hashSessionToken, newSessionToken } from '../../common/auth/session-token';

export interface ClientInfo {
  ip: string;
  userAgent: string | null;
}

export interface AuthResult {
  user: User;
  accessToken: string;
  expiresIn: number;
  sessionToken: string;
  sessionExpiresAt: Date;
}

export interface AccessTokenClaims {
  sub: string;
  sid: string;
}

@Injectable()
export class AuthService {
  constructor(
    @Inject(USER_REPOSITORY) private readonly users: IUserRepository,
    @Inject(SESSION_REPOSITORY) private readonly sessions: ISessionRepository,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly hasher: PasswordHasher,
    private readonly jwt: JwtService,
    private readonly limiter: AuthRateLimiter,
    private readonly revocations: SessionRevocations,
  ) {}

  async register(
    input: { email: string; password: string; name?: string | undefined },
    client: ClientInfo,
  ): Promise<AuthResult> {
    await this.limiter.consume(client.ip, input.email);
    const passwordHash = await this.hasher.hash(input.password);
    const user = await this.users.create({
      email: input.email,
      name: input.name ?? null,
      passwordHash,
    });
    if (!user) throw new ConflictException('An account with this email already exists');
    return this.startSession(user, client);
  }

  async login(input: { email: string; password: string }, client: ClientInfo): Promise<AuthResult> {
    await this.limiter.consume(client.ip, input.email);
    const found = await this.users.findByEmailWithPassword(input.email);
    if (!found) {
      // Same work and the same answer as a wrong password: the reply does not reveal which
      // emails have accounts.
      await this.hasher.burn(input.password);
      throw new UnauthorizedException('Invalid email or password');
    }
    if (!(await this.hasher.verify(input.password, found.passwordHash))) {
      throw new UnauthorizedException('Invalid email or password');
    }
    if (this.hasher.needsRehash(found.passwordHash)) {
      await this.users.updatePasswordHash(found.id, await this.hasher.hash(input.password));
    }
    await this.limiter.reset(input.email);
    const { passwordHash: _omit, ...user } = found;
    return this.startSession(user, client);
  }

  async logout(sessionId: string | undefined): Promise<void> {
    if (!sessionId) return;
    await this.sessions.revoke(sessionId);
    // This process refuses the session's JWTs at once; the others hear of it by NOTIFY.
    this.revocations.add(sessionId, Date.now());
  }

  async me(userId: string): Promise<User> {
    const user = await this.users.findById(userId);
    if (!user) throw new UnauthorizedException('The account no longer exists');
    return user;
  }

  private async startSession(user: User, client: ClientInfo): Promise<AuthResult> {
    const sessionToken = newSessionToken();
    const sessionExpiresAt = new Date(Date.now() + this.config.auth.sessionTtlDays * 86_400_000);
    const session = await this.sessions.create({
      userId: user.id,
      tokenHash: hashSessionToken(sessionToken),
      expiresAt: sessionExpiresAt,
      userAgent: client.userAgent,
      ip: client.ip,
    });
    const claims: AccessTokenClaims = { sub: user.id, sid: session.id };
    const accessToken = await this.jwt.signAsync(claims, {
      algorithm: 'HS256',
      expiresIn: this.config.auth.jwtTtlSeconds,
    });
    return {
      user,
      accessToken,
      expiresIn: this.config.auth.jwtTtlSeconds,
      sessionToken,
      sessionExpiresAt,
    };
  }
}
