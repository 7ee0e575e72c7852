/**
 * IG-001's connect, end to end over sockets: the real service on its own database, the emulator
 * as Instagram's three hosts, the consent page answered through its test shortcut.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../emulator/emulator';
import { LOGIN_COOKIE as INSTAGRAM_LOGIN_COOKIE } from '../emulator/oauth-routes';
import {
  EXPIRED_STATE_MESSAGE,
  INVALID_STATE_MESSAGE,
  missingBindingMessage,
} from '../src/modules/instagram/services/instagram-connect.service';
import { startTestApp, type TestApp } from './helpers/app';
import {
  cookieFrom,
  http,
  registerUser,
  type HttpResult,
  type RegisteredUser as User,
} from './helpers/http';
import {
  OAUTH_BINDING_COOKIE as BINDING_COOKIE,
  connectViaOAuth,
  emulatorEnv,
  startInstagramTestApp,
  type InstagramTestApp,
} from './helpers/instagram-fixtures';

const PUBLIC_URL = 'http://ssell.test';
const REDIRECT_URI = `${PUBLIC_URL}/instagram/oauth/callback`;
const DAY_MS = 24 * 60 * 60 * 1000;

let app: InstagramTestApp;
let emu: RunningEmulator;
let t: TestApp;
/** Everything the service answered (bodies and headers), scanned for secrets at the end. */
const seen: string[] = [];
/** Authorization codes the emulator issued. */
const codes = new Set<string>();

function record(res: HttpResult): HttpResult {
  seen.push(res.text, JSON.stringify([...res.headers]));
  return res;
}

async function call(path: string, options: Parameters<typeof http>[3] = {}) {
  return record(await http(t.url, 'GET', path, options));
}

interface Authorized {
  url: URL;
  state: string;
  /** The browser's binding cookie as a Cookie header pair, `ssell_oauth=<binding>`. */
  cookie: string;
  binding: string;
}

/**
 * GET /instagram/oauth/authorize for `user`: the consent URL, its state and the binding cookie
 * set. `browser` is the Cookie header the browser sends (an earlier binding), if any;
 * `accountId` makes it a reconnect of that account.
 */
async function authorize(user: User, browser?: string, accountId?: string): Promise<Authorized> {
  const query = accountId ? `?accountId=${accountId}` : '';
  const res = await call(`/instagram/oauth/authorize${query}`, {
    token: user.token,
    ...(browser ? { cookie: browser } : {}),
  });
  expect(res.status).toBe(302);
  const url = new URL(res.headers.get('location')!);
  const cookie = cookieFrom(res.headers, BINDING_COOKIE)!;
  expect(cookie).toMatch(/^ssell_oauth=[A-Za-z0-9_-]{43}$/);
  return {
    url,
    state: url.searchParams.get('state')!,
    cookie,
    binding: cookie.slice(BINDING_COOKIE.length + 1),
  };
}

/**
 * The person answers the consent page (`__approve=<username>` or `__deny=1`); returns the
 * callback path and query the emulator redirected to, exactly as a browser would request it.
 */
async function consent(url: URL, answer: { approve: string } | { deny: true }): Promise<string> {
  const dialog = new URL(url);
  if ('approve' in answer) dialog.searchParams.set('__approve', answer.approve);
  else dialog.searchParams.set('__deny', '1');
  const res = await fetch(dialog, { redirect: 'manual' });
  expect(res.status).toBe(302);
  const back = new URL(res.headers.get('location')!);
  expect(`${back.origin}${back.pathname}`).toBe(REDIRECT_URI);
  const code = back.searchParams.get('code');
  if (code) codes.add(code);
  // Browsers drop the fragment (`#_`); the service must not need it either way.
  return `${back.pathname}${back.search}`;
}

/**
 * The person answers the consent page itself, as a browser logged in to Instagram as
 * `loggedInAs` (the emulator's login cookie): loads the page, picks `username` among the
 * accounts it offers and presses Allow. The callback path and query, as `consent` returns.
 */
async function consentOnPage(
  url: URL,
  username: string,
  loggedInAs: string,
): Promise<{ callback: string; offered: string[] }> {
  const headers = { cookie: `${INSTAGRAM_LOGIN_COOKIE}=${emulatorAccount(loggedInAs).userId}` };
  const page = await fetch(url, { headers });
  expect(page.status).toBe(200);
  const html = await page.text();
  const form = /<form id="consent-approve"[^>]*>([\s\S]*?)<\/form>/.exec(html)?.[1] ?? '';
  const fields = new URLSearchParams();
  for (const [, name, value] of form.matchAll(
    /<input type="hidden" name="([^"]+)" value="([^"]*)">/g,
  )) {
    fields.set(name!, value!.replaceAll('&amp;', '&'));
  }
  const offered = [...form.matchAll(/name="account"\s+value="(\d+)"/g)].map((m) => m[1]!);
  const choice = emulatorAccount(username).userId;
  expect(offered).toContain(choice);
  fields.set('account', choice);
  fields.set('decision', 'approve');
  const res = await fetch(new URL('/oauth/authorize', url), {
    method: 'POST',
    headers,
    body: fields,
    redirect: 'manual',
  });
  expect(res.status).toBe(302);
  const back = new URL(res.headers.get('location')!);
  expect(`${back.origin}${back.pathname}`).toBe(REDIRECT_URI);
  codes.add(back.searchParams.get('code')!);
  return {
    callback: `${back.pathname}${back.search}`,
    offered: offered.map((id) => emu.state.findAccount(id)!.username),
  };
}

