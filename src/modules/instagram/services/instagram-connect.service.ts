import { createHash, randomBytes } from 'node:crypto';
import { ConflictException, Inject, Injectable } from '@nestjs/common';
import type { Logger } from 'pino';
import { loggableError } from '../../../common/logging/loggable-error';
import { ROOT_LOGGER } from '../../../common/logging/logging.module';
import { APP_CONFIG } from '../../../config/config.module';
import type { AppConfig } from '../../../config/config';
import { mapInstagramAccountType } from '../../../domain/entities/client-account.entity';
import {
  CLIENT_ACCOUNT_REPOSITORY,
  type IClientAccountRepository,
} from '../../../domain/repositories/client-account.repository.interface';
import {
  type IOAuthStateRepository,
  OAUTH_STATE_REPOSITORY,
} from '../../../domain/repositories/oauth-state.repository.interface';
import {
  BASE_SCOPE,
  InstagramApiError,
  InstagramClient,
  type InstagramProfile,
} from '../../../infrastructure/instagram';
import { INSTAGRAM_CLIENT } from '../../../infrastructure/instagram/instagram-client.module';
import type { OAuthCallbackQuery } from '../dto/oauth.dto';
import { loadAccount } from './account-access';
import { connectFailureOf } from './account-failure';
import { AccountService } from './account.service';

/** Meta's dialog gives the person time to log in; ten minutes is plenty and limits replays. */
export const OAUTH_STATE_TTL_SECONDS = 600;
/** A few tabs may start a connect at once; more than this is somebody clicking in a loop. */
export const MAX_OAUTH_STATES_PER_USER = 10;
/**
 * The HttpOnly cookie that binds a state to the browser that asked for it (login-CSRF /
 * consent-phishing defence): an authorize URL sent to somebody else fails at the callback,
 * because their browser does not carry this value.
 */
export const OAUTH_BINDING_COOKIE = 'ssell_oauth';
/** Both the state and the binding are 32 random bytes, base64url. */
const TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/;

function isWellFormedBinding(value: unknown): value is string {
  return typeof value === 'string' && TOKEN_SHAPE.test(value);
}

/**
 * Why a connect failed, as the accounts page shows it (`/?error=<reason>&error_description=…`).
 * The text is always ours: nothing Meta or the query string says is reflected to the page.
 */
export const CONNECT_FAILURES = {
  access_denied: 'You did not allow ssell to access the Instagram account.',
  authorization_failed: 'Instagram did not authorize the connection. Please try again.',
  invalid_request: 'Instagram sent back an incomplete answer. Please try again.',
  code_rejected: 'The Instagram authorization expired or was already used. Please connect again.',
  rate_limited: 'Instagram is limiting requests right now. Please try again in a few minutes.',
  instagram_unavailable: 'Instagram did not answer in time. Please try again.',
  permission_denied: 'The Instagram account did not grant the permissions ssell needs.',
  instagram_error: 'Instagram answered with an error. Please try again.',
  account_in_use: 'This Instagram account is already connected to another ssell user.',
  account_removed:
    'The account you were reconnecting was removed in the meantime. Nothing was changed: connect it again if you still want it.',
  server_error: 'Something went wrong on our side while connecting. Please try again.',
} as const;
export type ConnectFailure = keyof typeof CONNECT_FAILURES;

/** Used, never issued, malformed or missing: nobody can tell which, so one sentence for all. */
export const INVALID_STATE_MESSAGE =
  'This connect was already used or is not valid (for example after going back to Instagram and pressing Allow again). Nothing was changed: check your accounts, or press Connect to start again.';
export const EXPIRED_STATE_MESSAGE = `This connect expired: it has to be finished within ${OAUTH_STATE_TTL_SECONDS / 60} minutes. Nothing was changed: press Connect (or Reconnect) to start again.`;

/**
 * No binding cookie at all: the connect started at another address than PUBLIC_URL (127.0.0.1
 * against localhost, say: the cookie belongs to the other host) or in another browser.
 */
export function missingBindingMessage(publicUrl: string): string {
  return `This browser cannot finish this connect: it was started in another browser, or at another address than ${publicUrl} (for example 127.0.0.1 instead of localhost). Nothing was changed: open ${publicUrl}, sign in and connect from there.`;
}

