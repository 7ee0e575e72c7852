import { createHmac } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import {
  ExponentialBackoff,
  handleWhen,
  retry,
  type IBackoff,
  type IBackoffFactory,
  type IRetryBackoffContext,
} from 'cockatiel';
import { Agent, request } from 'undici';
import type { ZodType, ZodTypeDef } from 'zod';
import {
  InstagramApiError,
  InstagramBadRequestError,
  InstagramNetworkError,
  InstagramTimeoutError,
  InstagramTransientError,
  InstagramUnknownError,
  TokenRefreshNotAllowedError,
  mapGraphError,
} from './instagram.errors';
import {
  OPTIONAL_PROFILE_FIELDS,
  PROFILE_FIELDS,
  codeExchangeSchema,
  longLivedTokenSchema,
  profileSchema,
} from './instagram.schemas';
import { parseJsonKeepingBigIntegers } from './json-big-ids';
import { redactUrl, scrubMessage } from './redact';
import { parseUsageHeaders, type HttpHeaders, type InstagramUsage } from './usage-headers';

/** The subset of pino's API the client uses; a pino logger satisfies it. */
export interface InstagramLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** Constructible from `InstagramConfig` (src/config/config.ts) plus optional test knobs. */
export interface InstagramClientOptions {
  appId: string;
  appSecret: string;
  redirectUri: string;
  /** Authorize page host, e.g. https://www.instagram.com */
  oauthUrl: string;
  /** Code-exchange host, e.g. https://api.instagram.com */
  apiUrl: string;
  /** Graph host with its version, e.g. https://graph.instagram.com/v25.0 */
  graphApiUrl: string;
  extraScopes: readonly string[];
  sendAppsecretProof: boolean;
  /** Per attempt. Default 10 000. */
  timeoutMs?: number;
  /**
   * One call's total, across its attempts and the backoff between them. Default 12 000: a
   * manual sync (one profile call) answers within about 15 s whatever Instagram does.
   */
  deadlineMs?: number;
  /** Retries after the first attempt, transient failures only. Default 3. */
  maxRetries?: number;
  /** First backoff delay; later ones grow exponentially with decorrelated jitter. Default 200. */
  retryBaseDelayMs?: number;
  /** Default 5 000. */
  retryMaxDelayMs?: number;
  /** Wait assumed when Meta rate-limits without an estimate. Default one hour. */
  defaultRateLimitResetMs?: number;
  now?: () => Date;
  /** Called with the usage headers of every response that carries them. Must not throw. */
  onUsage?: (usage: InstagramUsage) => void;
}

export const BASE_SCOPE = 'instagram_business_basic';

/** Per call. */
export interface CallOptions {
  /**
   * Ends the call early (a caller's own deadline, a shutdown). The client's `deadlineMs` still
   * applies: the call ends at whichever comes first, with an `InstagramTimeoutError`.
   */
  signal?: AbortSignal;
}

export interface ShortLivedToken {
  accessToken: string;
  /** App-scoped id of the Instagram user (exact digits). */
  userId: string;
  permissions: string[];
}

export interface LongLivedToken {
  accessToken: string;
  tokenType: string;
  /** Seconds, as Meta returned it. */
  expiresIn: number;
  expiresAt: Date;
  /** Client clock when the request was sent: the token's age counts from here for refreshes. */
  issuedAt: Date;
}

export interface InstagramProfile {
  /** App-scoped id (`id`). */
  id: string;
  /** Professional account id (`user_id`): the id webhooks and `/<IG_ID>/…` calls use. */
  userId: string;
  username: string;
  name?: string;
  /** Raw `account_type`, e.g. `Business`, `Media_Creator`. */
  accountType?: string;
  profilePictureUrl?: string;
  followersCount?: number;
  followsCount?: number;
  mediaCount?: number;
  biography?: string;
  website?: string;
}

export type RevocationResult =
  { revoked: true } | { revoked: false; reason: 'unsupported'; detail: string };

export const MIN_TOKEN_AGE_FOR_REFRESH_MS = 24 * 60 * 60 * 1000;

// Meta's error bodies and profiles are small; a huge body means something is badly wrong.
const MAX_RESPONSE_BYTES = 1024 * 1024;
// An attempt with less time than this left is not worth starting.
const MIN_ATTEMPT_MS = 250;
// Below HTTP, only these mean "retrying cannot help".
const NON_RETRYABLE_CAUSES = new Set(['UND_ERR_RES_EXCEEDED_MAX_SIZE', 'UND_ERR_INVALID_ARG']);