/** The callback's redirect target, parsed. */
function landing(res: HttpResult): URL {
  expect(res.status).toBe(302);
  const location = res.headers.get('location')!;
  expect(location.startsWith(`${PUBLIC_URL}/?`)).toBe(true);
  return new URL(location);
}

/**
 * A refused state: the browser still lands on the page (302, no JSON), with `invalid_state` and
 * a sentence, which this returns.
 */
function refusedState(res: HttpResult): string {
  const target = landing(res);
  expect(res.headers.get('cache-control')).toBe('no-store');
  expect(res.headers.get('content-type') ?? '').not.toContain('json');
  expect([...target.searchParams.keys()]).toEqual(['error', 'error_description']);
  expect(target.searchParams.get('error')).toBe('invalid_state');
  return target.searchParams.get('error_description')!;
}

/** The whole connect, every response recorded; the account's id. */
async function connect(user: User, username: string): Promise<string> {
  const connected = await connectViaOAuth(t, user, username, {
    publicUrl: PUBLIC_URL,
    onResponse: record,
  });
  codes.add(connected.code);
  return connected.accountId;
}

const count = async (sql: string, values: unknown[] = []) =>
  (await t.db.one<{ n: number }>(`SELECT count(*)::int AS n FROM (${sql}) x`, values)).n;

const accountRow = (platformAccountId: string) =>
  t.db.oneOrNone(
    `SELECT id, user_id, platform_account_id, username, status, metadata, permissions,
            token_expires_at, account_type, follower_count
     FROM client_accounts WHERE platform_account_id = $1`,
    [platformAccountId],
  );

const tokenRow = (accountId: string) =>
  t.db.oneOrNone(
    `SELECT ciphertext, token_type, issued_at, expires_at, last_refreshed_at, scopes
     FROM account_tokens WHERE account_id = $1`,
    [accountId],
  );

/**
 * Everything a connect may write, whole tables: accounts, tokens (ciphertext included), events,
 * metric snapshots and queued jobs. Jobs stay put here: the test app runs no workers.
 */
const everything = () =>
  t.db.one(
    `SELECT (SELECT json_agg(a ORDER BY a.id) FROM client_accounts a) AS accounts,
            (SELECT json_agg(k ORDER BY k.account_id) FROM account_tokens k) AS tokens,
            (SELECT json_agg(e ORDER BY e.created_at, e.id) FROM account_events e) AS events,
            (SELECT json_agg(m ORDER BY m.id) FROM account_metric_snapshots m) AS snapshots,
            (SELECT json_agg(j ORDER BY j.id)
               FROM (SELECT id, name, state, data, singleton_key FROM pgboss.job) j) AS jobs`,
  );

const eventTypes = async (accountId: string) =>
  (
    await t.db.manyOrNone<{ type: string }>(
      'SELECT type FROM account_events WHERE account_id = $1 ORDER BY created_at, id',
      [accountId],
    )
  ).map((r) => r.type);

/** What oauth_states stores for a state started in the browser holding `binding`. */
const hashOf = (state: string, binding: string) =>
  createHash('sha256').update(`${state}.${binding}`).digest();
const stateRows = (state: string, binding: string) =>
  count('SELECT 1 FROM oauth_states WHERE state_hash = $1', [hashOf(state, binding)]);

const emulatorAccount = (username: string) => emu.state.findAccount(username)!;

/** The newest long-lived token the emulator issued for `username`. */
function latestLongToken(username: string): string {
  const { userId } = emulatorAccount(username);
  const tokens = [...emu.state.tokens.values()].filter(
    (tk) => tk.userId === userId && tk.kind === 'long',
  );
  return tokens.at(-1)!.token;
}

beforeAll(async () => {
  app = await startInstagramTestApp({ PUBLIC_URL, INSTAGRAM_TIMEOUT_MS: '2000' });
  ({ t, emu } = app);
  emu.state.createAccount({ username: 'metricsaurus2', accountType: 'Media_Creator' });
  emu.state.createAccount({ username: 'reconnector', accountType: 'Business' });
  for (const username of [
    'binding.late',
    'binding.victim',
    'binding.tab1',
    'binding.tab2',
    'reconnect.bound',
    'reconnect.owned',
    'reconnect.right',
    'reconnect.broken',
    'reconnect.mine',
    'reconnect.stranger',
    'reconnect.removed',
  ]) {
    emu.state.createAccount({ username, accountType: 'Business' });
  }
});

beforeEach(() => {
  emu.state.clearInjections();
});

afterAll(async () => {
  await app?.close();
});

