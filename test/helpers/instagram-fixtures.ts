import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import { startEmulator, type EmulatorAccount, type RunningEmulator } from '../../emulator/emulator';
import {
  type ClientAccount,
  mapInstagramAccountType,
} from '../../src/domain/entities/client-account.entity';
import { AccountTokenService } from '../../src/modules/instagram/services/account-token.service';
import { AccountService } from '../../src/modules/instagram/services/account.service';
import { startTestApp, type TestApp } from './app';
import { cookieFrom, http, type HttpResult, type RegisteredUser } from './http';

/** Small on purpose: the timeout and hang tests wait for them. */
export const INSTAGRAM_TIMEOUT_MS = 1000;
export const INSTAGRAM_MAX_RETRIES = 1;

/** The environment that points the service's Instagram client at `emu`. */
export function emulatorEnv(emu: RunningEmulator): Record<string, string> {
  return {
    INSTAGRAM_APP_ID: emu.appId,
    INSTAGRAM_APP_SECRET: emu.appSecret,
    INSTAGRAM_OAUTH_URL: emu.url,
    INSTAGRAM_API_URL: emu.url,
    INSTAGRAM_GRAPH_API_URL: `${emu.url}/v25.0`,
    INSTAGRAM_TIMEOUT_MS: String(INSTAGRAM_TIMEOUT_MS),
    INSTAGRAM_MAX_RETRIES: String(INSTAGRAM_MAX_RETRIES),
  };
}

export interface InstagramTestApp {
  t: TestApp;
  emu: RunningEmulator;
  accounts: AccountService;
  tokens: AccountTokenService;
  close(): Promise<void>;
}

/**
 * The real service on a fresh database, talking to its own emulator. `env` overrides the test
 * defaults and `emulatorEnv`'s, e.g. `PUBLIC_URL` for the OAuth redirects.
 */
export async function startInstagramTestApp(
  env: Record<string, string> = {},
): Promise<InstagramTestApp> {
  const emu = await startEmulator({ port: 0 });
  try {
    // The service's time follows Instagram's: moving the emulator's clock moves both.
    const t = await startTestApp(
      // The emulator's picture links point at 127.0.0.1 (production refuses that, as it should).
      {
        ...emulatorEnv(emu),
        ...(env.NODE_ENV === 'production' ? {} : { PICTURE_FETCH_ALLOW_PRIVATE: 'true' }),
        ...env,
      },
      { clock: { now: () => emu.state.now() } },
    );
    return {
      t,
      emu,
      accounts: t.app.get(AccountService),
      tokens: t.app.get(AccountTokenService),
      close: async () => {
        await t.close();
        await emu.close();
      },
    };
  } catch (error) {
    await emu.close();
    throw error;
  }
}

