import { randomBytes, randomInt } from 'node:crypto';
import type { EmulatorAccount, PictureKind } from './account';
import { seedAccounts } from './seed';

export const HOUR_MS = 60 * 60 * 1000;
export const DAY_MS = 24 * HOUR_MS;
export const CODE_TTL_MS = HOUR_MS;
export const SHORT_TOKEN_TTL_MS = HOUR_MS;
/** Meta's documented example answer for a 60-day token. */
export const LONG_TOKEN_EXPIRES_IN_S = 5_183_944;
export const MIN_REFRESH_AGE_MS = DAY_MS;

export const KNOWN_SCOPES = new Set([
  'instagram_business_basic',
  'instagram_business_content_publish',
  'instagram_business_manage_messages',
  'instagram_business_manage_comments',
  'instagram_business_manage_insights',
]);

export type { EmulatorAccount, PictureKind };

export type AccountInput = Partial<EmulatorAccount> & { username: string };
export type AccountPatch = Partial<
  Omit<EmulatorAccount, 'userId' | 'appScopedId' | 'pictureVersion'>
>;

export type TokenKind = 'short' | 'long';

export interface EmulatorToken {
  token: string;
  kind: TokenKind;
  userId: string;
  scopes: string[];
  issuedAt: Date;
  expiresAt: Date;
  /** Set when invalidated through the control API: the 190 subcode it now answers with. */
  invalidatedSubcode?: number;
}

interface AuthCode {
  code: string;
  userId: string;
  clientId: string;
  redirectUri: string;
  scopes: string[];
  expiresAt: Date;
  used: boolean;
}

export type InjectionKind =
  | 'rate_limit_app'
  | 'rate_limit_account'
  | 'transient'
  | 'server_error_html'
  | 'hang'
  | 'drop'
  | 'error';

export interface InjectionInput {
  kind: InjectionKind;
  /** How many matching replies it affects. Default 1. */
  count?: number;
  /** Only requests acting for this account (id, app-scoped id or username). Default: all. */
  account?: string;
  /** Only requests to this Meta path, e.g. `/refresh_access_token`. Default: every path. */
  path?: string;
  /** `hang`: delay before answering normally. */
  delayMs?: number;
  /** `rate_limit_account`: `estimated_time_to_regain_access`, minutes. Default 15. */
  regainMinutes?: number;
  /** `error`: any Graph error envelope. */
  status?: number;
  error?: {
    code: number;
    subcode?: number;
    message?: string;
    type?: string;
    isTransient?: boolean;
  };
}

export interface Injection extends Omit<InjectionInput, 'account' | 'count'> {
  id: number;
  remaining: number;
  userId?: string;
}

export type TokenInvalidation = 'password_changed' | 'expired' | 'app_removed' | 'invalid';
export const INVALIDATION_SUBCODES: Readonly<Record<TokenInvalidation, number>> = {
  app_removed: 458,
  password_changed: 460,
  expired: 463,
  invalid: 467,
};

export interface EmulatorSettings {
  codeExchangeShape: 'flat' | 'wrapped';
  meShape: 'flat' | 'wrapped';
  /** Emit the code exchange's `user_id` as a bare JSON number (as the legacy API did). */
  userIdAsNumber: boolean;
  requireAppsecretProof: boolean;
  /** Fields `/me` answers as nonexistent (code 100), to mimic Meta not serving them. */
  unavailableFields: string[];
  /**
   * false: a refresh answers with the same token and the lifetime it has left, as if Meta had
   * accepted the refresh without extending anything (to test that a refresh is verified).
   */
  refreshExtends: boolean;
}

export interface RequestLogEntry {
  seq: number;
  /** Emulator clock. */
  at: string;
  method: string;
  path: string;
  /** Raw values, secrets included: for tests. Never printed. */
  query: Record<string, string>;
  body?: Record<string, string>;
  authorization?: string;
  status?: number;
  dropped?: boolean;
}

export type TokenCheck =
  | { ok: true; token: EmulatorToken; account: EmulatorAccount }
  | { ok: false; subcode: number; message: string; account?: EmulatorAccount };

export class EmulatorError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
  }
}

function opaque(prefix: string, bytes: number): string {
  return prefix + randomBytes(bytes).toString('base64url');
}

function randomDigits(length: number, first: string): string {
  let out = first;
  while (out.length < length) out += String(randomInt(10));
  return out;
}

