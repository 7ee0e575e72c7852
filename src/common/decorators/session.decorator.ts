import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';

export interface AuthContext {
  userId: string;
  /** The server-side session behind the cookie or the JWT's `sid`. */
  sessionId: string | undefined;
  via: 'bearer' | 'cookie';
}

export type AuthenticatedRequest = FastifyRequest & { auth?: AuthContext };

/** The authenticated user's id; only on routes behind `SessionGuard`. */
export const GetUserId = createParamDecorator((_data: unknown, ctx: ExecutionContext): string => {
  const request = ctx.switchToHttp().getRequest<AuthenticatedRequest>();
  if (!request.auth) throw new Error('GetUserId used on a route without SessionGuard');
  return request.auth.userId;
});

export const GetAuth = createParamDecorator(
  (_data: unknown, ctx: ExecutionContext): AuthContext => {
    const request = ctx.switchToHttp().getRequest<AuthenticatedRequest>();
    if (!request.auth) throw new Error('GetAuth used on a route without SessionGuard');
    return request.auth;
  },
);