/** The emulator's control API (emulator/README.md). */
export async function control<T = any>(
  emu: RunningEmulator,
  method: string,
  path: string,
  body?: unknown,
): Promise<T> {
  const response = await fetch(`${emu.url}/__control${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`emulator ${method} ${path}: ${response.status} ${text}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

let sequence = 0;
/** Unique, and valid by Instagram's rule (≤ 30 of letters, digits, `.` and `_`). */
export function uniqueUsername(prefix = 'seller'): string {
  sequence += 1;
  return `${prefix.slice(0, 10)}_${sequence}_${randomBytes(4).toString('hex')}`.slice(0, 30);
}

export interface ConnectOptions {
  /** An emulator account to connect (professional id or username); else a new one is made. */
  emulatorAccount?: string;
  /** Fields of the new emulator account. */
  profile?: Partial<Omit<EmulatorAccount, 'userId' | 'appScopedId'>>;
  scopes?: string[];
  /** Backdates the minted token, e.g. 25 h to make it refreshable at once. */
  tokenAgeMs?: number;
}

export interface ConnectedAccount {
  account: ClientAccount;
  outcome: 'created' | 'reconnected';
  emulatorAccount: EmulatorAccount;
  /** The plaintext token the vault holds for the account (for leak scans, never printing). */
  accessToken: string;
}

/**
 * Connects an account for `userId` the way the OAuth callback does, minus the browser: an
 * emulator account, a long-lived token minted by the emulator, then AccountService.createAccount.
 */
export async function connectAccount(
  app: Pick<InstagramTestApp, 'emu' | 'accounts'>,
  userId: string,
  options: ConnectOptions = {},
): Promise<ConnectedAccount> {
  const scopes = options.scopes ?? ['instagram_business_basic'];
  const emulatorAccount = options.emulatorAccount
    ? (
        await control<{ account: EmulatorAccount }>(
          app.emu,
          'GET',
          `/accounts/${options.emulatorAccount}`,
        )
      ).account
    : (
        await control<{ account: EmulatorAccount }>(app.emu, 'POST', '/accounts', {
          username: uniqueUsername(),
          name: 'Test Seller',
          followersCount: 100,
          followsCount: 10,
          mediaCount: 5,
          ...options.profile,
        })
      ).account;
  const minted = await control<{ accessToken: string; issuedAt: string; expiresAt: string }>(
    app.emu,
    'POST',
    `/accounts/${emulatorAccount.userId}/tokens`,
    { kind: 'long', scopes, ageMs: options.tokenAgeMs ?? 0 },
  );
  const { account, outcome } = await app.accounts.createAccount(
    userId,
    {
      platformAccountId: emulatorAccount.userId,
      username: emulatorAccount.username,
      ...(emulatorAccount.name !== undefined ? { displayName: emulatorAccount.name } : {}),
      accountType: mapInstagramAccountType(emulatorAccount.accountType),
      permissions: scopes,
    },
    {
      token: {
        accessToken: minted.accessToken,
        tokenType: 'long_lived',
        issuedAt: new Date(minted.issuedAt),
        expiresAt: new Date(minted.expiresAt),
        scopes,
      },
      metadata: { igId: emulatorAccount.appScopedId, igBusinessAccountId: emulatorAccount.userId },
      profile: {
        followerCount: emulatorAccount.followersCount,
        followingCount: emulatorAccount.followsCount,
        mediaCount: emulatorAccount.mediaCount,
      },
    },
  );
  return { account, outcome, emulatorAccount, accessToken: minted.accessToken };
}

/** Every token the emulator ever issued: what no response or log line may contain. */
export function issuedTokens(emu: RunningEmulator): string[] {
  return [...emu.state.tokens.keys()];
}

/** The cookie that binds an OAuth state to the browser that started the connect. */
export const OAUTH_BINDING_COOKIE = 'ssell_oauth';

export interface OAuthConnectOptions {
  /**
   * The `PUBLIC_URL` the app was started with: the consent must send the browser back to its
   * callback, and the callback land on its page. Default: the app's own configured URL.
   */
  publicUrl?: string;
  /** Sees the service's responses in turn (authorize, then the callback), e.g. for leak scans. */
  onResponse?: (res: HttpResult) => void;
}

export interface OAuthConnection {
  /** The new (or reconnected) account's id, from the landing page's `?connected=`. */
  accountId: string;
  /** The authorization code the emulator issued: a secret no response or log line may show. */
  code: string;
  /** Where the callback sent the browser: `PUBLIC_URL/?connected=<id>`. */
  landing: URL;
  /** The binding cookie authorize set, as a Cookie header pair (`ssell_oauth=<binding>`). */
  cookie: string;
}

/**
 * IG-001's connect the way a browser does it, against an app whose Instagram is an emulator:
 * GET /instagram/oauth/authorize with `user`'s token, the emulator's consent page answered for
 * `username` through its `__approve` shortcut, then the callback from the same browser, carrying
 * the binding cookie authorize set. Checks every hop: authorize redirects (302) and sets the
 * binding cookie, the consent redirects (302) to PUBLIC_URL's callback with a code, the callback
 * redirects (302) to PUBLIC_URL's page with `?connected=<uuid>`.
 */
export async function connectViaOAuth(
  t: TestApp,
  user: Pick<RegisteredUser, 'token'>,
  username: string,
  options: OAuthConnectOptions = {},
): Promise<OAuthConnection> {
  const publicUrl = options.publicUrl ?? t.config.publicUrl;
  const authorize = await http(t.url, 'GET', '/instagram/oauth/authorize', { token: user.token });
  options.onResponse?.(authorize);
  expect(authorize.status).toBe(302);
  // The callback only accepts the state from the browser that started it.
  const cookie = cookieFrom(authorize.headers, OAUTH_BINDING_COOKIE);
  expect(cookie).toMatch(/^ssell_oauth=[A-Za-z0-9_-]{43}$/);

  const dialog = new URL(authorize.headers.get('location')!);
  dialog.searchParams.set('__approve', username);
  const consent = await fetch(dialog, { redirect: 'manual' });
  expect(consent.status).toBe(302);
  const back = new URL(consent.headers.get('location')!);
  expect(`${back.origin}${back.pathname}`).toBe(`${publicUrl}/instagram/oauth/callback`);
  const code = back.searchParams.get('code');
  expect(code).toBeTruthy();

  // Browsers drop the fragment (`#_`); the service must not need it.
  const callback = await http(t.url, 'GET', `${back.pathname}${back.search}`, { cookie });
  options.onResponse?.(callback);
  expect(callback.status).toBe(302);
  const location = callback.headers.get('location')!;
  expect(location.startsWith(`${publicUrl}/?`)).toBe(true);
  const landing = new URL(location);
  expect(landing.origin).toBe(publicUrl);
  const accountId = landing.searchParams.get('connected');
  expect(accountId).toMatch(/^[0-9a-f-]{36}$/);
  return { accountId: accountId!, code: code!, landing, cookie: cookie! };
}