/** A reconnect of one account that Instagram answered with another. */
export function wrongAccountMessage(expected: string, approved: string): string {
  return `This reconnect was for @${expected}, but Instagram approved @${approved}. Nothing was changed: log in to Instagram as @${expected} (or choose it on Instagram's page), then press Reconnect again.`;
}

/** What `oauth_states` stores: the state alone is useless without the browser's binding. */
function hashState(state: string, binding: string): Buffer {
  return createHash('sha256').update(`${state}.${binding}`).digest();
}

const randomToken = (): string => randomBytes(32).toString('base64url');

/**
 * IG-001, the connect: a single-use state bound to the user who starts it, to their browser
 * (the `ssell_oauth` cookie) and, for a reconnect, to the account, then code → short-lived token
 * → long-lived token → profile → one transaction that creates (or re-activates) the account,
 * stores the token and queues its first sync. Nothing is written before that transaction, so a
 * failure anywhere earlier (a reconnect answered with another account included) leaves no rows.
 */
@Injectable()
export class InstagramConnectService {
  private readonly logger: Logger;

  constructor(
    @Inject(OAUTH_STATE_REPOSITORY) private readonly states: IOAuthStateRepository,
    @Inject(CLIENT_ACCOUNT_REPOSITORY) private readonly clientAccounts: IClientAccountRepository,
    @Inject(INSTAGRAM_CLIENT) private readonly client: InstagramClient,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(ROOT_LOGGER) logger: Logger,
    private readonly accounts: AccountService,
  ) {
    this.logger = logger.child({ component: 'instagram-connect' });
  }

  /**
   * Instagram's consent page for a new state of `userId`, bound to the browser's `binding` (the
   * `ssell_oauth` cookie it sent). A missing or malformed binding is replaced by a fresh one; a
   * well-formed one is kept, so several tabs of one browser can connect at once. The caller sets
   * the returned binding as the cookie. With `accountId` it is a reconnect of that account (the
   * user's own: 404 unknown, 403 another user's): the state remembers it, and Instagram is asked
   * to let the person choose the account again.
   */
  async startAuthorization(
    userId: string,
    currentBinding: string | undefined,
    accountId?: string,
  ): Promise<{ url: string; binding: string }> {
    // The user's own account, or 404 (none) / 403 (another user's), as every account route.
    if (accountId !== undefined) await loadAccount(this.clientAccounts, accountId, userId);
    // Expired states are useless; removing them here keeps the table small without a job.
    await this.states.purgeExpired();
    const binding = isWellFormedBinding(currentBinding) ? currentBinding : randomToken();
    const state = randomToken();
    await this.states.create({
      stateHash: hashState(state, binding),
      userId,
      accountId: accountId ?? null,
      ttlSeconds: OAUTH_STATE_TTL_SECONDS,
      maxPerUser: MAX_OAUTH_STATES_PER_USER,
    });
    const url = this.client.buildAuthorizeUrl({ state, forceReauth: accountId !== undefined });
    return { url, binding };
  }

  info(): { demo: boolean; scopes: string[] } {
    return {
      demo: this.config.instagram.demo,
      scopes: [...new Set([BASE_SCOPE, ...this.config.instagram.extraScopes])],
    };
  }

