import { createHash, randomBytes } from 'node:crypto';
import { ConflictException, Inject, Injectable } from '@nestjs/common';
import type { Logger } from 'pino';
import { loggableError } from '../../../common/logging/loggable-error';
import { ROOT_LOGGER } from '../../../common/logging/logging.module';
import { APP_CONFIG } from '../../../config/config.module';
import type { AppConfig } from '../../../config/config';
import {
  type ClientAccount,
  mapInstagramAccountType,
} from '../../../domain/entities/client-account.entity';
import type { ConnectLink } from '../../../domain/entities/connect-link.entity';
import {
  CLIENT_ACCOUNT_REPOSITORY,
  type IClientAccountRepository,
} from '../../../domain/repositories/client-account.repository.interface';
import {
  CONNECT_LINK_REPOSITORY,
  type IConnectLinkRepository,
} from '../../../domain/repositories/connect-link.repository.interface';
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
import type { Queryable } from '../../../domain/repositories/queryable';
import type { OAuthCallbackQuery } from '../dto/oauth.dto';
import { loadAccount } from './account-access';
import { connectFailureOf } from './account-failure';
import { AccountService, type CreateAccountOptions } from './account.service';
import { CONNECT_FAILURES, type ConnectFailure } from './connect-failures';
import { closedLinkError, connectDoneUrl } from './connect-link-landing';

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
/**
 * A state started from a connect link's public page carries this prefix, so that even a refused
 * one sends the client's browser to the public done page rather than to the owner's accounts page.
 * It routes the answer only: what a state may do is decided by its row.
 */
export const LINK_STATE_PREFIX = 'cl.';
const STATE_SHAPE = /^(?:cl\.)?[A-Za-z0-9_-]{43}$/;
/**
 * How long one callback holds a link while it connects (Instagram's three calls, then one
 * transaction): long enough for slow answers, short enough that a crashed process's hold lapses
 * before the client tries again.
 */
export const LINK_CLAIM_SECONDS = 120;

function isWellFormedBinding(value: unknown): value is string {
  return typeof value === 'string' && TOKEN_SHAPE.test(value);
}

// In a module of their own so that the link landing can name them without an import cycle.
export { CONNECT_FAILURES, type ConnectFailure } from './connect-failures';

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

type StateRefusal = 'missing_binding' | 'invalid' | 'expired';

/** How a code turned out, before it is turned into the page to land on. */
/** The link's connect was rolled back: the link was used or revoked while it ran. */
class LinkClosedMeanwhile extends Error {}

type ConnectResult =
  | { kind: 'connected'; account: ClientAccount }
  | { kind: 'failed'; reason: ConnectFailure }
  | { kind: 'wrong_account'; expected: string; approved: string };

/**
 * IG-001, the connect: a single-use state bound to the user who starts it (or to the connect
 * link a client opened), to their browser (the `ssell_oauth` cookie) and, for a reconnect, to
 * the account, then code → short-lived token → long-lived token → profile → one transaction
 * that creates (or re-activates) the account, stores the token and queues its first sync.
 * Nothing is written before that transaction, so a failure anywhere earlier (a reconnect answered
 * with another account included) leaves no rows.
 */
@Injectable()
export class InstagramConnectService {
  private readonly logger: Logger;

  constructor(
    @Inject(OAUTH_STATE_REPOSITORY) private readonly states: IOAuthStateRepository,
    @Inject(CONNECT_LINK_REPOSITORY) private readonly links: IConnectLinkRepository,
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
    return this.issueState(currentBinding, {
      userId,
      accountId: accountId ?? null,
      connectLinkId: null,
    });
  }

  /**
   * Instagram's consent page for a client who opened `link`'s public page, in the browser that
   * sent `currentBinding` (as for {@link startAuthorization}): the state belongs to the link's
   * owner, and is bound to the link (the callback accepts it only while the link is open, and
   * uses the link up) and to this browser. Binding it to the browser keeps the consent-phishing
   * defence: an owner who forwards the Instagram URL itself, skipping the page that names them,
   * gets a state no other browser can finish. Instagram always lets the client choose the account.
   */
  async startLinkAuthorization(
    link: Pick<ConnectLink, 'id' | 'userId' | 'accountId'>,
    currentBinding: string | undefined,
  ): Promise<{ url: string; binding: string }> {
    return this.issueState(
      currentBinding,
      { userId: link.userId, accountId: link.accountId, connectLinkId: link.id },
      LINK_STATE_PREFIX,
    );
  }