interface CallSpec {
  operation: string;
  method: 'GET' | 'POST';
  url: URL;
  /** Form fields for POST. */
  form?: Record<string, string>;
  bearer?: string;
  /** Cut out of every message built from this call. */
  secrets: string[];
}

interface CallResult {
  status: number;
  body: unknown;
}

/** One call's time: aborted at the deadline (or by the caller), and what is left of it. */
interface Budget {
  signal: AbortSignal;
  deadlineMs: number;
  remainingMs(): number;
}

/**
 * Instagram API with Instagram Login. The only code that speaks HTTP to Meta.
 *
 * Retries: transient failures only (codes 1 and 2, `is_transient`, 5xx, network errors and
 * timeouts), `maxRetries` times with exponential backoff and jitter. Timeouts and dropped
 * connections are retried for every operation, the single-use code exchange included: if the
 * lost attempt did reach Meta, the retry fails with "code already used", which is no worse than
 * not retrying; if it did not, the retry saves the connect.
 *
 * Time: each attempt has its own `timeoutMs`, and the whole call one `deadlineMs` across its
 * attempts and backoff (a hung Instagram must not hold a request or a job worker for
 * (maxRetries + 1) × timeoutMs). No attempt starts with less than a quarter second left, and no
 * backoff outlasts the deadline.
 */
export class InstagramClient {
  /** Usage headers of the most recent response that carried any. */
  lastUsage: InstagramUsage | undefined;

  private readonly agent: Agent;
  private readonly backoff: IBackoffFactory<IRetryBackoffContext<unknown>>;
  private readonly timeoutMs: number;
  private readonly deadlineMs: number;
  private readonly maxRetries: number;
  private readonly now: () => Date;
  private readonly graphOrigin: string;
  private readonly graphVersioned: string;
  private readonly unsupportedProfileFields = new Set<string>();

  constructor(
    private readonly options: InstagramClientOptions,
    private readonly logger: InstagramLogger,
  ) {
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.deadlineMs = options.deadlineMs ?? 12_000;
    this.maxRetries = options.maxRetries ?? 3;
    this.now = options.now ?? (() => new Date());
    ({ origin: this.graphOrigin, versioned: this.graphVersioned } = splitGraphUrl(
      options.graphApiUrl,
    ));
    this.agent = new Agent({
      connect: { timeout: this.timeoutMs },
      headersTimeout: this.timeoutMs,
      bodyTimeout: this.timeoutMs,
      maxResponseSize: MAX_RESPONSE_BYTES,
    });
    this.backoff = new ExponentialBackoff({
      initialDelay: options.retryBaseDelayMs ?? 200,
      maxDelay: options.retryMaxDelayMs ?? 5_000,
    });
  }

  /**
   * The Instagram consent page URL. `scopes` replace the configured extras; basic is always in.
   * `forceReauth` asks Instagram to let the person pick the account again instead of continuing
   * as whoever is logged in (a reconnect of one account must not silently approve another).
   */
  buildAuthorizeUrl(input: {
    state: string;
    scopes?: readonly string[];
    forceReauth?: boolean;
  }): string {
    const scopes = [...new Set([BASE_SCOPE, ...(input.scopes ?? this.options.extraScopes)])];
    const url = new URL('/oauth/authorize', this.options.oauthUrl);
    url.search = new URLSearchParams({
      client_id: this.options.appId,
      redirect_uri: this.options.redirectUri,
      response_type: 'code',
      scope: scopes.join(','),
      state: input.state,
      ...(input.forceReauth ? { force_reauth: 'true' } : {}),
    }).toString();
    return url.toString();
  }

  /** Authorization code → short-lived (1 h) token. */
  async exchangeCode(code: string, options: CallOptions = {}): Promise<ShortLivedToken> {
    const { body } = await this.call(this.budget(options), {
      operation: 'exchangeCode',
      method: 'POST',
      url: new URL('/oauth/access_token', this.options.apiUrl),
      form: {
        client_id: this.options.appId,
        client_secret: this.options.appSecret,
        grant_type: 'authorization_code',
        redirect_uri: this.options.redirectUri,
        code,
      },
      secrets: [code, this.options.appSecret],
    });
    const parsed = this.validate('exchangeCode', codeExchangeSchema, body);
    return {
      accessToken: parsed.access_token,
      userId: parsed.user_id,
      permissions: parsed.permissions,
    };
  }