/**
 * Everything the emulator knows, in memory. The HTTP routes and the control API both act through
 * this class, and tests may call it directly.
 */
export class EmulatorState {
  readonly accounts = new Map<string, EmulatorAccount>();
  readonly tokens = new Map<string, EmulatorToken>();
  private readonly codes = new Map<string, AuthCode>();
  private injections: Injection[] = [];
  private nextInjectionId = 1;
  private clockOffsetMs = 0;
  private requestLog: RequestLogEntry[] = [];
  private readonly requestCounts = new Map<string, number>();
  private nextSeq = 1;
  private appCalls: number[] = [];
  private readonly accountCalls = new Map<string, number[]>();
  settings: EmulatorSettings;

  constructor(private readonly defaults: { settings: EmulatorSettings; seed: boolean }) {
    this.settings = this.freshSettings();
    if (defaults.seed)
      for (const account of seedAccounts()) this.accounts.set(account.userId, account);
  }

  // --- clock -----------------------------------------------------------------------------------

  now(): Date {
    return new Date(Date.now() + this.clockOffsetMs);
  }

  advanceClock(ms: number): Date {
    this.clockOffsetMs += ms;
    return this.now();
  }

  // --- accounts --------------------------------------------------------------------------------

  listAccounts(): EmulatorAccount[] {
    return [...this.accounts.values()];
  }

  /** By professional id, app-scoped id or username. */
  findAccount(ref: string): EmulatorAccount | undefined {
    const needle = ref.trim().replace(/^@/, '').toLowerCase();
    return this.listAccounts().find(
      (a) => a.userId === needle || a.appScopedId === needle || a.username.toLowerCase() === needle,
    );
  }

  getAccount(ref: string): EmulatorAccount {
    const account = this.findAccount(ref);
    if (!account) throw new EmulatorError(404, `No emulated account ${ref}`);
    return account;
  }

  createAccount(input: AccountInput): EmulatorAccount {
    const account: EmulatorAccount = {
      userId: input.userId ?? randomDigits(17, '178414'),
      appScopedId: input.appScopedId ?? randomDigits(17, '2'),
      username: input.username,
      accountType: input.accountType ?? 'Business',
      followersCount: input.followersCount ?? 0,
      followsCount: input.followsCount ?? 0,
      mediaCount: input.mediaCount ?? 0,
      hasProfilePicture: input.hasProfilePicture ?? true,
      pictureVersion: input.pictureVersion ?? 1,
      pictureKind: input.pictureKind ?? 'png',
      ...(input.name !== undefined ? { name: input.name } : {}),
      ...(input.biography !== undefined ? { biography: input.biography } : {}),
      ...(input.website !== undefined ? { website: input.website } : {}),
    };
    for (const ref of [account.userId, account.appScopedId, account.username]) {
      if (this.findAccount(ref)) throw new EmulatorError(409, `An account already uses ${ref}`);
    }
    this.accounts.set(account.userId, account);
    return account;
  }

  updateAccount(ref: string, patch: AccountPatch): EmulatorAccount {
    const account = this.getAccount(ref);
    if (patch.username !== undefined) {
      const other = this.findAccount(patch.username);
      if (other && other !== account) {
        throw new EmulatorError(409, `Username ${patch.username} is taken`);
      }
    }
    Object.assign(account, patch);
    return account;
  }

  /** The person sets a new profile picture: a new CDN path, new bytes (or a bad body, `kind`). */
  changePicture(ref: string, kind: PictureKind = 'png'): EmulatorAccount {
    const account = this.getAccount(ref);
    account.pictureVersion += 1;
    account.pictureKind = kind;
    account.hasProfilePicture = true;
    return account;
  }

  // --- authorization codes and tokens ------------------------------------------------------------

  authorize(input: {
    account: string;
    clientId: string;
    redirectUri: string;
    scopes: string[];
    state?: string;
  }): { code: string; redirectUrl: string } {
    const account = this.getAccount(input.account);
    const code = opaque('AQ', 96);
    this.codes.set(code, {
      code,
      userId: account.userId,
      clientId: input.clientId,
      redirectUri: input.redirectUri,
      scopes: input.scopes,
      expiresAt: new Date(this.now().getTime() + CODE_TTL_MS),
      used: false,
    });
    const redirect = new URL(input.redirectUri);
    redirect.searchParams.set('code', code);
    if (input.state !== undefined) redirect.searchParams.set('state', input.state);
    redirect.hash = '_';
    return { code, redirectUrl: redirect.toString() };
  }

