import { createHash, randomBytes } from 'node:crypto';
import {
  ConflictException,
  ForbiddenException,
  Inject,
  Injectable,
  NotFoundException,
} from '@nestjs/common';
import type { Logger } from 'pino';
import { ROOT_LOGGER } from '../../../common/logging/logging.module';
import { APP_CONFIG } from '../../../config/config.module';
import type { AppConfig } from '../../../config/config';
import type { ConnectLink, ConnectLinkView } from '../../../domain/entities/connect-link.entity';
import {
  CLIENT_ACCOUNT_REPOSITORY,
  type IClientAccountRepository,
} from '../../../domain/repositories/client-account.repository.interface';
import {
  CONNECT_LINK_REPOSITORY,
  type IConnectLinkRepository,
} from '../../../domain/repositories/connect-link.repository.interface';
import { CONNECT_LINK_DEFAULT_HOURS } from '../dto/connect-link.dto';
import type { ClosedLink } from '../views/connect-pages';
import { InstagramConnectService } from './instagram-connect.service';

/** Open (unused, unexpired, unrevoked) links a user may hold at once: a bound on rows. */
export const MAX_OPEN_CONNECT_LINKS = 50;
export const CONNECT_PAGE_PATH = '/connect';
/** 32 random bytes, base64url: 256 bits nobody guesses, in a URL that survives any mail client. */
const LINK_TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/;

/** What the table stores of a link's token: the token alone opens the link, its hash nothing. */
export function hashConnectLinkToken(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

export type OpenedLink =
  { kind: 'open'; view: ConnectLinkView } | { kind: 'closed'; closed: ClosedLink };

/**
 * Connect links: an owner makes one (optionally for reconnecting one account), sends its URL to
 * a client, and the client's consent on its public page connects the account into the owner's
 * user. The token lives only in the URL handed out at creation.
 */
@Injectable()
export class ConnectLinkService {
  private readonly logger: Logger;

  constructor(
    @Inject(CONNECT_LINK_REPOSITORY) private readonly links: IConnectLinkRepository,
    @Inject(CLIENT_ACCOUNT_REPOSITORY) private readonly accounts: IClientAccountRepository,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(ROOT_LOGGER) logger: Logger,
    private readonly connect: InstagramConnectService,
  ) {
    this.logger = logger.child({ component: 'connect-links' });
  }

  /** A connect link, or with `accountId` a reconnect link of that account (checked by the caller). */
  async create(
    userId: string,
    input: { label?: string | undefined; expiresInHours?: number | undefined },
    accountId: string | null = null,
  ): Promise<{ link: ConnectLink; url: string }> {
    const token = randomBytes(32).toString('base64url');
    const link = await this.links.create({
      userId,
      tokenHash: hashConnectLinkToken(token),
      label: input.label ?? null,
      accountId,
      expiresInHours: input.expiresInHours ?? CONNECT_LINK_DEFAULT_HOURS,
      maxOpen: MAX_OPEN_CONNECT_LINKS,
    });
    if (!link) {
      throw new ConflictException(
        `You already have ${MAX_OPEN_CONNECT_LINKS} open connect links: revoke some (DELETE /instagram/connect-links/:id) or wait until they expire.`,
      );
    }
    this.logger.info({ userId, linkId: link.id, accountId }, 'Connect link created');
    return { link, url: `${this.config.publicUrl}${CONNECT_PAGE_PATH}/${token}` };
  }

  /** A link that may only reconnect `accountId`, the caller's own (404 none, 403 another's). */
  async createReconnect(
    userId: string,
    accountId: string,
    input: { label?: string | undefined; expiresInHours?: number | undefined },
  ): Promise<{ link: ConnectLink; url: string }> {
    const account = await this.accounts.findById(accountId);
    if (!account) throw new NotFoundException('Account not found');
    if (account.userId !== userId) throw new ForbiddenException('Access denied to this account');
    return this.create(userId, input, accountId);
  }

  list(userId: string): Promise<ConnectLink[]> {
    return this.links.listUnexpired(userId);
  }

  /** Withdraws the caller's link (404 none, 403 another user's); again is a no-op. */
  async revoke(userId: string, id: string): Promise<void> {
    const link = await this.links.findById(id);
    if (!link) throw new NotFoundException('Connect link not found');
    if (link.userId !== userId) throw new ForbiddenException('Access denied to this connect link');
    await this.links.revoke(id);
    this.logger.info({ userId, linkId: id }, 'Connect link revoked');
  }

  /** What the public page of `token` shows. Malformed and unknown tokens look the same. */
  async open(token: string): Promise<OpenedLink> {
    if (!LINK_TOKEN_SHAPE.test(token)) return { kind: 'closed', closed: 'unknown' };
    const view = await this.links.findViewByTokenHash(hashConnectLinkToken(token));
    if (!view) return { kind: 'closed', closed: 'unknown' };
    if (view.state !== 'open') return { kind: 'closed', closed: view.state };
    return { kind: 'open', view };
  }

  /**
   * The client pressed Continue: Instagram's consent URL for a state bound to this link and this
   * browser (`binding`, the `ssell_oauth` cookie it sent), or why the link cannot be used.
   */
  async startAuthorization(
    token: string,
    binding: string | undefined,
  ): Promise<
    { kind: 'redirect'; url: string; binding: string } | Extract<OpenedLink, { kind: 'closed' }>
  > {
    const opened = await this.open(token);
    if (opened.kind === 'closed') return opened;
    const { link } = opened.view;
    const started = await this.connect.startLinkAuthorization(link, binding);
    this.logger.info({ userId: link.userId, linkId: link.id }, 'Connect link consent started');
    return { kind: 'redirect', ...started };
  }

  /** Where the page's button leads: the same token, one step on. */
  authorizePath(token: string): string {
    return `${CONNECT_PAGE_PATH}/${token}/authorize`;
  }
}