  /**
   * Instagram's redirect back, with the `ssell_oauth` cookie the browser sent (`binding`); always
   * the page to send the browser to. A missing, unknown, used or expired state, or one started in
   * another browser (no binding, or another one), consumes nothing and lands on the page with
   * `error=invalid_state` and what to do: a person's browser is mid-flow here.
   */
  async completeAuthorization(
    query: OAuthCallbackQuery,
    binding: string | undefined,
  ): Promise<string> {
    const accepted = await this.consumeState(query.state, binding);
    if (typeof accepted === 'string') return accepted;
    const { userId, accountId } = accepted;
    if (query.error !== undefined) {
      this.logger.info({ userId, error: query.error.slice(0, 64) }, 'Instagram consent not given');
      return this.failed(
        query.error === 'access_denied' ? 'access_denied' : 'authorization_failed',
      );
    }
    // Meta appends `#_` to the redirect; browsers drop fragments, but a pasted URL may keep it.
    const code = query.code?.replace(/#_$/, '');
    if (!code) return this.failed('invalid_request');

    try {
      const short = await this.client.exchangeCode(code);
      const long = await this.client.exchangeForLongLivedToken(short.accessToken);
      const profile = await this.client.getProfile(long.accessToken);
      if (accountId !== null) {
        const refusal = await this.refuseOtherAccount(userId, accountId, profile);
        if (refusal) return refusal;
      }
      const { account } = await this.accounts.createAccount(
        userId,
        {
          platformAccountId: profile.userId,
          username: profile.username,
          displayName: profile.name,
          profilePictureUrl: profile.profilePictureUrl,
          accountType: mapInstagramAccountType(profile.accountType),
          permissions: short.permissions,
          tokenExpiresAt: long.expiresAt,
        },
        {
          token: {
            accessToken: long.accessToken,
            tokenType: 'long_lived',
            issuedAt: long.issuedAt,
            expiresAt: long.expiresAt,
            scopes: short.permissions,
          },
          metadata: { igId: profile.id, igBusinessAccountId: profile.userId },
          profile: {
            followerCount: profile.followersCount,
            followingCount: profile.followsCount,
            mediaCount: profile.mediaCount,
            biography: profile.biography,
            website: profile.website,
          },
        },
      );
      return this.landing({ connected: account.id });
    } catch (error) {
      if (error instanceof InstagramApiError) {
        // toLog() carries no token or code: the client scrubs its messages.
        this.logger.warn({ userId, error: error.toLog() }, 'Instagram connect failed');
        return this.failed(connectFailureOf(error));
      }
      if (error instanceof ConflictException) {
        this.logger.info({ userId }, 'Instagram account already connected by another user');
        return this.failed('account_in_use');
      }
      // The person is mid-flow in a browser: send them back to the page, not to a JSON error.
      this.logger.error(
        { userId, err: loggableError(error) },
        'Instagram connect failed unexpectedly',
      );
      return this.failed('server_error');
    }
  }

  /**
   * A reconnect is for one account: Instagram answering with another (the person was logged in
   * as someone else, or chose another) must not attach that one and leave this one broken. The
   * landing page that says so, or `null` when the profile is the bound account's.
   */
  private async refuseOtherAccount(
    userId: string,
    accountId: string,
    profile: InstagramProfile,
  ): Promise<string | null> {
    const bound = await this.clientAccounts.findById(accountId);
    if (!bound || bound.userId !== userId) {
      this.logger.info({ userId, accountId }, 'Reconnected account was removed meanwhile');
      return this.failed('account_removed');
    }
    if (bound.platformAccountId === profile.userId) return null;
    this.logger.info({ userId, accountId }, 'Reconnect approved another Instagram account');
    return this.landing({
      error: 'wrong_account',
      error_description: wrongAccountMessage(bound.username, profile.username),
    });
  }

  /** The state's user and account, or the page that says why the state is refused. */
  private async consumeState(
    state: string | undefined,
    binding: string | undefined,
  ): Promise<{ userId: string; accountId: string | null } | string> {
    if (binding === undefined)
      return this.invalidState(missingBindingMessage(this.config.publicUrl));
    // Only the hash of both is looked up: a state presented without its browser's binding matches
    // no row, so it stays usable by the browser that started it.
    if (state === undefined || !TOKEN_SHAPE.test(state) || !isWellFormedBinding(binding)) {
      return this.invalidState(INVALID_STATE_MESSAGE);
    }
    const found = await this.states.consume(hashState(state, binding));
    switch (found.outcome) {
      case 'consumed':
        return { userId: found.userId, accountId: found.accountId };
      case 'expired':
        return this.invalidState(EXPIRED_STATE_MESSAGE);
      case 'unknown':
        return this.invalidState(INVALID_STATE_MESSAGE);
    }
  }

  private invalidState(description: string): string {
    return this.landing({ error: 'invalid_state', error_description: description });
  }

  private failed(reason: ConnectFailure): string {
    return this.landing({ error: reason, error_description: CONNECT_FAILURES[reason] });
  }

  private landing(params: Record<string, string>): string {
    return `${this.config.publicUrl}/?${new URLSearchParams(params).toString()}`;
  }
}
