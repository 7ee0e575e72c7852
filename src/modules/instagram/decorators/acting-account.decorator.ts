import {
  BadRequestException,
  createParamDecorator,
  type ExecutionContext,
  Injectable,
  type PipeTransform,
} from '@nestjs/common';
import { ApiHeader } from '@nestjs/swagger';
import type { AuthenticatedRequest } from '../../../common/decorators/session.decorator';
import type { ClientAccount } from '../../../domain/entities/client-account.entity';
import { CurrentAccountService } from '../services/current-account.service';
import { UUID_PATTERN as UUID } from '../../../common/uuid';

/** Names the account a request acts on, instead of the person's current account. */
export const ACTING_ACCOUNT_HEADER = 'X-Instagram-Account-Id';

export const ACTING_ACCOUNT_HEADER_MESSAGE = `${ACTING_ACCOUNT_HEADER} must be one account id (a UUID)`;

interface ActingAccountRequest {
  userId: string;
  /** The header as received: absent, one value, or (repeated) several. */
  header: string | string[] | undefined;
}

const ActingAccountRequestParam = createParamDecorator(
  (_data: unknown, ctx: ExecutionContext): ActingAccountRequest => {
    const request = ctx.switchToHttp().getRequest<AuthenticatedRequest>();
    if (!request.auth) throw new Error('@ActingAccount() used on a route without SessionGuard');
    return {
      userId: request.auth.userId,
      header: request.headers[ACTING_ACCOUNT_HEADER.toLowerCase()],
    };
  },
);

/**
 * Turns the request into the account it acts on: the header's account (owner-checked: 400
 * malformed, 404 unknown, 403 another user's), else the person's current account (404 when
 * they have none).
 */
@Injectable()
export class ActingAccountPipe implements PipeTransform<
  ActingAccountRequest,
  Promise<ClientAccount>
> {
  constructor(private readonly current: CurrentAccountService) {}

  async transform({ userId, header }: ActingAccountRequest): Promise<ClientAccount> {
    if (header === undefined) return this.current.getCurrent(userId);
    const id = Array.isArray(header) ? undefined : header.trim();
    if (!id || !UUID.test(id)) throw new BadRequestException(ACTING_ACCOUNT_HEADER_MESSAGE);
    return this.current.getOwned(id.toLowerCase(), userId);
  }
}

/**
 * The one way a route takes the Instagram account it acts on (messaging, scheduling and
 * analytics, IG-004/006/007, will use it):
 *
 *   @Get() list(@ActingAccount() account: ClientAccount) { ... }
 *
 * The route must sit behind SessionGuard, in a module that imports InstagramAccountsModule.
 * Documents the optional header in Swagger.
 */
export function ActingAccount(): ParameterDecorator {
  return (target, key, index) => {
    ActingAccountRequestParam(undefined, ActingAccountPipe)(target, key, index);
    const descriptor = key === undefined ? undefined : Object.getOwnPropertyDescriptor(target, key);
    if (key === undefined || !descriptor) return;
    ApiHeader({
      name: ACTING_ACCOUNT_HEADER,
      required: false,
      description:
        "The account to act on (one of the caller's). Without it, the caller's current account (GET /instagram/accounts/current). Malformed 400, unknown 404, another user's 403.",
      schema: { type: 'string', format: 'uuid' },
    })(target, key, descriptor);
  };
}