  /** Short-lived token → long-lived (60 d) token. */
  async exchangeForLongLivedToken(
    shortLivedToken: string,
    options: CallOptions = {},
  ): Promise<LongLivedToken> {
    const url = new URL(`${this.graphOrigin}/access_token`);
    url.search = new URLSearchParams({
      grant_type: 'ig_exchange_token',
      client_secret: this.options.appSecret,
      access_token: shortLivedToken,
    }).toString();
    return this.longLivedTokenCall(
      'exchangeForLongLivedToken',
      url,
      [shortLivedToken, this.options.appSecret],
      options,
    );
  }

  /**
   * A fresh 60-day token. Refused locally, with no request, when Meta would refuse it: tokens
   * younger than 24 hours and expired ones.
   */
  async refreshLongLivedToken(
    token: string,
    lifetime: { issuedAt: Date; expiresAt: Date },
    options: CallOptions = {},
  ): Promise<LongLivedToken> {
    const now = this.now();
    if (now.getTime() >= lifetime.expiresAt.getTime()) {
      throw new TokenRefreshNotAllowedError('expired', undefined);
    }
    const eligibleAt = lifetime.issuedAt.getTime() + MIN_TOKEN_AGE_FOR_REFRESH_MS;
    if (now.getTime() < eligibleAt) {
      throw new TokenRefreshNotAllowedError('too_young', new Date(eligibleAt));
    }
    const url = new URL(`${this.graphOrigin}/refresh_access_token`);
    url.search = new URLSearchParams({
      grant_type: 'ig_refresh_token',
      access_token: token,
    }).toString();
    return this.longLivedTokenCall('refreshLongLivedToken', url, [token], options);
  }

  /**
   * `/me` with every profile field. Meta does not confirm that `biography` and `website` are
   * served on graph.instagram.com, and one unknown field fails the whole call (code 100), so an
   * optional field Meta reports as nonexistent is dropped, remembered, and the call repeated
   * (within the same deadline).
   */
  async getProfile(token: string, options: CallOptions = {}): Promise<InstagramProfile> {
    const budget = this.budget(options);
    for (;;) {
      try {
        return await this.fetchProfile(token, budget);
      } catch (error) {
        const field = unsupportedOptionalField(error);
        if (!field || this.unsupportedProfileFields.has(field)) throw error;
        this.unsupportedProfileFields.add(field);
        this.logger.warn(
          { field },
          'Instagram does not serve this profile field; asking without it',
        );
      }
    }
  }

  private async fetchProfile(token: string, budget: Budget): Promise<InstagramProfile> {
    const url = new URL(`${this.graphVersioned}/me`);
    const fields = PROFILE_FIELDS.filter((f) => !this.unsupportedProfileFields.has(f));
    url.searchParams.set('fields', fields.join(','));
    const secrets = [token];
    if (this.options.sendAppsecretProof) {
      const proof = appsecretProof(this.options.appSecret, token);
      url.searchParams.set('appsecret_proof', proof);
      secrets.push(proof);
    }
    const { body } = await this.call(budget, {
      operation: 'getProfile',
      method: 'GET',
      url,
      bearer: token,
      secrets,
    });
    const p = this.validate('getProfile', profileSchema, body);
    const profile: InstagramProfile = { id: p.id, userId: p.user_id, username: p.username };
    if (p.name !== undefined) profile.name = p.name;
    if (p.account_type !== undefined) profile.accountType = p.account_type;
    if (p.profile_picture_url !== undefined) profile.profilePictureUrl = p.profile_picture_url;
    if (p.followers_count !== undefined) profile.followersCount = p.followers_count;
    if (p.follows_count !== undefined) profile.followsCount = p.follows_count;
    if (p.media_count !== undefined) profile.mediaCount = p.media_count;
    if (p.biography !== undefined) profile.biography = p.biography;
    if (p.website !== undefined) profile.website = p.website;
    return profile;
  }

  /**
   * Instagram API with Instagram Login cannot revoke a token: the person removes the app in
   * Instagram's settings and Meta calls the deauthorize callback. Say so instead of pretending.
   */
  async revokeToken(_token: string): Promise<RevocationResult> {
    return {
      revoked: false,
      reason: 'unsupported',
      detail:
        'Instagram API with Instagram Login has no token revocation endpoint (Meta docs, access_token reference: Deleting not supported)',
    };
  }

  /** Closes pooled connections. */
  async close(): Promise<void> {
    await this.agent.close();
  }

  private async longLivedTokenCall(
    operation: string,
    url: URL,
    secrets: string[],
    options: CallOptions,
  ): Promise<LongLivedToken> {
    const issuedAt = this.now();
    const { body } = await this.call(this.budget(options), {
      operation,
      method: 'GET',
      url,
      secrets,
    });
    const parsed = this.validate(operation, longLivedTokenSchema, body);
    return {
      accessToken: parsed.access_token,
      tokenType: parsed.token_type,
      expiresIn: parsed.expires_in,
      expiresAt: new Date(issuedAt.getTime() + parsed.expires_in * 1000),
      issuedAt,
    };
  }

