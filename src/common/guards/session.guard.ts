import {
  type CanActivate,
  type ExecutionContext,
  Inject,
  Injectable,
  UnauthorizedException,
} from '@nestjs/common';
import {
  type ISessionRepository,
  SESSION_REPOSITORY,
} from '../../domain/repositories/session.repository.interface';
import { MAX_JWT_TTL_SECONDS } from '../../config/env.schema';
import type { AppConfig } from '../../config/config';
import { APP_CONFIG } from '../../config/config.module';
import { verifyHs256 } from '../auth/hs256';
import { SESSION_COOKIE, hashSessionToken, isWellFormedSessionToken } from '../auth/session-token';
import type { AuthenticatedRequest } from '../decorators/session.decorator';
import { REVOKED_SESSIONS, type RevokedSessions } from './revoked-sessions';
import { UUID_PATTERN as UUID } from '../uuid';

/** Clock difference with the process that signed a token. */
const CLOCK_SKEW_SECONDS = 60;

/**
 * Accepts `Authorization: Bearer <JWT>` (HS256 only, verified without a database read: its session
 * is checked against this process's list of revoked sessions) or the `ssell_session` cookie
 * (looked up by hash; revoked or expired sessions fail). A Bearer header that is present but bad
 * is a 401 even if a cookie is also sent: a client never silently falls back to another identity.
 */
@Injectable()
export class SessionGuard implements CanActivate {
  private readonly jwtKey: Buffer;

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    @Inject(SESSION_REPOSITORY) private readonly sessions: ISessionRepository,
    @Inject(REVOKED_SESSIONS) private readonly revoked: RevokedSessions,
  ) {
    this.jwtKey = Buffer.from(config.auth.jwtSecret, 'utf8');
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    const header = request.headers.authorization;
    if (header !== undefined) {
      const match = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*)$/.exec(header.trim());
      if (!match) throw new UnauthorizedException('Malformed Authorization header');
      request.auth = this.verifyJwt(match[1]!);
      return true;
    }
    const cookie = request.cookies?.[SESSION_COOKIE];
    if (cookie !== undefined) {
      if (!isWellFormedSessionToken(cookie)) throw new UnauthorizedException('Invalid session');
      const session = await this.sessions.findActiveByTokenHash(hashSessionToken(cookie));
      if (!session) throw new UnauthorizedException('Session expired or signed out');
      request.auth = { userId: session.userId, sessionId: session.id, via: 'cookie' };
      return true;
    }
    throw new UnauthorizedException('Authentication required');
  }

  private verifyJwt(token: string): AuthenticatedRequest['auth'] {
    // HS256 only: `alg: none`, RS/ES tokens and HS384/512 are refused alike.
    const claims = verifyHs256(token, this.jwtKey) as {
      sub?: unknown;
      sid?: unknown;
      exp?: unknown;
    } | null;
    if (!claims) throw new UnauthorizedException('Invalid or expired access token');
    // A token without `exp` would never expire, and one minted with a longer life before the
    // cap would outlive it; a token must name its session, or no sign-out could end it.
    const nowSeconds = Date.now() / 1000;
    if (
      typeof claims.sub !== 'string' ||
      !UUID.test(claims.sub) ||
      typeof claims.sid !== 'string' ||
      !UUID.test(claims.sid) ||
      typeof claims.exp !== 'number' ||
      claims.exp > nowSeconds + MAX_JWT_TTL_SECONDS + CLOCK_SKEW_SECONDS
    ) {
      throw new UnauthorizedException('Invalid or expired access token');
    }
    if (this.revoked.isRevoked(claims.sid)) {
      throw new UnauthorizedException('This session was signed out; sign in again');
    }
    return { userId: claims.sub, sessionId: claims.sid, via: 'bearer' };
  }
}