describe('GET /instagram/oauth/authorize', () => {
  it('needs a session', async () => {
    const res = await call('/instagram/oauth/authorize');
    expect(res.status).toBe(401);
    expect(res.body).toMatchObject({ statusCode: 401, error: 'Unauthorized' });
  });

  it("redirects to Instagram's consent page with a single-use state bound to the user and the browser", async () => {
    const user = await registerUser(t.url);
    const res = await call('/instagram/oauth/authorize', { cookie: user.cookie });
    expect(res.status).toBe(302);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const binding = cookieFrom(res.headers, BINDING_COOKIE)!.slice(BINDING_COOKIE.length + 1);
    expect(binding).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const url = new URL(res.headers.get('location')!);
    expect(`${url.origin}${url.pathname}`).toBe(`${emu.url}/oauth/authorize`);
    const params = Object.fromEntries(url.searchParams);
    expect(params).toEqual({
      client_id: emu.appId,
      redirect_uri: REDIRECT_URI,
      response_type: 'code',
      scope: expect.stringContaining('instagram_business_basic'),
      state: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
    });

    // Only the hash of state and binding is stored, for this user, for ten minutes.
    const rows = await t.db.manyOrNone(
      `SELECT state_hash, user_id, extract(epoch FROM expires_at - now())::int AS ttl
       FROM oauth_states WHERE user_id = $1`,
      [user.userId],
    );
    expect(rows).toHaveLength(1);
    expect(rows[0].state_hash.equals(hashOf(params.state!, binding))).toBe(true);
    const stateAlone = createHash('sha256').update(params.state!).digest();
    expect(rows[0].state_hash.equals(stateAlone)).toBe(false);
    expect(rows[0].ttl).toBeGreaterThan(590);
    expect(rows[0].ttl).toBeLessThanOrEqual(600);
    expect(await count(`SELECT 1 FROM oauth_states WHERE state_hash = $1`, [params.state])).toBe(0);
  });

  it('answers {url} with ?format=json, and refuses unknown parameters', async () => {
    const user = await registerUser(t.url);
    const res = await call('/instagram/oauth/authorize?format=json', { token: user.token });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(Object.keys(res.body)).toEqual(['url']);
    expect(new URL(res.body.url).searchParams.get('client_id')).toBe(emu.appId);
    // The page calls this with fetch, then navigates: the binding cookie is set here too.
    expect(cookieFrom(res.headers, BINDING_COOKIE)).toMatch(/^ssell_oauth=[A-Za-z0-9_-]{43}$/);

    expect(
      (await call('/instagram/oauth/authorize?format=xml', { token: user.token })).status,
    ).toBe(400);
    expect((await call('/instagram/oauth/authorize?foo=1', { token: user.token })).status).toBe(
      400,
    );
  });

  it('keeps only the newest states of a user and purges expired ones', async () => {
    const user = await registerUser(t.url);
    for (let i = 0; i < 12; i++) await authorize(user);
    expect(await count('SELECT 1 FROM oauth_states WHERE user_id = $1', [user.userId])).toBe(10);

    await t.db.none(`UPDATE oauth_states SET expires_at = now() - interval '1 second'`);
    await authorize(user);
    expect(await count('SELECT 1 FROM oauth_states WHERE expires_at <= now()')).toBe(0);
  });
});

describe('GET /instagram/oauth/info', () => {
  it('says whether Instagram is emulated and which scopes are asked for', async () => {
    const user = await registerUser(t.url);
    const res = await call('/instagram/oauth/info', { token: user.token });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ demo: false, scopes: ['instagram_business_basic'] });
    expect((await call('/instagram/oauth/info')).status).toBe(401);
  });
});