  /** Starts a call's clock: `deadlineMs` from now, or the caller's signal if that ends first. */
  private budget(options: CallOptions): Budget {
    const endsAt = performance.now() + this.deadlineMs;
    const deadline = AbortSignal.timeout(this.deadlineMs);
    return {
      signal: options.signal ? AbortSignal.any([options.signal, deadline]) : deadline,
      deadlineMs: this.deadlineMs,
      remainingMs: () => Math.max(0, endsAt - performance.now()),
    };
  }

  private async call(budget: Budget, spec: CallSpec): Promise<CallResult> {
    // Per call, because whether to retry and how long to wait depend on this call's deadline.
    const policy = retry(
      handleWhen((error) => isRetryable(error) && this.canRetry(budget)),
      { maxAttempts: this.maxRetries, backoff: cappedBackoff(this.backoff, budget) },
    );
    return policy.execute(({ attempt }) => this.attempt(spec, attempt + 1, budget));
  }

  private canRetry(budget: Budget): boolean {
    return !budget.signal.aborted && budget.remainingMs() > MIN_ATTEMPT_MS;
  }

  private async attempt(spec: CallSpec, attempt: number, budget: Budget): Promise<CallResult> {
    const started = performance.now();
    const logContext = {
      operation: spec.operation,
      method: spec.method,
      url: redactUrl(spec.url),
      attempt,
    };
    try {
      const result = await this.send(spec, budget);
      this.logger.debug(
        { ...logContext, status: result.status, durationMs: elapsed(started) },
        'Instagram call succeeded',
      );
      return result;
    } catch (error) {
      const failure =
        error instanceof InstagramApiError ? error : this.unexpected(spec, error, 'transport');
      const willRetry = isRetryable(failure) && attempt <= this.maxRetries && this.canRetry(budget);
      const level =
        failure.isTransient || failure instanceof InstagramNetworkError ? 'warn' : 'info';
      this.logger[level](
        { ...logContext, durationMs: elapsed(started), willRetry, error: failure.toLog() },
        'Instagram call failed',
      );
      throw failure;
    }
  }

  private async send(spec: CallSpec, budget: Budget): Promise<CallResult> {
    // AbortSignal.timeout takes whole milliseconds.
    const attemptMs = Math.max(1, Math.floor(Math.min(this.timeoutMs, budget.remainingMs())));
    const signal = AbortSignal.any([AbortSignal.timeout(attemptMs), budget.signal]);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (spec.bearer) headers.authorization = `Bearer ${spec.bearer}`;
    let body: string | undefined;
    if (spec.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(spec.form).toString();
    }

    let status: number;
    let responseHeaders: HttpHeaders;
    let text: string;
    try {
      const response = await request(spec.url, {
        method: spec.method,
        headers,
        body,
        signal,
        dispatcher: this.agent,
      });
      status = response.statusCode;
      responseHeaders = response.headers;
      text = await response.body.text();
    } catch (error) {
      throw this.transportError(spec, error, signal.aborted, budget, attemptMs);
    }

    const usage = this.recordUsage(responseHeaders);
    const errorOptions = {
      now: this.now(),
      secrets: spec.secrets,
      operation: spec.operation,
      ...(this.options.defaultRateLimitResetMs !== undefined
        ? { defaultRateLimitResetMs: this.options.defaultRateLimitResetMs }
        : {}),
    };
    let parsed: unknown;
    try {
      parsed = parseJsonKeepingBigIntegers(text);
    } catch {
      if (status >= 200 && status < 300) {
        throw new InstagramUnknownError(`Instagram returned a non-JSON ${status} response`, {
          httpStatus: status,
          operation: spec.operation,
          ...(usage ? { usage } : {}),
        });
      }
      throw mapGraphError(status, undefined, responseHeaders, errorOptions);
    }
    // Meta has been seen answering 200 with an error envelope; the envelope wins.
    const hasEnvelope = typeof parsed === 'object' && parsed !== null && 'error' in parsed;
    if (status < 200 || status >= 300 || hasEnvelope) {
      throw mapGraphError(status, parsed, responseHeaders, errorOptions);
    }
    return { status, body: parsed };
  }