  /** Whom a code was issued for, without consuming it. */
  accountOfCode(code: string | undefined): EmulatorAccount | undefined {
    const entry = code === undefined ? undefined : this.codes.get(code);
    return entry ? this.accounts.get(entry.userId) : undefined;
  }

  /** Single use even when it fails for another reason, like Meta's. */
  redeemCode(
    code: string,
    clientId: string,
    redirectUri: string,
  ): { ok: true; token: EmulatorToken; account: EmulatorAccount } | { ok: false; message: string } {
    const entry = this.codes.get(code);
    if (!entry || entry.used) {
      return { ok: false, message: 'Matching code was not found or was already used' };
    }
    entry.used = true;
    if (this.now() >= entry.expiresAt) {
      return { ok: false, message: 'This authorization code has expired.' };
    }
    if (entry.clientId !== clientId || entry.redirectUri !== redirectUri) {
      return {
        ok: false,
        message:
          'Error validating verification code. Please make sure your redirect_uri is identical to the one you used in the OAuth dialog request',
      };
    }
    const account = this.accounts.get(entry.userId);
    if (!account) return { ok: false, message: 'Matching code was not found or was already used' };
    return { ok: true, token: this.issueToken(account, 'short', entry.scopes), account };
  }

  issueToken(account: EmulatorAccount, kind: TokenKind, scopes: string[]): EmulatorToken {
    const issuedAt = this.now();
    const ttl = kind === 'short' ? SHORT_TOKEN_TTL_MS : LONG_TOKEN_EXPIRES_IN_S * 1000;
    const token: EmulatorToken = {
      token: opaque('IGAA', 120),
      kind,
      userId: account.userId,
      scopes: [...scopes],
      issuedAt,
      expiresAt: new Date(issuedAt.getTime() + ttl),
    };
    this.tokens.set(token.token, token);
    return token;
  }

  /** Account of a token even when the token is no longer valid (for usage headers, injections). */
  accountOfToken(token: string | undefined): EmulatorAccount | undefined {
    const entry = token === undefined ? undefined : this.tokens.get(token);
    return entry ? this.accounts.get(entry.userId) : undefined;
  }

  checkToken(token: string): TokenCheck {
    const entry = this.tokens.get(token);
    const account = entry ? this.accounts.get(entry.userId) : undefined;
    if (!entry || !account) {
      return {
        ok: false,
        subcode: 467,
        message: 'Invalid OAuth access token - Cannot parse access token',
      };
    }
    const now = this.now();
    if (entry.invalidatedSubcode !== undefined && entry.invalidatedSubcode !== 463) {
      return {
        ok: false,
        subcode: entry.invalidatedSubcode,
        message: invalidationMessage(entry.invalidatedSubcode),
        account,
      };
    }
    if (now >= entry.expiresAt || entry.invalidatedSubcode === 463) {
      return {
        ok: false,
        subcode: 463,
        message: `Error validating access token: Session has expired on ${metaDate(entry.expiresAt)}. The current time is ${metaDate(now)}.`,
        account,
      };
    }
    return { ok: true, token: entry, account };
  }

  invalidateTokens(ref: string, reason: TokenInvalidation): number {
    const account = this.getAccount(ref);
    let count = 0;
    for (const token of this.tokens.values()) {
      if (token.userId !== account.userId || token.invalidatedSubcode !== undefined) continue;
      token.invalidatedSubcode = INVALIDATION_SUBCODES[reason];
      if (reason === 'expired') token.expiresAt = this.now();
      count += 1;
    }
    return count;
  }

  // --- injected failures --------------------------------------------------------------------------

  inject(input: InjectionInput): Injection {
    const { account, count, ...rest } = input;
    const injection: Injection = {
      ...rest,
      id: this.nextInjectionId++,
      remaining: count ?? 1,
      ...(account !== undefined ? { userId: this.getAccount(account).userId } : {}),
    };
    this.injections.push(injection);
    return injection;
  }

  listInjections(): Injection[] {
    return this.injections.map((i) => ({ ...i }));
  }

  clearInjections(): void {
    this.injections = [];
  }