describe('GET /instagram/oauth/callback', () => {
  it('connects the account: row, encrypted token, event and a queued sync', async () => {
    const user = await registerUser(t.url);
    const { url, state, cookie, binding } = await authorize(user);
    const callback = await consent(url, { approve: 'metricsaurus' });
    const started = Date.now();
    // Meta appends `#_`; a client that keeps it (percent-encoded into the code) still works.
    const res = await call(callback.replace(/(code=[^&]+)/, '$1%23_'), { cookie });
    const target = landing(res);
    expect([...target.searchParams.keys()]).toEqual(['connected']);
    const accountId = target.searchParams.get('connected')!;

    const ig = emulatorAccount('metricsaurus');
    const row = await accountRow(ig.userId);
    expect(row).toMatchObject({
      id: accountId,
      user_id: user.userId,
      platform_account_id: '17841405822304914',
      username: 'metricsaurus',
      status: 'active',
      account_type: 'business',
      follower_count: 1200,
      permissions: ['instagram_business_basic'],
    });
    expect(row.metadata).toMatchObject({
      igId: '9007199254740993',
      igBusinessAccountId: '17841405822304914',
    });
    const lifetime = row.token_expires_at.getTime() - started;
    expect(Math.abs(lifetime - 5_183_944_000)).toBeLessThan(60_000);
    expect(Math.abs(lifetime - 60 * DAY_MS)).toBeLessThan(DAY_MS);

    const token = await tokenRow(accountId);
    expect(token).toMatchObject({ token_type: 'long_lived', scopes: ['instagram_business_basic'] });
    expect(token.expires_at.getTime()).toBe(row.token_expires_at.getTime());
    const plaintext = latestLongToken('metricsaurus');
    expect(token.ciphertext.includes(Buffer.from(plaintext))).toBe(false);
    expect(token.ciphertext.length).toBeGreaterThan(0);
    const everything = await t.db.one(
      `SELECT (SELECT json_agg(a)::text FROM client_accounts a) AS accounts,
              (SELECT json_agg(e)::text FROM account_events e) AS events`,
    );
    expect(`${everything.accounts}${everything.events}`).not.toContain(plaintext);

    expect(await eventTypes(accountId)).toEqual(['connected']);
    const jobs = await t.db.manyOrNone(
      `SELECT data, singleton_key, state FROM pgboss.job WHERE name = 'account.sync'
       AND data->>'accountId' = $1`,
      [accountId],
    );
    expect(jobs).toEqual([
      { data: { accountId, reason: 'connect' }, singleton_key: accountId, state: 'created' },
    ]);
    // The state is spent; the binding cookie is left alone (other tabs may be mid-flow).
    expect(await stateRows(state, binding)).toBe(0);
    expect(cookieFrom(res.headers, BINDING_COOKIE)).toBeUndefined();

    // The accounts list sees it.
    const list = await http(t.url, 'GET', '/instagram/accounts', { token: user.token });
    expect(list.body.accounts.map((a: { id: string }) => a.id)).toEqual([accountId]);
  });

  it('sends a used, expired, unknown, malformed or missing state to the page with invalid_state and writes nothing', async () => {
    const user = await registerUser(t.url);
    const { url, cookie } = await authorize(user);
    const callback = await consent(url, { approve: 'northwind.coffee' });
    landing(await call(callback, { cookie }));
    const accounts = await count('SELECT 1 FROM client_accounts');

    const reuse = refusedState(await call(callback, { cookie }));
    expect(reuse).toBe(INVALID_STATE_MESSAGE);
    expect(reuse).toMatch(/already used/);
    expect(reuse).toMatch(/press Connect to start again/);

    // Back to Instagram, Allow again: a fresh code with the spent state. It never reaches Meta.
    const exchanges = () => emu.state.requests().filter((r) => r.path === '/oauth/access_token');
    const exchanged = exchanges().length;
    const again = await consent(url, { approve: 'northwind.coffee' });
    expect(again).not.toBe(callback);
    expect(refusedState(await call(again, { cookie }))).toBe(INVALID_STATE_MESSAGE);
    expect(exchanges()).toHaveLength(exchanged);

    const expired = await authorize(user, cookie);
    await t.db.none(
      `UPDATE oauth_states SET expires_at = now() - interval '1 second' WHERE state_hash = $1`,
      [hashOf(expired.state, expired.binding)],
    );
    const late = await consent(expired.url, { approve: 'northwind.coffee' });
    const lateSentence = refusedState(await call(late, { cookie }));
    expect(lateSentence).toBe(EXPIRED_STATE_MESSAGE);
    expect(lateSentence).toMatch(/expired.*10 minutes.*start again/);
    // Left for the purge, not consumed: the same answer a second time.
    expect(await stateRows(expired.state, expired.binding)).toBe(1);
    expect(refusedState(await call(late, { cookie }))).toBe(EXPIRED_STATE_MESSAGE);

    const unknown = randomBytes(32).toString('base64url');
    for (const path of [
      `/instagram/oauth/callback?code=abc&state=${unknown}`,
      '/instagram/oauth/callback?code=abc&state=short',
      '/instagram/oauth/callback?code=abc',
      '/instagram/oauth/callback?error=access_denied',
      '/instagram/oauth/callback',
    ]) {
      expect(refusedState(await call(path, { cookie }))).toBe(INVALID_STATE_MESSAGE);
    }
    expect(exchanges()).toHaveLength(exchanged);
    const refused = async (path: string) => (await call(path, { cookie })).status;
    // Repeated or oversized parameters are refused before anything is looked up.
    const valid = await authorize(user, cookie);
    expect(
      await refused(`/instagram/oauth/callback?state=${valid.state}&state=${valid.state}`),
    ).toBe(400);
    expect(
      await refused(`/instagram/oauth/callback?state=${valid.state}&code=${'a'.repeat(3000)}`),
    ).toBe(400);
    // …and the state they carried is still usable.
    expect(await stateRows(valid.state, valid.binding)).toBe(1);

    expect(await count('SELECT 1 FROM client_accounts')).toBe(accounts);
  });

  it("lets the state decide the user, not the session the callback's browser carries", async () => {
    const starter = await registerUser(t.url);
    const other = await registerUser(t.url);
    const { url, cookie } = await authorize(starter);
    const callback = await consent(url, { approve: 'lena.bakes' });
    // Another user's session in the same browser changes nothing.
    const res = await call(callback, { cookie: `${cookie}; ${other.cookie}` });
    const accountId = landing(res).searchParams.get('connected');
    const row = await accountRow(emulatorAccount('lena.bakes').userId);
    expect(row).toMatchObject({ id: accountId, user_id: starter.userId });
    expect(await count('SELECT 1 FROM client_accounts WHERE user_id = $1', [other.userId])).toBe(0);
  });

  it('sends a refused consent back to the page, consuming the state', async () => {
    const user = await registerUser(t.url);
    const { url, cookie } = await authorize(user);
    const callback = await consent(url, { deny: true });
    expect(callback).toContain('error=access_denied');
    // Meta may add parameters of its own: ignored, not refused.
    const res = await call(`${callback}&some_new_meta_param=1`, { cookie });
    const target = landing(res);
    expect(target.searchParams.get('error')).toBe('access_denied');
    expect(target.searchParams.get('error_description')).toBe(
      'You did not allow ssell to access the Instagram account.',
    );
    expect(target.searchParams.has('connected')).toBe(false);
    expect(refusedState(await call(callback, { cookie }))).toBe(INVALID_STATE_MESSAGE);
    expect(await count('SELECT 1 FROM client_accounts WHERE user_id = $1', [user.userId])).toBe(0);
  });

  it("never reflects Meta's error text into the page", async () => {
    const user = await registerUser(t.url);
    const { state, cookie } = await authorize(user);
    const res = await call(
      `/instagram/oauth/callback?state=${state}&error=%3Cscript%3E&error_description=%3Cb%3Ephish%3C%2Fb%3E`,
      { cookie },
    );
    const target = landing(res);
    expect(target.searchParams.get('error')).toBe('authorization_failed');
    expect(res.headers.get('location')).not.toMatch(/%3C|<|phish/i);
  });

  it('redirects with an error and writes nothing when Instagram refuses the code', async () => {
    const user = await registerUser(t.url);
    const { state, cookie } = await authorize(user);
    const res = await call(`/instagram/oauth/callback?code=AQnotarealcode&state=${state}`, {
      cookie,
    });
    const target = landing(res);
    expect(target.searchParams.get('error')).toBe('code_rejected');
    expect(target.searchParams.get('error_description')).toMatch(/expired or was already used/);
    expect(await count('SELECT 1 FROM client_accounts WHERE user_id = $1', [user.userId])).toBe(0);
    const exchanges = emu.state.requests().filter((r) => r.path === '/oauth/access_token');
    expect(exchanges.at(-1)).toMatchObject({ status: 400 });

    // A code without a state's owner never reaches Meta; one with no code is an incomplete answer.
    const again = await authorize(user, cookie);
    const incomplete = landing(
      await call(`/instagram/oauth/callback?state=${again.state}`, { cookie }),
    );
    expect(incomplete.searchParams.get('error')).toBe('invalid_request');
  });

  it('redirects with an error and writes nothing when the profile cannot be fetched', async () => {
    const user = await registerUser(t.url);
    const { url, cookie } = await authorize(user);
    const callback = await consent(url, { approve: 'northwind.coffee' });
    const before = {
      accounts: await count('SELECT 1 FROM client_accounts'),
      tokens: await count('SELECT 1 FROM account_tokens'),
      events: await count('SELECT 1 FROM account_events'),
      jobs: await count(`SELECT 1 FROM pgboss.job WHERE name = 'account.sync'`),
    };
    // The code exchange and the long-lived exchange pass; the profile call is rate-limited.
    emu.state.inject({ kind: 'hang', delayMs: 0, count: 2 });
    emu.state.inject({ kind: 'rate_limit_account', regainMinutes: 5 });
    const target = landing(await call(callback, { cookie }));
    expect(target.searchParams.get('error')).toBe('rate_limited');
    expect(emu.state.listInjections()).toEqual([]);
    expect(emu.state.requests().at(-1)).toMatchObject({ path: '/v25.0/me', status: 400 });
    expect({
      accounts: await count('SELECT 1 FROM client_accounts'),
      tokens: await count('SELECT 1 FROM account_tokens'),
      events: await count('SELECT 1 FROM account_events'),
      jobs: await count(`SELECT 1 FROM pgboss.job WHERE name = 'account.sync'`),
    }).toEqual(before);

    // Instagram down (5xx beyond the client's retry): same, with its own reason.
    const second = await authorize(user, cookie);
    const callback2 = await consent(second.url, { approve: 'northwind.coffee' });
    emu.state.inject({ kind: 'transient', count: 2 });
    const down = landing(await call(callback2, { cookie }));
    expect(down.searchParams.get('error')).toBe('instagram_unavailable');
    expect(await count('SELECT 1 FROM client_accounts')).toBe(before.accounts);
  });

  it("answers account_in_use when another user's account is connected, and ownership stays", async () => {
    const owner = await registerUser(t.url);
    const intruder = await registerUser(t.url);
    const accountId = await connect(owner, 'metricsaurus2');
    const tokenBefore = await tokenRow(accountId);

    const { url, cookie } = await authorize(intruder);
    const callback = await consent(url, { approve: 'metricsaurus2' });
    const target = landing(await call(callback, { cookie }));
    expect(target.searchParams.get('error')).toBe('account_in_use');
    expect(target.searchParams.get('error_description')).toMatch(/another ssell user/);

    const row = await accountRow(emulatorAccount('metricsaurus2').userId);
    expect(row).toMatchObject({ id: accountId, user_id: owner.userId, status: 'active' });
    expect((await tokenRow(accountId)).ciphertext.equals(tokenBefore.ciphertext)).toBe(true);
    expect(await count('SELECT 1 FROM client_accounts WHERE user_id = $1', [intruder.userId])).toBe(
      0,
    );
    expect(await eventTypes(accountId)).toEqual(['connected']);
  });

  it('re-activates an expired account on reconnect: same id, new token, reconnected event', async () => {
    const user = await registerUser(t.url);
    const accountId = await connect(user, 'reconnector');
    const first = await tokenRow(accountId);
    const firstToken = latestLongToken('reconnector');
    await t.db.none(`UPDATE client_accounts SET status = 'token_expired' WHERE id = $1`, [
      accountId,
    ]);

    expect(await connect(user, 'reconnector')).toBe(accountId);
    const row = await accountRow(emulatorAccount('reconnector').userId);
    expect(row).toMatchObject({ id: accountId, user_id: user.userId, status: 'active' });
    const second = await tokenRow(accountId);
    expect(second.ciphertext.equals(first.ciphertext)).toBe(false);
    expect(second.last_refreshed_at).not.toBeNull();
    expect(latestLongToken('reconnector')).not.toBe(firstToken);
    expect(await eventTypes(accountId)).toEqual(['connected', 'reconnected', 'status_changed']);
    expect(await count('SELECT 1 FROM client_accounts WHERE user_id = $1', [user.userId])).toBe(1);
  });
});

