import { randomBytes } from 'node:crypto';
import { startEmulator, type EmulatorAccount, type RunningEmulator } from '../../emulator/emulator';
import {
  type ClientAccount,
  mapInstagramAccountType,
} from '../../src/domain/entities/client-account.entity';
import { InstagramAccountService } from '../../src/modules/instagram/services/instagram-account.service';
import { startTestApp, type TestApp } from './app';

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
  service: InstagramAccountService;
  close(): Promise<void>;
}

/** The real service on a fresh database, talking to its own emulator. */
export async function startInstagramTestApp(
  env: Record<string, string> = {},
): Promise<InstagramTestApp> {
  const emu = await startEmulator({ port: 0 });
  try {
    const t = await startTestApp({ ...emulatorEnv(emu), ...env });
    return {
      t,
      emu,
      service: t.app.get(InstagramAccountService),
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
 * emulator account, a long-lived token minted by the emulator, then the service's createAccount.
 */
export async function connectAccount(
  app: InstagramTestApp,
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
  const { account, outcome } = await app.service.createAccount(
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