  /** The first pending injection that applies to a request to `path` acting for `userId`, consumed. */
  takeInjection(userId: string | undefined, path?: string): Injection | undefined {
    const index = this.injections.findIndex(
      (i) =>
        i.remaining > 0 &&
        (i.userId === undefined || i.userId === userId) &&
        (i.path === undefined || i.path === path),
    );
    const injection = this.injections[index];
    if (!injection) return undefined;
    injection.remaining -= 1;
    if (injection.remaining <= 0) this.injections.splice(index, 1);
    return { ...injection };
  }

  // --- usage accounting ------------------------------------------------------------------------

  recordAppCall(): void {
    const now = this.now().getTime();
    this.appCalls = this.appCalls.filter((t) => t > now - HOUR_MS);
    this.appCalls.push(now);
  }

  recordAccountCall(userId: string): void {
    const now = this.now().getTime();
    const calls = (this.accountCalls.get(userId) ?? []).filter((t) => t > now - DAY_MS);
    calls.push(now);
    this.accountCalls.set(userId, calls);
  }

  /** Percent of a platform budget of 200 calls per hour per user, as Meta describes it. */
  appUsage(): { call_count: number; total_time: number; total_cputime: number } {
    const budget = 200 * Math.max(1, this.accounts.size);
    const callCount = Math.min(100, Math.floor((this.appCalls.length * 100) / budget));
    return {
      call_count: callCount,
      total_time: Math.floor(callCount / 2),
      total_cputime: Math.floor(callCount / 3),
    };
  }

  /** Percent of a BUC budget of 4800 calls per 24 h (one impression's worth). */
  accountUsage(userId: string): { call_count: number; total_time: number; total_cputime: number } {
    const calls = this.accountCalls.get(userId)?.length ?? 0;
    const callCount = Math.min(100, Math.floor((calls * 100) / 4800));
    return {
      call_count: callCount,
      total_time: Math.floor(callCount / 2),
      total_cputime: Math.floor(callCount / 3),
    };
  }

  // --- request log ------------------------------------------------------------------------------

  logRequest(entry: Omit<RequestLogEntry, 'seq' | 'at'>): RequestLogEntry {
    const full: RequestLogEntry = { seq: this.nextSeq++, at: this.now().toISOString(), ...entry };
    this.requestCounts.set(entry.path, (this.requestCounts.get(entry.path) ?? 0) + 1);
    this.requestLog.push(full);
    if (this.requestLog.length > 5000) this.requestLog.shift();
    return full;
  }

  requests(filter: { path?: string } = {}): RequestLogEntry[] {
    return this.requestLog.filter((r) => filter.path === undefined || r.path === filter.path);
  }

  clearRequests(): void {
    this.requestLog = [];
    this.requestCounts.clear();
  }

  /**
   * Requests to Meta's endpoints since the start (or the last clear), per path: unlike the log,
   * which keeps the latest 5,000, these count every one (benchmarks count Graph calls).
   */
  requestTotals(): Record<string, number> {
    return Object.fromEntries(this.requestCounts);
  }

  // --- settings and reset ------------------------------------------------------------------------

  updateSettings(patch: Partial<EmulatorSettings>): EmulatorSettings {
    this.settings = { ...this.settings, ...patch };
    return this.settings;
  }

  private freshSettings(): EmulatorSettings {
    const { settings } = this.defaults;
    return { ...settings, unavailableFields: [...settings.unavailableFields] };
  }

  reset(): void {
    this.accounts.clear();
    this.tokens.clear();
    this.codes.clear();
    this.injections = [];
    this.clockOffsetMs = 0;
    this.requestLog = [];
    this.requestCounts.clear();
    this.appCalls = [];
    this.accountCalls.clear();
    this.settings = this.freshSettings();
    if (this.defaults.seed)
      for (const account of seedAccounts()) this.accounts.set(account.userId, account);
  }
}

function invalidationMessage(subcode: number): string {
  switch (subcode) {
    case 458:
      return 'Error validating access token: The user has not authorized application.';
    case 460:
      return 'Error validating access token: The session has been invalidated because the user changed their password or Facebook has changed the session for security reasons.';
    default:
      return 'Error validating access token: The session is invalid.';
  }
}

/** Meta's date style in expiry messages: "Tuesday, 03-Jun-25 10:00:00 UTC". */
function metaDate(date: Date): string {
  const [weekday, day, month, year, time] = date.toUTCString().replace(',', '').split(' ');
  return `${weekday}, ${day}-${month}-${(year ?? '').slice(-2)} ${time} UTC`;
}