describe('reconnect: GET /instagram/oauth/authorize?accountId=', () => {
  /** Marks the account broken, as a failed sync or status check would. */
  const breakAccount = (accountId: string) =>
    t.db.none(`UPDATE client_accounts SET status = 'token_expired' WHERE id = $1`, [accountId]);

  it('binds the state to the account and asks Instagram with force_reauth=true', async () => {
    const user = await registerUser(t.url);
    const accountId = await connect(user, 'reconnect.bound');
    for (const format of ['', '&format=json']) {
      const res = await call(`/instagram/oauth/authorize?accountId=${accountId}${format}`, {
        token: user.token,
      });
      expect(res.status).toBe(format ? 200 : 302);
      expect(res.headers.get('cache-control')).toBe('no-store');
      const url = new URL(format ? res.body.url : res.headers.get('location')!);
      expect(Object.fromEntries(url.searchParams)).toEqual({
        client_id: emu.appId,
        redirect_uri: REDIRECT_URI,
        response_type: 'code',
        scope: expect.stringContaining('instagram_business_basic'),
        state: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
        force_reauth: 'true',
      });
      const binding = cookieFrom(res.headers, BINDING_COOKIE)!.slice(BINDING_COOKIE.length + 1);
      const rows = await t.db.manyOrNone(
        'SELECT user_id, account_id FROM oauth_states WHERE state_hash = $1',
        [hashOf(url.searchParams.get('state')!, binding)],
      );
      expect(rows).toEqual([{ user_id: user.userId, account_id: accountId }]);
    }
    // A plain connect is bound to no account and forces nothing.
    const plain = await authorize(user);
    expect(plain.url.searchParams.has('force_reauth')).toBe(false);
    expect(
      await t.db.one('SELECT account_id FROM oauth_states WHERE state_hash = $1', [
        hashOf(plain.state, plain.binding),
      ]),
    ).toEqual({ account_id: null });
  });

  it("is for the owner only: malformed 400, unknown 404, another user's 403, and stores nothing", async () => {
    const owner = await registerUser(t.url);
    const other = await registerUser(t.url);
    const accountId = await connect(owner, 'reconnect.owned');
    const cases: Array<[string, number, string]> = [
      ['not-a-uuid', 400, 'Bad Request'],
      [randomUUID(), 404, 'Not Found'],
      [accountId, 403, 'Forbidden'],
    ];
    for (const [id, status, error] of cases) {
      for (const format of ['', '&format=json']) {
        const res = await call(`/instagram/oauth/authorize?accountId=${id}${format}`, {
          token: other.token,
        });
        expect(res.status, `${id}${format}`).toBe(status);
        expect(res.body).toMatchObject({ statusCode: status, error });
        expect(JSON.stringify(res.body.message)).not.toContain(owner.userId);
        expect(res.headers.get('location')).toBeNull();
        expect(cookieFrom(res.headers, BINDING_COOKIE)).toBeUndefined();
      }
    }
    expect(await count('SELECT 1 FROM oauth_states WHERE user_id = $1', [other.userId])).toBe(0);
    // The owner may.
    expect(
      (await call(`/instagram/oauth/authorize?accountId=${accountId}`, { token: owner.token }))
        .status,
    ).toBe(302);
  });

  it('reconnects the account it was started for: same id, active again, token replaced', async () => {
    const user = await registerUser(t.url);
    const accountId = await connect(user, 'reconnect.right');
    const before = await tokenRow(accountId);
    const firstToken = latestLongToken('reconnect.right');
    await breakAccount(accountId);

    const { url, state, binding, cookie } = await authorize(user, undefined, accountId);
    // Logged in to Instagram as somebody else: force_reauth lets the person choose, and they
    // choose the right account.
    const { callback, offered } = await consentOnPage(url, 'reconnect.right', 'lena.bakes');
    expect(offered.length).toBeGreaterThan(1);
    const target = landing(await call(callback, { cookie }));
    expect(Object.fromEntries(target.searchParams)).toEqual({ connected: accountId });

    const row = await accountRow(emulatorAccount('reconnect.right').userId);
    expect(row).toMatchObject({ id: accountId, user_id: user.userId, status: 'active' });
    const after = await tokenRow(accountId);
    expect(after.ciphertext.equals(before.ciphertext)).toBe(false);
    expect(latestLongToken('reconnect.right')).not.toBe(firstToken);
    expect(after.ciphertext.includes(Buffer.from(latestLongToken('reconnect.right')))).toBe(false);
    expect(await eventTypes(accountId)).toEqual(['connected', 'reconnected', 'status_changed']);
    expect(await count('SELECT 1 FROM client_accounts WHERE user_id = $1', [user.userId])).toBe(1);
    expect(await stateRows(state, binding)).toBe(0);
  });

  it('refuses another Instagram account: wrong_account naming both, nothing changed', async () => {
    const user = await registerUser(t.url);
    const broken = await connect(user, 'reconnect.broken');
    // The user's other account, broken too: a reconnect of one must not repair the other.
    const mine = await connect(user, 'reconnect.mine');
    await breakAccount(broken);
    await breakAccount(mine);
    const before = await everything();

    // Instagram approves an account ssell has never seen, then the user's other one. The person
    // is logged in to Instagram as it, and presses Allow on what the page preselects.
    for (const approved of ['reconnect.stranger', 'reconnect.mine']) {
      const { url, state, binding, cookie } = await authorize(user, undefined, broken);
      const exchanged = emu.state.requests().filter((r) => r.path === '/v25.0/me').length;
      const { callback } = await consentOnPage(url, approved, approved);
      const target = landing(await call(callback, { cookie }));
      expect([...target.searchParams.keys()]).toEqual(['error', 'error_description']);
      expect(target.searchParams.get('error')).toBe('wrong_account');
      const sentence = target.searchParams.get('error_description')!;
      expect(sentence).toContain('reconnect was for @reconnect.broken');
      expect(sentence).toContain(`Instagram approved @${approved}`);
      expect(sentence).toMatch(/Nothing was changed.*log in to Instagram as @reconnect\.broken/);
      // Instagram was asked who it is (that is how the mismatch is known)…
      expect(emu.state.requests().filter((r) => r.path === '/v25.0/me').length).toBe(exchanged + 1);
      // …and nothing was written: no row, no token, no event, no snapshot, no job.
      expect(await everything()).toEqual(before);
      // The state is spent like any state whose code was used: Reconnect starts over.
      expect(await stateRows(state, binding)).toBe(0);
    }
    expect(await accountRow(emulatorAccount('reconnect.stranger').userId)).toBeNull();
    const statuses = await t.db.many<{ id: string; status: string }>(
      'SELECT id, status FROM client_accounts WHERE user_id = $1 ORDER BY username',
      [user.userId],
    );
    expect(statuses).toEqual([
      { id: broken, status: 'token_expired' },
      { id: mine, status: 'token_expired' },
    ]);

    // The same account a moment later still reconnects (the refusal left nothing in the way).
    const retry = await authorize(user, undefined, broken);
    const { callback } = await consentOnPage(retry.url, 'reconnect.broken', 'reconnect.stranger');
    expect(
      landing(await call(callback, { cookie: retry.cookie })).searchParams.get('connected'),
    ).toBe(broken);
  });

  it('writes nothing when the account is deleted while Instagram answers', async () => {
    const user = await registerUser(t.url);
    const accountId = await connect(user, 'reconnect.removed');
    const { url, cookie } = await authorize(user, undefined, accountId);
    const callback = await consent(url, { approve: 'reconnect.removed' });
    // Instagram is slow to exchange the code; the account is disconnected meanwhile.
    emu.state.inject({ kind: 'hang', delayMs: 400, count: 1 });
    const pending = call(callback, { cookie });
    const exchange = () =>
      emu.state.requests().some((r) => r.path === '/oauth/access_token' && r.status === undefined);
    for (let i = 0; i < 100 && !exchange(); i++) await new Promise((r) => setTimeout(r, 10));
    expect(exchange()).toBe(true);
    const deleted = await http(t.url, 'DELETE', `/instagram/accounts/${accountId}`, {
      token: user.token,
    });
    expect(deleted.status).toBe(204);
    const target = landing(await pending);
    expect(target.searchParams.get('error')).toBe('account_removed');
    expect(target.searchParams.get('error_description')).toMatch(/removed.*Nothing was changed/);
    expect(await accountRow(emulatorAccount('reconnect.removed').userId)).toBeNull();

    // Deleted before the callback: the pending reconnect went with it.
    const second = await connect(user, 'reconnect.removed');
    const started = await authorize(user, undefined, second);
    const late = await consent(started.url, { approve: 'reconnect.removed' });
    expect(
      (await http(t.url, 'DELETE', `/instagram/accounts/${second}`, { token: user.token })).status,
    ).toBe(204);
    expect(await stateRows(started.state, started.binding)).toBe(0);
    expect(refusedState(await call(late, { cookie: started.cookie }))).toBe(INVALID_STATE_MESSAGE);
    expect(await accountRow(emulatorAccount('reconnect.removed').userId)).toBeNull();
  });
});