  private async issueState(
    currentBinding: string | undefined,
    owner: { userId: string; accountId: string | null; connectLinkId: string | null },
    prefix = '',
  ): Promise<{ url: string; binding: string }> {
    // Expired states are useless; removing them here keeps the table small without a job.
    await this.states.purgeExpired();
    const binding = isWellFormedBinding(currentBinding) ? currentBinding : randomToken();
    const state = `${prefix}${randomToken()}`;
    await this.states.create({
      stateHash: hashState(state, binding),
      ...owner,
      ttlSeconds: OAUTH_STATE_TTL_SECONDS,
      maxPerUser: MAX_OAUTH_STATES_PER_USER,
    });
    const forceReauth = owner.accountId !== null || owner.connectLinkId !== null;
    const url = this.client.buildAuthorizeUrl({ state, forceReauth });
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
   * `error=invalid_state` and what to do: a person's browser is mid-flow here. A state started
   * from a connect link lands on the public done page instead, and connects only if it can take
   * the link (still open, nobody else connecting through it); the link is used up on success only.
   */
  async completeAuthorization(
    query: OAuthCallbackQuery,
    binding: string | undefined,
  ): Promise<string> {
    const accepted = await this.consumeState(query.state, binding);
    if (typeof accepted === 'string') {
      return query.state?.startsWith(LINK_STATE_PREFIX)
        ? this.linkStateRefused(accepted)
        : this.pageStateRefused(accepted);
    }
    const { userId, accountId, connectLinkId } = accepted;
    const land = (result: ConnectResult) =>
      connectLinkId === null ? this.pageLanding(result) : this.linkLanding(result);
    if (query.error !== undefined) {
      this.logger.info({ userId, error: query.error.slice(0, 64) }, 'Instagram consent not given');
      const reason = query.error === 'access_denied' ? 'access_denied' : 'authorization_failed';
      return land({ kind: 'failed', reason });
    }
    // Meta appends `#_` to the redirect; browsers drop fragments, but a pasted URL may keep it.
    const code = query.code?.replace(/#_$/, '');
    if (!code) return land({ kind: 'failed', reason: 'invalid_request' });
    if (connectLinkId === null) return land(await this.connectWithCode(userId, accountId, code));
    return this.connectThroughLink(connectLinkId, userId, accountId, code);
  }

  /**
   * A link-started connect: the link is held for this callback, so a second browser that started
   * from the same link cannot connect too; used up when the account is in, given back otherwise
   * (a refused or failed attempt leaves the link usable until it expires).
   */
  private async connectThroughLink(
    linkId: string,
    userId: string,
    accountId: string | null,
    code: string,
  ): Promise<string> {
    const claim = await this.links.claim(linkId, LINK_CLAIM_SECONDS);
    if (claim !== 'claimed') {
      this.logger.info({ userId, linkId, claim }, 'Connect link no longer open at the callback');
      return connectDoneUrl(this.config.publicUrl, { error: closedLinkError(claim) });
    }
    let result: ConnectResult = { kind: 'failed', reason: 'server_error' };
    const useLink = async (account: ClientAccount, tx: Queryable) => {
      if (!(await this.links.markUsed(linkId, account.id, tx))) throw new LinkClosedMeanwhile();
    };
    try {
      result = await this.connectWithCode(userId, accountId, code, useLink);
    } catch (error) {
      if (!(error instanceof LinkClosedMeanwhile)) throw error;
      // Revoked by its owner while Instagram answered (or held past LINK_CLAIM_SECONDS and used
      // through another browser): the connect was rolled back with the link's use.
      const link = await this.links.findById(linkId);
      this.logger.info({ userId, linkId }, 'Connect link closed while its connect ran');
      return connectDoneUrl(this.config.publicUrl, {
        error: link?.revokedAt ? 'link_revoked' : 'link_used',
      });
    } finally {
      if (result.kind !== 'connected') {
        await this.links.release(linkId).catch((error: unknown) => {
          // The hold lapses by itself after LINK_CLAIM_SECONDS.
          this.logger.warn({ linkId, err: loggableError(error) }, 'Connect link not released');
        });
      }
    }
    if (result.kind === 'connected') {
      this.logger.info({ userId, linkId, accountId: result.account.id }, 'Connected via link');
    }
    return this.linkLanding(result);
  }

  /**
   * code → short-lived token → long-lived token → profile → the account created or re-activated
   * for `userId`, exactly as the owner's own connect. Never throws for what Instagram or the
   * database answer: the browser is mid-flow, so every outcome becomes a page.
   */
  private async connectWithCode(
    userId: string,
    accountId: string | null,
    code: string,
    withinTransaction?: CreateAccountOptions['withinTransaction'],
  ): Promise<ConnectResult> {
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
          ...(withinTransaction ? { withinTransaction } : {}),
          profile: {
            followerCount: profile.followersCount,
            followingCount: profile.followsCount,
            mediaCount: profile.mediaCount,
            biography: profile.biography,
            website: profile.website,
          },
        },
      );
      return { kind: 'connected', account };
    } catch (error) {
      if (error instanceof InstagramApiError) {
        // toLog() carries no token or code: the client scrubs its messages.
        this.logger.warn({ userId, error: error.toLog() }, 'Instagram connect failed');
        return { kind: 'failed', reason: connectFailureOf(error) };
      }
      if (error instanceof LinkClosedMeanwhile) throw error;
      if (error instanceof ConflictException) {
        this.logger.info({ userId }, 'Instagram account already connected by another user');
        return { kind: 'failed', reason: 'account_in_use' };
      }
      // The person is mid-flow in a browser: send them back to the page, not to a JSON error.
      this.logger.error(
        { userId, err: loggableError(error) },
        'Instagram connect failed unexpectedly',
      );
      return { kind: 'failed', reason: 'server_error' };
    }
  }

  /**
   * A reconnect is for one account: Instagram answering with another (the person was logged in
   * as someone else, or chose another) must not attach that one and leave this one broken. The
   * refusal, or `null` when the profile is the bound account's.
   */
  private async refuseOtherAccount(
    userId: string,
    accountId: string,
    profile: InstagramProfile,
  ): Promise<ConnectResult | null> {
    const bound = await this.clientAccounts.findById(accountId);
    if (!bound || bound.userId !== userId) {
      this.logger.info({ userId, accountId }, 'Reconnected account was removed meanwhile');
      return { kind: 'failed', reason: 'account_removed' };
    }
    if (bound.platformAccountId === profile.userId) return null;
    this.logger.info({ userId, accountId }, 'Reconnect approved another Instagram account');
    return { kind: 'wrong_account', expected: bound.username, approved: profile.username };
  }

  /** The state's user, account and link, or why the state is refused. */
  private async consumeState(
    state: string | undefined,
    binding: string | undefined,
  ): Promise<
    { userId: string; accountId: string | null; connectLinkId: string | null } | StateRefusal
  > {
    if (binding === undefined) return 'missing_binding';
    // Only the hash of both is looked up: a state presented without its browser's binding matches
    // no row, so it stays usable by the browser that started it.
    if (state === undefined || !STATE_SHAPE.test(state) || !isWellFormedBinding(binding)) {
      return 'invalid';
    }
    const found = await this.states.consume(hashState(state, binding));
    switch (found.outcome) {
      case 'consumed':
        return {
          userId: found.userId,
          accountId: found.accountId,
          connectLinkId: found.connectLinkId,
        };
      case 'expired':
        return 'expired';
      case 'unknown':
        return 'invalid';
    }
  }

  /** The accounts page (`PUBLIC_URL/?…`) for the owner's own connect. */
  private pageLanding(result: ConnectResult): string {
    switch (result.kind) {
      case 'connected':
        return this.page({ connected: result.account.id });
      case 'failed':
        return this.page({
          error: result.reason,
          error_description: CONNECT_FAILURES[result.reason],
        });
      case 'wrong_account':
        return this.page({
          error: 'wrong_account',
          error_description: wrongAccountMessage(result.expected, result.approved),
        });
    }
  }

  private pageStateRefused(refusal: StateRefusal): string {
    const description = {
      missing_binding: missingBindingMessage(this.config.publicUrl),
      invalid: INVALID_STATE_MESSAGE,
      expired: EXPIRED_STATE_MESSAGE,
    }[refusal];
    return this.page({ error: 'invalid_state', error_description: description });
  }

  private page(params: Record<string, string>): string {
    return `${this.config.publicUrl}/?${new URLSearchParams(params).toString()}`;
  }

  /** The public done page (`PUBLIC_URL/connect/done?…`) for a client who came through a link. */
  private linkLanding(result: ConnectResult): string {
    const publicUrl = this.config.publicUrl;
    switch (result.kind) {
      case 'connected':
        return connectDoneUrl(publicUrl, { connected: result.account.username });
      case 'failed':
        return connectDoneUrl(publicUrl, { error: result.reason });
      case 'wrong_account':
        return connectDoneUrl(publicUrl, {
          error: 'wrong_account',
          expected: result.expected,
          approved: result.approved,
        });
    }
  }

  private linkStateRefused(refusal: StateRefusal): string {
    const error = (
      {
        missing_binding: 'other_browser',
        invalid: 'invalid_state',
        expired: 'state_expired',
      } as const
    )[refusal];
    return connectDoneUrl(this.config.publicUrl, { error });
  }
}
