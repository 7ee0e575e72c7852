import {
  Body,
  Controller,
  Get,
  HttpCode,
  HttpStatus,
  Inject,
  Post,
  Req,
  Res,
  UseGuards,
} from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiBody,
  ApiCookieAuth,
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiErrorResponse, ApiUnauthorizedError } from '../../common/swagger/api-error-response';
import { GetAuth, GetUserId, type AuthContext } from '../../common/decorators/session.decorator';
import { SessionGuard } from '../../common/guards/session.guard';
import { APP_CONFIG } from '../../config/config.module';
import type { AppConfig } from '../../config/config';
import type { User } from '../../domain/entities/user.entity';
import { AuthService, type AuthResult, type ClientInfo } from './auth.service';
import {
  AuthResponseDto,
  LoginDto,
  MeResponseDto,
  RegisterDto,
  UserResponseDto,
} from './dto/auth.dto';
import { SESSION_COOKIE } from '../../common/auth/session-token';

function toUserResponse(user: User): UserResponseDto {
  return { id: user.id, email: user.email, name: user.name, createdAt: user.createdAt };
}

/** Login and register attempts are counted per IP and per email. */
const ApiTooManyAttempts = () =>
  ApiErrorResponse(429, {
    description: 'Too many attempts from this IP or for this email; Retry-After says for how long',
    examples: { 'too many attempts': 'Too many attempts; try again later' },
    retryAfter: true,
  });

@ApiTags('Auth')
@Controller('auth')
export class AuthController {
  constructor(
    private readonly auth: AuthService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Post('register')
  @ApiOperation({ summary: 'Create an account; signs in (JWT in the body, session cookie set)' })
  @ApiBody({ type: RegisterDto })
  @ApiCreatedResponse({ type: AuthResponseDto })
  @ApiErrorResponse(400, {
    description: 'Missing, extra or invalid fields; malformed JSON',
    examples: {
      'bad email': 'email must be a valid email address',
      'unknown field': 'property role should not exist',
      'malformed JSON': 'Malformed JSON in request body',
    },
  })
  @ApiErrorResponse(409, {
    description: 'The email is already registered',
    examples: { 'email taken': 'An account with this email already exists' },
  })
  @ApiTooManyAttempts()
  async register(
    @Body() body: RegisterDto,
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<AuthResponseDto> {
    return this.respond(await this.auth.register(body, this.client(request)), reply);
  }

  @Post('login')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({ summary: 'Sign in with email and password' })
  @ApiBody({ type: LoginDto })
  @ApiOkResponse({ type: AuthResponseDto })
  @ApiErrorResponse(400, {
    description: 'Missing, extra or invalid fields',
    examples: { 'bad email': 'email must be a valid email address' },
  })
  @ApiErrorResponse(401, {
    description: 'Invalid email or password (the same for both)',
    examples: { 'wrong email or password': 'Invalid email or password' },
  })
  @ApiTooManyAttempts()
  async login(
    @Body() body: LoginDto,
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<AuthResponseDto> {
    return this.respond(await this.auth.login(body, this.client(request)), reply);
  }

  @Post('logout')
  @UseGuards(SessionGuard)
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiBearerAuth()
  @ApiCookieAuth(SESSION_COOKIE)
  @ApiOperation({
    summary: 'Revoke the session (cookie, or the one the JWT was issued with) and clear the cookie',
  })
  @ApiNoContentResponse()
  @ApiUnauthorizedError()
  async logout(
    @GetAuth() auth: AuthContext,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<void> {
    await this.auth.logout(auth.sessionId);
    void reply.clearCookie(SESSION_COOKIE, { path: '/' });
  }

  @Get('me')
  @UseGuards(SessionGuard)
  @ApiBearerAuth()
  @ApiCookieAuth(SESSION_COOKIE)
  @ApiOperation({ summary: 'The signed-in user' })
  @ApiOkResponse({ type: MeResponseDto })
  @ApiUnauthorizedError()
  async me(@GetUserId() userId: string): Promise<MeResponseDto> {
    return { user: toUserResponse(await this.auth.me(userId)) };
  }

  private client(request: FastifyRequest): ClientInfo {
    const agent = request.headers['user-agent'];
    return { ip: request.ip, userAgent: typeof agent === 'string' ? agent : null };
  }

  private respond(result: AuthResult, reply: FastifyReply): AuthResponseDto {
    void reply.setCookie(SESSION_COOKIE, result.sessionToken, {
      httpOnly: true,
      sameSite: 'lax',
      secure: this.config.isProduction,
      path: '/',
      expires: result.sessionExpiresAt,
    });
    return {
      user: toUserResponse(result.user),
      accessToken: result.accessToken,
      expiresIn: result.expiresIn,
    };
  }
}