describe('the browser binding (ssell_oauth cookie)', () => {
  /** The attributes of the `ssell_oauth` Set-Cookie header, value first. */
  function bindingCookieAttributes(res: HttpResult): string[] {
    const header = res.headers.getSetCookie().find((c) => c.startsWith(`${BINDING_COOKIE}=`));
    expect(header).toBeDefined();
    return header!.split(';').map((part) => part.trim());
  }

  it('is HttpOnly, SameSite=Lax, Path=/instagram/oauth, Max-Age=600, on both answers', async () => {
    const user = await registerUser(t.url);
    for (const path of ['/instagram/oauth/authorize', '/instagram/oauth/authorize?format=json']) {
      const res = await call(path, { token: user.token });
      expect(res.status).toBe(path.endsWith('json') ? 200 : 302);
      const [pair, ...attributes] = bindingCookieAttributes(res);
      expect(pair).toMatch(/^ssell_oauth=[A-Za-z0-9_-]{43}$/);
      // Not Secure outside production (the tests speak plain HTTP, like `npm start` locally).
      expect(attributes.sort()).toEqual(
        ['HttpOnly', 'Max-Age=600', 'Path=/instagram/oauth', 'SameSite=Lax'].sort(),
      );
    }
  });

  it('sends a callback without the cookie to the page with invalid_state and consumes nothing', async () => {
    const user = await registerUser(t.url);
    const { url, state, cookie, binding } = await authorize(user);
    const callback = await consent(url, { approve: 'binding.late' });
    const accounts = await count('SELECT 1 FROM client_accounts');

    // No cookie at all, or only the session cookie: what a browser sends when the connect was
    // started at another address than PUBLIC_URL (these requests go to 127.0.0.1, PUBLIC_URL is
    // ssell.test), or in another browser. The page says so, and where to start again.
    for (const headers of [{}, { cookie: user.cookie }]) {
      const sentence = refusedState(await call(callback, headers));
      expect(sentence).toBe(missingBindingMessage(PUBLIC_URL));
      expect(sentence).toContain(`another address than ${PUBLIC_URL}`);
      expect(sentence).toMatch(/127\.0\.0\.1 instead of localhost/);
      expect(sentence).toContain(`open ${PUBLIC_URL}`);
    }
    expect(await stateRows(state, binding)).toBe(1);
    expect(await count('SELECT 1 FROM client_accounts')).toBe(accounts);

    // The browser that started it still completes it.
    const id = landing(await call(callback, { cookie })).searchParams.get('connected');
    const row = await accountRow(emulatorAccount('binding.late').userId);
    expect(row).toMatchObject({ id, user_id: user.userId });
    expect(await stateRows(state, binding)).toBe(0);
  });

  it("refuses another browser's binding: a connect link sent to somebody else attaches nothing", async () => {
    const attacker = await registerUser(t.url);
    const victim = await registerUser(t.url);
    // The attacker starts a connect in their own browser and sends the consent URL on.
    const phish = await authorize(attacker);
    // The victim's browser has a binding of its own from an earlier connect of theirs.
    const victimBrowser = await authorize(victim);
    expect(victimBrowser.binding).not.toBe(phish.binding);
    const callback = await consent(phish.url, { approve: 'binding.victim' });

    for (const cookie of [
      `${victimBrowser.cookie}; ${victim.cookie}`,
      // A well-formed binding nobody issued, and a malformed one.
      `${BINDING_COOKIE}=${randomBytes(32).toString('base64url')}`,
      `${BINDING_COOKIE}=short`,
    ]) {
      expect(refusedState(await call(callback, { cookie }))).toBe(INVALID_STATE_MESSAGE);
    }
    expect(await accountRow(emulatorAccount('binding.victim').userId)).toBeNull();
    expect(
      await count('SELECT 1 FROM client_accounts WHERE user_id = ANY($1::uuid[])', [
        [attacker.userId, victim.userId],
      ]),
    ).toBe(0);
    // Nothing was consumed: neither the attacker's state nor the victim's own.
    expect(await stateRows(phish.state, phish.binding)).toBe(1);
    expect(await stateRows(victimBrowser.state, victimBrowser.binding)).toBe(1);
  });

  it('keeps one binding per browser, so two tabs can connect at once', async () => {
    const user = await registerUser(t.url);
    const tab1 = await authorize(user);
    const tab2 = await authorize(user, `${tab1.cookie}; ${user.cookie}`);
    expect(tab2.binding).toBe(tab1.binding);
    expect(tab2.state).not.toBe(tab1.state);
    // Another browser gets another binding; a malformed cookie is replaced, not reused.
    const elsewhere = await authorize(user);
    expect(elsewhere.binding).not.toBe(tab1.binding);
    const repaired = await authorize(user, `${BINDING_COOKIE}=not-a-binding`);
    expect(repaired.binding).not.toBe('not-a-binding');

    const callback1 = await consent(tab1.url, { approve: 'binding.tab1' });
    const callback2 = await consent(tab2.url, { approve: 'binding.tab2' });
    // Finished in the other order; the cookie survives the first callback.
    const second = landing(await call(callback2, { cookie: tab1.cookie }));
    const first = landing(await call(callback1, { cookie: tab1.cookie }));
    expect((await accountRow(emulatorAccount('binding.tab1').userId)).id).toBe(
      first.searchParams.get('connected'),
    );
    expect((await accountRow(emulatorAccount('binding.tab2').userId)).id).toBe(
      second.searchParams.get('connected'),
    );
    expect(await count('SELECT 1 FROM client_accounts WHERE user_id = $1', [user.userId])).toBe(2);
  });
});