  private recordUsage(headers: HttpHeaders): InstagramUsage | undefined {
    const usage = parseUsageHeaders(headers, this.now());
    if (!usage) return undefined;
    this.lastUsage = usage;
    try {
      this.options.onUsage?.(usage);
    } catch (error) {
      this.logger.warn(
        { error: scrubMessage(error instanceof Error ? error.message : String(error)) },
        'Instagram usage hook failed',
      );
    }
    return usage;
  }

  private transportError(
    spec: CallSpec,
    error: unknown,
    aborted: boolean,
    budget: Budget,
    attemptMs: number,
  ): InstagramApiError {
    const causeCode = errorCode(error);
    const details = { operation: spec.operation, isTransient: true };
    // An attempt shortened to fit the deadline that then timed out ran into the deadline.
    if (aborted && (budget.signal.aborted || attemptMs < this.timeoutMs)) {
      return new InstagramTimeoutError(
        `Instagram did not answer within the call's deadline of ${budget.deadlineMs} ms (${spec.operation})`,
        details,
        budget.deadlineMs,
      );
    }
    if (
      aborted ||
      causeCode === 'UND_ERR_HEADERS_TIMEOUT' ||
      causeCode === 'UND_ERR_BODY_TIMEOUT'
    ) {
      return new InstagramTimeoutError(
        `Instagram did not answer within ${this.timeoutMs} ms (${spec.operation})`,
        details,
        this.timeoutMs,
      );
    }
    return this.unexpected(spec, error, causeCode);
  }

  private unexpected(spec: CallSpec, error: unknown, causeCode: string | undefined) {
    const raw = error instanceof Error ? error.message : String(error);
    return new InstagramNetworkError(
      `Network error talking to Instagram (${spec.operation}): ${scrubMessage(raw, spec.secrets)}`,
      { operation: spec.operation, isTransient: !NON_RETRYABLE_CAUSES.has(causeCode ?? '') },
      causeCode,
    );
  }

  private validate<T>(
    operation: string,
    schema: ZodType<T, ZodTypeDef, unknown>,
    body: unknown,
  ): T {
    const result = schema.safeParse(body);
    if (result.success) return result.data;
    // Paths only: values could be tokens.
    const where = result.error.issues.map((i) => i.path.join('.') || '(root)').join(', ');
    throw new InstagramUnknownError(
      `Unexpected response shape from Instagram (${operation}): ${where}`,
      { operation, httpStatus: 200 },
    );
  }
}

/** hex(HMAC-SHA256(key = app secret, message = access token)), Meta's `appsecret_proof`. */
export function appsecretProof(appSecret: string, accessToken: string): string {
  return createHmac('sha256', appSecret).update(accessToken).digest('hex');
}

function unsupportedOptionalField(error: unknown): string | undefined {
  if (!(error instanceof InstagramBadRequestError) || error.code !== 100) return undefined;
  const field = /nonexisting field \((\w+)\)/.exec(error.message)?.[1];
  return field !== undefined && OPTIONAL_PROFILE_FIELDS.has(field) ? field : undefined;
}

/** The client's backoff, never waiting past the point where one more attempt is worth it. */
function cappedBackoff<T>(factory: IBackoffFactory<T>, budget: Budget): IBackoffFactory<T> {
  const wrap = (backoff: IBackoff<T>): IBackoff<T> => ({
    duration: Math.max(0, Math.min(backoff.duration, budget.remainingMs() - MIN_ATTEMPT_MS)),
    next: (context) => wrap(backoff.next(context)),
  });
  return { next: (context) => wrap(factory.next(context)) };
}

function isRetryable(error: unknown): boolean {
  if (error instanceof InstagramTransientError) return true;
  if (error instanceof InstagramNetworkError) return error.isTransient;
  return false;
}

/**
 * `https://graph.instagram.com/v25.0` → the versioned base for node calls and the unversioned
 * one for the token endpoints, which Meta documents without a version.
 */
export function splitGraphUrl(graphApiUrl: string): { origin: string; versioned: string } {
  const url = new URL(graphApiUrl);
  const segments = url.pathname.split('/').filter(Boolean);
  const version = segments.at(-1);
  if (!version || !/^v\d+\.\d+$/.test(version)) {
    throw new Error(`graphApiUrl must end with a Graph API version such as /v25.0: ${url.origin}`);
  }
  const prefix = segments.slice(0, -1).join('/');
  const origin = prefix ? `${url.origin}/${prefix}` : url.origin;
  return { origin, versioned: `${origin}/${version}` };
}

function errorCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') return code;
  const name = (error as { name?: unknown }).name;
  return typeof name === 'string' ? name : undefined;
}

function elapsed(started: number): number {
  return Math.round(performance.now() - started);
}
