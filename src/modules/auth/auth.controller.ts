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
  ApiBadRequestResponse,
  ApiBearerAuth,
  ApiBody,
  ApiConflictResponse,
  ApiCookieAuth,
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
  ApiTooManyRequestsResponse,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ErrorResponseDto } from '../../common/dto/error-response.dto';
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
  @ApiBadRequestResponse({
    type: ErrorResponseDto,
    description: 'Missing, extra or invalid fields; malformed JSON',
  })
  @ApiConflictResponse({ type: ErrorResponseDto, description: 'The email is already registered' })
  @ApiTooManyRequestsResponse({
    type: ErrorResponseDto,
    description: 'Too many attempts from this IP or for this email',
  })
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
  @ApiBadRequestResponse({
    type: ErrorResponseDto,
    description: 'Missing, extra or invalid fields',
  })
  @ApiUnauthorizedResponse({
    type: ErrorResponseDto,
    description: 'Invalid email or password (the same for both)',
  })
  @ApiTooManyRequestsResponse({
    type: ErrorResponseDto,
    description: 'Too many attempts from this IP or for this email',
  })
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
  @ApiUnauthorizedResponse({ type: ErrorResponseDto, description: 'No valid session' })
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
  @ApiUnauthorizedResponse({ type: ErrorResponseDto, description: 'No valid session' })
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