describe('the browser binding in production', () => {
  it('is Secure (and __Host- prefixed: test/cross-site.test.ts checks the rest)', async () => {
    const prod = await startTestApp({ ...emulatorEnv(emu), NODE_ENV: 'production', PUBLIC_URL });
    try {
      const user = await registerUser(prod.url);
      const res = await http(prod.url, 'GET', '/instagram/oauth/authorize', { token: user.token });
      expect(res.status).toBe(302);
      const header = res.headers
        .getSetCookie()
        .find((c) => c.startsWith(`__Host-${BINDING_COOKIE}=`));
      expect(header?.split(';').map((part) => part.trim())).toContain('Secure');
    } finally {
      await prod.close();
    }
  });
});

describe('secrets', () => {
  it('never shows an authorization code or token in a response or a log line', () => {
    const secrets = [...codes, ...emu.state.tokens.keys(), emu.appSecret];
    expect(codes.size).toBeGreaterThan(5);
    expect(emu.state.tokens.size).toBeGreaterThan(5);
    const haystacks = [...seen, ...t.logs];
    expect(haystacks.length).toBeGreaterThan(20);
    for (const secret of secrets) {
      for (const text of haystacks) {
        if (text.includes(secret)) throw new Error(`a secret leaked into: ${text.slice(0, 300)}`);
      }
    }
  });
});
