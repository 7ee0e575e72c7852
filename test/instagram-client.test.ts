import { createServer } from 'node:net';
import pino from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startEmulator, type RunningEmulator } from '../emulator/emulator';
import type { InstagramConfig } from '../src/config/config';
import {
  InstagramBadRequestError,
  InstagramClient,
  InstagramNetworkError,
  InstagramRateLimitError,
  InstagramTimeoutError,
  InstagramTokenInvalidError,
  InstagramTransientError,
  TokenRefreshNotAllowedError,
  appsecretProof,
  type InstagramClientOptions,
  type InstagramUsage,
  type LongLivedToken,
} from '../src/infrastructure/instagram';

const REDIRECT = 'https://ssell.example.com/instagram/oauth/callback';
const HOUR = 3_600_000;
const TIMEOUT_MS = 400;

// Everything the client logs, as pino writes it.
const logLines: string[] = [];
const logger = pino({ level: 'trace' }, { write: (line: string) => logLines.push(line) });
// Every error the client threw, and every credential that went over the wire.
const thrown: unknown[] = [];
const secrets = new Set<string>();
const clients: InstagramClient[] = [];
const emulators: RunningEmulator[] = [];
const usageSeen: InstagramUsage[] = [];

let emu: RunningEmulator;
let client: InstagramClient;

function makeClient(
  target: RunningEmulator,
  overrides: Partial<InstagramClientOptions> = {},
): InstagramClient {
  secrets.add(overrides.appSecret ?? target.appSecret);
  const created = new InstagramClient(
    {
      appId: target.appId,
      appSecret: target.appSecret,
      redirectUri: REDIRECT,
      oauthUrl: target.url,
      apiUrl: target.url,
      graphApiUrl: `${target.url}/v25.0`,
      extraScopes: ['instagram_business_manage_insights', 'instagram_business_basic'],
      sendAppsecretProof: true,
      timeoutMs: TIMEOUT_MS,
      maxRetries: 2,
      retryBaseDelayMs: 5,
      retryMaxDelayMs: 20,
      now: () => target.state.now(),
      onUsage: (usage) => usageSeen.push(usage),
      ...overrides,
    },
    logger,
  );
  clients.push(created);
  return created;
}

async function startTracked(options: Parameters<typeof startEmulator>[0] = {}) {
  const started = await startEmulator({ port: 0, ...options });
  emulators.push(started);
  return started;
}

/** Runs `fn` and tells how many requests the emulator received meanwhile. */
async function counting<T>(target: RunningEmulator, fn: () => Promise<T>) {
  const before = target.state.requests().length;
  const settled = await fn().then(
    (value) => ({ value, error: undefined }),
    (error: unknown) => {
      thrown.push(error);
      return { value: undefined, error };
    },
  );
  return { ...settled, requests: target.state.requests().length - before };
}

/** A code for `account` through the client's own authorize URL and the dialog's test shortcut. */
async function authorize(target: RunningEmulator, via: InstagramClient, account: string) {
  const url = new URL(via.buildAuthorizeUrl({ state: 'state-1' }));
  url.searchParams.set('__approve', account);
  const response = await fetch(url, { redirect: 'manual' });
  expect(response.status).toBe(302);
  const code = new URL(response.headers.get('location')!).searchParams.get('code')!;
  secrets.add(code);
  return code;
}

