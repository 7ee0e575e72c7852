import {
  type CanActivate,
  type ExecutionContext,
  Inject,
  Injectable,
  UnauthorizedException,
} from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import {
  type ISessionRepository,
  SESSION_REPOSITORY,
} from '../../domain/repositories/session.repository.interface';
import { SESSION_COOKIE, hashSessionToken, isWellFormedSessionToken } from '../auth/session-token';
import type { AuthenticatedRequest } from '../decorators/session.decorator';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Accepts `Authorization: Bearer <JWT>` (HS256 only, verified without a database read) or the
 * `ssell_session` cookie (looked up by hash; revoked or expired sessions fail). A Bearer header
 * that is present but bad is a 401 even if a cookie is also sent: a client never silently falls
 * back to another identity.
 */
@Injectable()
export class SessionGuard implements CanActivate {
  constructor(
    private readonly jwt: JwtService,
    @Inject(SESSION_REPOSITORY) private readonly sessions: ISessionRepository,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    const header = request.headers.authorization;
    if (header !== undefined) {
      const match = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*)$/.exec(header.trim());
      if (!match) throw new UnauthorizedException('Malformed Authorization header');
      request.auth = await this.verifyJwt(match[1]!);
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

  private async verifyJwt(token: string): Promise<AuthenticatedRequest['auth']> {
    let claims: { sub?: unknown; sid?: unknown };
    try {
      // Pinning the algorithm rejects `alg: none`, RS/ES tokens and HS384/512 alike.
      claims = await this.jwt.verifyAsync<{ sub?: unknown; sid?: unknown }>(token, {
        algorithms: ['HS256'],
      });
    } catch {
      throw new UnauthorizedException('Invalid or expired access token');
    }
    if (typeof claims.sub !== 'string' || !UUID.test(claims.sub)) {
      throw new UnauthorizedException('Invalid or expired access token');
    }
    return {
      userId: claims.sub,
      sessionId: typeof claims.sid === 'string' && UUID.test(claims.sid) ? claims.sid : undefined,
      via: 'bearer',
    };
  }
}