/** Long-lived token for `account`, the whole way through the OAuth flow. */
async function connect(
  target: RunningEmulator,
  via: InstagramClient,
  account: string,
): Promise<LongLivedToken> {
  const short = await via.exchangeCode(await authorize(target, via, account));
  secrets.add(short.accessToken);
  const long = await via.exchangeForLongLivedToken(short.accessToken);
  secrets.add(long.accessToken);
  return long;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

beforeAll(async () => {
  emu = await startTracked();
  client = makeClient(emu);
});

beforeEach(() => {
  emu.state.clearInjections();
  emu.state.updateSettings({
    codeExchangeShape: 'flat',
    meShape: 'flat',
    userIdAsNumber: false,
    requireAppsecretProof: false,
    unavailableFields: [],
  });
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all(emulators.map((e) => e.close()));
});

describe('InstagramClient against the emulator', () => {
  it('builds the authorize URL Meta expects', () => {
    const url = new URL(client.buildAuthorizeUrl({ state: 'abc' }));
    expect(url.origin + url.pathname).toBe(`${emu.url}/oauth/authorize`);
    expect(Object.fromEntries(url.searchParams)).toEqual({
      client_id: emu.appId,
      redirect_uri: REDIRECT,
      response_type: 'code',
      scope: 'instagram_business_basic,instagram_business_manage_insights',
      state: 'abc',
    });
    const custom = new URL(
      client.buildAuthorizeUrl({ state: 's', scopes: ['instagram_business_manage_comments'] }),
    );
    expect(custom.searchParams.get('scope')).toBe(
      'instagram_business_basic,instagram_business_manage_comments',
    );
  });

  it('asks Instagram to choose the account again for a reconnect (force_reauth=true)', () => {
    const url = new URL(client.buildAuthorizeUrl({ state: 'abc', forceReauth: true }));
    expect(url.searchParams.get('force_reauth')).toBe('true');
    expect(url.searchParams.get('state')).toBe('abc');
    const plain = new URL(client.buildAuthorizeUrl({ state: 'abc', forceReauth: false }));
    expect(plain.searchParams.has('force_reauth')).toBe(false);
  });

  it('walks the whole token life: code, short, long, refresh after 24 h', async () => {
    const code = await authorize(emu, client, 'metricsaurus');
    const short = await client.exchangeCode(code);
    secrets.add(short.accessToken);
    expect(short.userId).toBe('9007199254740993');
    expect(short.permissions).toEqual([
      'instagram_business_basic',
      'instagram_business_manage_insights',
    ]);
    expect(short.accessToken).toMatch(/^IGAA/);

    const long = await client.exchangeForLongLivedToken(short.accessToken);
    secrets.add(long.accessToken);
    expect(long.tokenType).toBe('bearer');
    expect(long.expiresIn).toBe(5_183_944);
    expect(long.expiresAt.getTime() - long.issuedAt.getTime()).toBe(5_183_944_000);

    // Too young: refused by the client, nothing sent.
    const early = await counting(emu, () => client.refreshLongLivedToken(long.accessToken, long));
    expect(early.error).toBeInstanceOf(TokenRefreshNotAllowedError);
    expect((early.error as TokenRefreshNotAllowedError).reason).toBe('too_young');
    expect((early.error as TokenRefreshNotAllowedError).retryAt?.getTime()).toBe(
      long.issuedAt.getTime() + 24 * HOUR,
    );
    expect(early.requests).toBe(0);

    emu.state.advanceClock(25 * HOUR);
    const refreshed = await counting(emu, () =>
      client.refreshLongLivedToken(long.accessToken, long),
    );
    expect(refreshed.requests).toBe(1);
    const fresh = refreshed.value!;
    secrets.add(fresh.accessToken);
    expect(fresh.accessToken).not.toBe(long.accessToken);
    expect(fresh.expiresAt.getTime()).toBeGreaterThan(long.expiresAt.getTime());
    expect((await client.getProfile(fresh.accessToken)).username).toBe('metricsaurus');

    // Past expiry: refused locally too.
    emu.state.advanceClock(61 * 24 * HOUR);
    const late = await counting(emu, () => client.refreshLongLivedToken(long.accessToken, long));
    expect((late.error as TokenRefreshNotAllowedError).reason).toBe('expired');
    expect(late.requests).toBe(0);
  });

  it('fetches a typed profile with exact ids', async () => {
    const token = await connect(emu, client, 'lena.bakes');
    const profile = await client.getProfile(token.accessToken);
    expect(profile).toEqual({
      id: '26181203548593114',
      userId: '17841463195712048',
      username: 'lena.bakes',
      name: 'Lena Okafor | Home Baking',
      accountType: 'Media_Creator',
      profilePictureUrl: expect.stringMatching(
        /\/__pictures\/17841463195712048_1_n\.png\?.*oh=00_.*&oe=[0-9A-F]+$/,
      ),
      followersCount: 48213,
      followsCount: 512,
      mediaCount: 387,
      biography: 'Sourdough every Sunday 🍞 Recipes, classes and flour-covered mistakes.',
      website: 'https://lenabakes.example.com/',
    });
    // The token went in the Authorization header, the proof in the query.
    const sent = emu.state.requests({ path: '/v25.0/me' }).at(-1)!;
    expect(sent.authorization).toBe(`Bearer ${token.accessToken}`);
    expect(sent.query.access_token).toBeUndefined();
    expect(sent.query.appsecret_proof).toBe(appsecretProof(emu.appSecret, token.accessToken));
    secrets.add(sent.query.appsecret_proof!);
  });

  it('accepts the wrapped {data:[…]} shapes and a bare-number user_id', async () => {
    emu.state.updateSettings({ codeExchangeShape: 'wrapped', meShape: 'wrapped' });
    const token = await connect(emu, client, 'northwind.coffee');
    const profile = await client.getProfile(token.accessToken);
    expect(profile).toMatchObject({
      id: '8423156642019873',
      userId: '17841452983315520',
      accountType: 'Business',
    });

    emu.state.updateSettings({ codeExchangeShape: 'flat', userIdAsNumber: true });
    const code = await authorize(emu, client, 'metricsaurus');
    const short = await client.exchangeCode(code);
    secrets.add(short.accessToken);
    // 9007199254740993 parsed as a number would come back as …992.
    expect(short.userId).toBe('9007199254740993');

    emu.state.updateSettings({ codeExchangeShape: 'wrapped' });
    const wrapped = await client.exchangeCode(await authorize(emu, client, 'metricsaurus'));
    secrets.add(wrapped.accessToken);
    expect(wrapped.userId).toBe('9007199254740993');
    expect(wrapped.permissions).toEqual([
      'instagram_business_basic',
      'instagram_business_manage_insights',
    ]);
  });

  it('proves the emulator really sends the bare big number', async () => {
    emu.state.updateSettings({ userIdAsNumber: true });
    const { code } = emu.state.authorize({
      account: 'metricsaurus',
      clientId: emu.appId,
      redirectUri: REDIRECT,
      scopes: ['instagram_business_basic'],
    });
    secrets.add(code);
    const response = await fetch(`${emu.url}/oauth/access_token`, {
      method: 'POST',
      body: new URLSearchParams({
        client_id: emu.appId,
        client_secret: emu.appSecret,
        grant_type: 'authorization_code',
        redirect_uri: REDIRECT,
        code,
      }),
    });
    const text = await response.text();
    secrets.add((JSON.parse(text) as { access_token: string }).access_token);
    expect(text).toContain('"user_id":9007199254740993');
  });

  describe('errors', () => {
    let token: LongLivedToken;
    // Fresh each time: some tests move the emulator clock past a token's expiry.
    beforeEach(async () => {
      token = await connect(emu, client, 'metricsaurus');
    });

    it('maps 190/460 (password changed) without retrying', async () => {
      const victim = await connect(emu, client, 'lena.bakes');
      emu.state.invalidateTokens('lena.bakes', 'password_changed');
      const result = await counting(emu, () => client.getProfile(victim.accessToken));
      expect(result.error).toBeInstanceOf(InstagramTokenInvalidError);
      expect(result.error).toMatchObject({
        code: 190,
        subcode: 460,
        reason: 'password_changed',
        httpStatus: 400,
      });
      expect(result.requests).toBe(1);
    });

    it('maps 190/463 (expired), invalidated or simply old', async () => {
      const victim = await connect(emu, client, 'northwind.coffee');
      emu.state.invalidateTokens('northwind.coffee', 'expired');
      const invalidated = await counting(emu, () => client.getProfile(victim.accessToken));
      expect(invalidated.error).toMatchObject({ code: 190, subcode: 463, reason: 'expired' });

      const old = await connect(emu, client, 'northwind.coffee');
      emu.state.advanceClock(61 * 24 * HOUR);
      const expired = await counting(emu, () => client.getProfile(old.accessToken));
      expect(expired.error).toBeInstanceOf(InstagramTokenInvalidError);
      expect((expired.error as Error).message).toMatch(/Session has expired/);
      expect(expired.requests).toBe(1);
    });

    it('maps an app-level rate limit (code 4, X-App-Usage at 100) and does not retry it', async () => {
      emu.state.inject({ kind: 'rate_limit_app' });
      const result = await counting(emu, () => client.getProfile(token.accessToken));
      expect(result.error).toBeInstanceOf(InstagramRateLimitError);
      const limit = result.error as InstagramRateLimitError;
      expect(limit).toMatchObject({
        code: 4,
        scope: 'app',
        resetAtFromMeta: false,
        httpStatus: 403,
      });
      expect(limit.usage?.app?.callCount).toBe(100);
      expect(client.lastUsage?.app?.callCount).toBe(100);
      expect(limit.resetAt.getTime() - emu.state.now().getTime()).toBeGreaterThan(HOUR - 5000);
      expect(result.requests).toBe(1);
    });

    it('maps an Instagram BUC limit (80002) with the reset time Meta estimates', async () => {
      emu.state.inject({ kind: 'rate_limit_account', account: 'metricsaurus', regainMinutes: 19 });
      const result = await counting(emu, () => client.getProfile(token.accessToken));
      const limit = result.error as InstagramRateLimitError;
      expect(limit).toBeInstanceOf(InstagramRateLimitError);
      expect(limit).toMatchObject({
        code: 80002,
        scope: 'business_use_case',
        resetAtFromMeta: true,
      });
      const expected = emu.state.now().getTime() + 19 * 60_000;
      expect(Math.abs(limit.resetAt.getTime() - expected)).toBeLessThan(5000);
      expect(limit.usage?.businessUseCase?.[0]).toMatchObject({
        businessId: '17841405822304914',
        estimatedTimeToRegainAccessMinutes: 19,
      });
      expect(result.requests).toBe(1);
    });

    it('maps 100 (nonexisting field) to a bad request, once', async () => {
      emu.state.updateSettings({ unavailableFields: ['user_id'] });
      const result = await counting(emu, () => client.getProfile(token.accessToken));
      expect(result.error).toBeInstanceOf(InstagramBadRequestError);
      expect(result.error).toMatchObject({ code: 100, type: 'OAuthException' });
      expect((result.error as Error).message).toBe(
        '(#100) Tried accessing nonexisting field (user_id) on node type (User)',
      );
      expect(result.requests).toBe(1);
    });

    it('drops an optional field Meta does not serve and remembers it', async () => {
      const own = makeClient(emu);
      emu.state.updateSettings({ unavailableFields: ['biography'] });
      const first = await counting(emu, () => own.getProfile(token.accessToken));
      expect(first.requests).toBe(2);
      expect(first.value?.biography).toBeUndefined();
      expect(first.value?.website).toBe('http://www.metricsaurus.com/');
      const second = await counting(emu, () => own.getProfile(token.accessToken));
      expect(second.requests).toBe(1);
    });

    it('maps the code exchange error body', async () => {
      const code = await authorize(emu, client, 'metricsaurus');
      secrets.add((await client.exchangeCode(code)).accessToken);
      const again = await counting(emu, () => client.exchangeCode(code));
      expect(again.error).toBeInstanceOf(InstagramBadRequestError);
      expect(again.error).toMatchObject({
        code: undefined,
        type: 'OAuthException',
        message: 'Matching code was not found or was already used',
        httpStatus: 400,
      });
      expect(again.requests).toBe(1);
    });

    it('retries a transient 500 (code 2) and succeeds on the second request', async () => {
      emu.state.inject({ kind: 'transient' });
      const result = await counting(emu, () => client.getProfile(token.accessToken));
      expect(result.error).toBeUndefined();
      expect(result.value?.username).toBe('metricsaurus');
      expect(result.requests).toBe(2);
    });

    it('gives up on a persistent transient error after maxRetries', async () => {
      emu.state.inject({ kind: 'transient', count: 10 });
      const result = await counting(emu, () => client.getProfile(token.accessToken));
      expect(result.error).toBeInstanceOf(InstagramTransientError);
      expect(result.error).toMatchObject({ code: 2, isTransient: true, httpStatus: 500 });
      expect(result.requests).toBe(3);
    });

    it('retries a non-JSON 502', async () => {
      emu.state.inject({ kind: 'server_error_html' });
      const result = await counting(emu, () =>
        client.exchangeForLongLivedToken('IGAAnot-a-real-token'),
      );
      expect(result.requests).toBe(2);
      // The second attempt reaches the real handler, which does not know this token.
      expect(result.error).toBeInstanceOf(InstagramTokenInvalidError);
    });

    it('sends a 4xx exactly once', async () => {
      emu.state.inject({
        kind: 'error',
        status: 400,
        error: { code: 10, message: '(#10) Permission denied' },
      });
      const result = await counting(emu, () => client.getProfile(token.accessToken));
      expect(result.error).toMatchObject({ kind: 'permission', code: 10 });
      expect(result.requests).toBe(1);
    });

    it('times out a hang, retries it, and reports a typed timeout when it persists', async () => {
      emu.state.inject({ kind: 'hang', delayMs: TIMEOUT_MS * 5 });
      const once = await counting(emu, () => client.getProfile(token.accessToken));
      expect(once.error).toBeUndefined();
      expect(once.requests).toBe(2);

      emu.state.inject({ kind: 'hang', delayMs: TIMEOUT_MS * 5, count: 3 });
      const started = Date.now();
      const always = await counting(emu, () => client.getProfile(token.accessToken));
      expect(always.error).toBeInstanceOf(InstagramTimeoutError);
      expect(always.error).toMatchObject({
        kind: 'timeout',
        timeoutMs: TIMEOUT_MS,
        operation: 'getProfile',
      });
      expect(always.requests).toBe(3);
      expect(Date.now() - started).toBeLessThan(TIMEOUT_MS * 3 + 1500);
    });

    it('ends a call at its deadline across attempts, whatever the retries allow', async () => {
      // 10 retries of 400 ms would take more than 4 s; the deadline ends the call at 700 ms, in
      // the middle of the second attempt.
      const bounded = makeClient(emu, { maxRetries: 10, deadlineMs: 700 });
      emu.state.inject({ kind: 'hang', delayMs: TIMEOUT_MS * 10, count: 20 });
      const started = Date.now();
      const result = await counting(emu, () => bounded.getProfile(token.accessToken));
      const elapsed = Date.now() - started;
      expect(result.error).toBeInstanceOf(InstagramTimeoutError);
      expect(result.error).toMatchObject({ kind: 'timeout', operation: 'getProfile' });
      expect((result.error as Error).message).toMatch(/deadline of 700 ms/);
      expect(elapsed).toBeGreaterThanOrEqual(650);
      expect(elapsed).toBeLessThan(1000);
      expect(result.requests).toBe(2);
    });

    it('starts no attempt and waits no backoff past what the deadline leaves', async () => {
      // Backoff of 2 s after the first timeout would overshoot a 1 s deadline: it is cut short so
      // that the last attempt still gets its quarter second, and the call ends at the deadline.
      const bounded = makeClient(emu, {
        maxRetries: 10,
        deadlineMs: 1000,
        retryBaseDelayMs: 2000,
        retryMaxDelayMs: 2000,
      });
      emu.state.inject({ kind: 'hang', delayMs: TIMEOUT_MS * 10, count: 20 });
      const started = Date.now();
      const result = await counting(emu, () => bounded.getProfile(token.accessToken));
      const elapsed = Date.now() - started;
      expect(result.error).toBeInstanceOf(InstagramTimeoutError);
      expect(elapsed).toBeLessThan(1300);
      expect(result.requests).toBeLessThanOrEqual(2);
    });

    it("ends a call when the caller's signal aborts, before the client's own deadline", async () => {
      emu.state.inject({ kind: 'hang', delayMs: TIMEOUT_MS * 10, count: 5 });
      const started = Date.now();
      const result = await counting(emu, () =>
        client.getProfile(token.accessToken, { signal: AbortSignal.timeout(150) }),
      );
      expect(result.error).toBeInstanceOf(InstagramTimeoutError);
      expect(Date.now() - started).toBeLessThan(TIMEOUT_MS);
      expect(result.requests).toBe(1);
    });

    it('retries a dropped connection', async () => {
      emu.state.inject({ kind: 'drop' });
      const once = await counting(emu, () => client.getProfile(token.accessToken));
      expect(once.error).toBeUndefined();
      expect(once.requests).toBe(2);

      emu.state.inject({ kind: 'drop', count: 3 });
      const always = await counting(emu, () => client.getProfile(token.accessToken));
      expect(always.error).toBeInstanceOf(InstagramNetworkError);
      expect(always.error).toMatchObject({ kind: 'network', causeCode: 'UND_ERR_SOCKET' });
      expect(always.requests).toBe(3);
    });

    it('reports a refused connection as a network error after retrying', async () => {
      const port = await freePort();
      const dead = makeClient(emu, {
        apiUrl: `http://127.0.0.1:${port}`,
        graphApiUrl: `http://127.0.0.1:${port}/v25.0`,
      });
      const started = Date.now();
      const result = await counting(emu, () => dead.getProfile(token.accessToken));
      expect(result.error).toBeInstanceOf(InstagramNetworkError);
      expect((result.error as InstagramNetworkError).causeCode).toBe('ECONNREFUSED');
      expect(Date.now() - started).toBeLessThan(2000);
    });
  });

  it('reads the usage headers of every response', async () => {
    const token = await connect(emu, client, 'metricsaurus');
    usageSeen.length = 0;
    const profile = await client.getProfile(token.accessToken);
    expect(client.lastUsage?.app).toEqual({
      callCount: expect.any(Number),
      totalTime: expect.any(Number),
      totalCputime: expect.any(Number),
    });
    expect(client.lastUsage?.businessUseCase).toEqual([
      expect.objectContaining({ businessId: profile.userId, type: 'instagram' }),
    ]);
    expect(usageSeen).toHaveLength(1);
    expect(usageSeen[0]).toBe(client.lastUsage);
  });

  it('sends an appsecret_proof the emulator accepts, and a wrong one is rejected', async () => {
    const strict = await startTracked({ requireAppsecretProof: true });
    const good = makeClient(strict);
    const token = await connect(strict, good, 'lena.bakes');
    expect((await good.getProfile(token.accessToken)).username).toBe('lena.bakes');

    const wrongSecret = 'not-the-app-secret';
    secrets.add(appsecretProof(wrongSecret, token.accessToken));
    const wrong = makeClient(strict, { appSecret: wrongSecret });
    const rejected = await counting(strict, () => wrong.getProfile(token.accessToken));
    expect(rejected.error).toBeInstanceOf(InstagramBadRequestError);
    expect(rejected.error).toMatchObject({
      code: 100,
      type: 'GraphMethodException',
      message: 'Invalid appsecret_proof provided in the API argument',
    });
    expect(rejected.requests).toBe(1);

    const none = makeClient(strict, { sendAppsecretProof: false });
    const missing = await counting(strict, () => none.getProfile(token.accessToken));
    expect((missing.error as Error).message).toBe(
      'API calls from the server require an appsecret_proof argument',
    );
  });

  it('says honestly that tokens cannot be revoked', async () => {
    const result = await counting(emu, () => client.revokeToken('IGAAwhatever'));
    expect(result.value).toEqual({
      revoked: false,
      reason: 'unsupported',
      detail: expect.stringContaining('no token revocation endpoint'),
    });
    expect(result.requests).toBe(0);
  });

  it('is constructible from the service configuration', async () => {
    const config: InstagramConfig = {
      demo: true,
      appId: emu.appId,
      appSecret: emu.appSecret,
      redirectUri: REDIRECT,
      oauthUrl: emu.url,
      apiUrl: emu.url,
      graphApiUrl: `${emu.url}/v25.0`,
      extraScopes: [],
      timeoutMs: 10_000,
      deadlineMs: 12_000,
      maxRetries: 3,
      sendAppsecretProof: true,
    };
    const fromConfig = new InstagramClient(config, logger);
    clients.push(fromConfig);
    const token = await connect(emu, fromConfig, 'metricsaurus');
    expect((await fromConfig.getProfile(token.accessToken)).userId).toBe('17841405822304914');
  });

  it('rejects a Graph URL without a version', () => {
    expect(() => makeClient(emu, { graphApiUrl: emu.url })).toThrow(/version/);
  });

  // Last: everything above has run.
  it('never logged or threw a token, code, secret or proof', () => {
    for (const target of emulators) {
      for (const token of target.state.tokens.keys()) {
        secrets.add(token);
        secrets.add(appsecretProof(target.appSecret, token));
      }
    }
    expect(secrets.size).toBeGreaterThan(20);
    expect(logLines.length).toBeGreaterThan(20);
    expect(thrown.length).toBeGreaterThan(10);
    // The log has the calls, with the credentials blanked out.
    expect(logLines.some((l) => l.includes('access_token=[REDACTED]'))).toBe(true);
    expect(logLines.some((l) => l.includes('appsecret_proof=[REDACTED]'))).toBe(true);

    const texts = [
      ...logLines,
      ...thrown.map((e) =>
        e instanceof Error ? `${String(e)}\n${e.stack ?? ''}\n${JSON.stringify(e)}` : String(e),
      ),
    ];
    for (const text of texts) {
      for (const secret of secrets) {
        expect(
          text.includes(secret),
          `leaked ${secret.slice(0, 8)}… in: ${text.slice(0, 200)}`,
        ).toBe(false);
      }
    }
  });
});
