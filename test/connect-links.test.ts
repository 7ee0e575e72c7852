/**
 * Connect links for clients, end to end over sockets: the owner's API, the public page a client
 * opens in a browser without an ssell session, the emulator's consent page answered as a person
 * does (load it, pick the account, press Allow), the OAuth callback, and the done page.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { RunningEmulator } from '../emulator/emulator';
import { PostgresConnectLinkRepository } from '../src/infrastructure/database/repositories/postgres-connect-link.repository';
import { CONNECT_FAILURES } from '../src/modules/instagram/services/instagram-connect.service';
import { startTestApp, type TestApp } from './helpers/app';
import {
  http,
  registerUser,
  uniqueEmail,
  type HttpResult,
  type RegisteredUser,
} from './helpers/http';
import {
  connectViaOAuth,
  issuedTokens,
  startInstagramTestApp,
  type InstagramTestApp,
} from './helpers/instagram-fixtures';

const PUBLIC_URL = 'http://ssell.test';
const REDIRECT_URI = `${PUBLIC_URL}/instagram/oauth/callback`;
const DONE = `${PUBLIC_URL}/connect/done`;
/** Requests per minute one IP may make to the public pages in this file's app. */
const PAGE_LIMIT = 12;
const HOUR_MS = 60 * 60 * 1000;

let app: InstagramTestApp;
let emu: RunningEmulator;
let t: TestApp;
/** Everything the service answered, scanned for Instagram tokens at the end. */
const seen: string[] = [];
/** Every link token handed out, which no log line may contain. */
const linkTokens: string[] = [];

function record(res: HttpResult): HttpResult {
  seen.push(res.text, JSON.stringify([...res.headers]));
  return res;
}

let ipCounter = 0;

/**
 * A client's browser: its own address (the app trusts X-Forwarded-For here, as behind a load
 * balancer, so each browser has its own rate-limit budget) and its own cookie jar. It never holds
 * an ssell session.
 */
class Browser {
  readonly ip = `198.51.100.${++ipCounter}`;
  private readonly jar = new Map<string, string>();

  cookie(name: string): string | undefined {
    return this.jar.get(name);
  }

  async get(path: string): Promise<HttpResult> {
    const cookie = [...this.jar].map(([name, value]) => `${name}=${value}`).join('; ');
    const res = await http(t.url, 'GET', path, {
      headers: { 'x-forwarded-for': this.ip },
      ...(cookie ? { cookie } : {}),
    });
    for (const header of res.headers.getSetCookie()) {
      const pair = header.split(';')[0]!;
      const eq = pair.indexOf('=');
      this.jar.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
    return record(res);
  }
}

/** What a person reads on a page: tags dropped, entities decoded, spaces collapsed. */
function textOf(html: string): string {
  return html
    .replace(/<head>[\s\S]*?<\/head>/, ' ')
    .replace(/<\/?(?:p|h1|ul|li|main|div|a)\b[^>]*>/g, ' ')
    .replace(/<[^>]+>/g, '')
    .replaceAll('&lt;', '<')
    .replaceAll('&gt;', '>')
    .replaceAll('&quot;', '"')
    .replaceAll('&#39;', "'")
    .replaceAll('&amp;', '&')
    .replace(/\s+/g, ' ')
    .trim();
}

/** A page for a person: HTML, never JSON, never cached, with `status`; its text. */
function pageText(res: HttpResult, status: number): string {
  expect(res.status, res.text.slice(0, 300)).toBe(status);
  expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
  expect(res.headers.get('cache-control')).toBe('no-store');
  expect(res.headers.get('referrer-policy')).toBe('no-referrer');
  expect(res.text.startsWith('<!doctype html>')).toBe(true);
  expect(res.text).toContain('<html lang="en">');
  expect(res.text).toContain('name="viewport"');
  expect(res.body).toBeUndefined();
  return textOf(res.text);
}

interface CreatedLink {
  id: string;
  url: string;
  token: string;
  label: string | null;
  accountId: string | null;
  expiresAt: string;
}

async function createLink(
  owner: RegisteredUser,
  body: Record<string, unknown> = {},
  accountId?: string,
): Promise<CreatedLink> {
  const path = accountId
    ? `/instagram/accounts/${accountId}/reconnect-link`
    : '/instagram/connect-links';
  const res = record(await http(t.url, 'POST', path, { token: owner.token, body }));
  expect(res.status, res.text).toBe(201);
  const url = new URL(res.body.url);
  expect(url.origin).toBe(PUBLIC_URL);
  const token = /^\/connect\/([A-Za-z0-9_-]{43})$/.exec(url.pathname)?.[1];
  expect(token).toBeDefined();
  linkTokens.push(token!);
  return { ...res.body, token: token! };
}

/** The client opens the link and presses Continue: Instagram's consent URL. */
async function pressContinue(browser: Browser, link: CreatedLink): Promise<URL> {
  const page = await browser.get(`/connect/${link.token}`);
  pageText(page, 200);
  const href = /<a class="button" href="([^"]+)">Continue with Instagram<\/a>/.exec(page.text)?.[1];
  expect(href).toBe(`/connect/${link.token}/authorize`);
  const res = await browser.get(href!);
  expect(res.status).toBe(302);
  expect(res.headers.get('cache-control')).toBe('no-store');
  return new URL(res.headers.get('location')!);
}

/**
 * The person on Instagram's consent page (the emulator's, not logged in to Instagram): loads it,
 * picks `username` among the accounts offered and presses Allow, or presses Cancel. The callback
 * path and query the emulator redirects the browser to.
 */
async function onConsentPage(url: URL, answer: { allow: string } | { cancel: true }) {
  const page = await fetch(url);
  expect(page.status).toBe(200);
  const html = await page.text();
  const form = /<form id="consent-approve"[^>]*>([\s\S]*?)<\/form>/.exec(html)?.[1] ?? '';
  const fields = new URLSearchParams();
  for (const [, name, value] of form.matchAll(
    /<input type="hidden" name="([^"]+)" value="([^"]*)">/g,
  )) {
    fields.set(name!, value!.replaceAll('&amp;', '&'));
  }
  if ('allow' in answer) {
    const offered = [...form.matchAll(/name="account"\s+value="(\d+)"/g)].map((m) => m[1]!);
    const choice = emu.state.findAccount(answer.allow)!.userId;
    expect(offered).toContain(choice);
    fields.set('account', choice);
    fields.set('decision', 'approve');
  } else {
    fields.set('decision', 'deny');
  }
  const res = await fetch(new URL('/oauth/authorize', url), {
    method: 'POST',
    body: fields,
    redirect: 'manual',
  });
  expect(res.status).toBe(302);
  const back = new URL(res.headers.get('location')!);
  expect(`${back.origin}${back.pathname}`).toBe(REDIRECT_URI);
  return `${back.pathname}${back.search}`;
}

/** Back from Instagram: the callback redirects to the public done page, which says how it went. */
async function finish(browser: Browser, callback: string) {
  const res = await browser.get(callback);
  expect(res.status).toBe(302);
  expect(res.headers.get('content-type') ?? '').not.toContain('json');
  const landing = new URL(res.headers.get('location')!);
  expect(`${landing.origin}${landing.pathname}`).toBe(DONE);
  const page = await browser.get(`${landing.pathname}${landing.search}`);
  return { landing, params: Object.fromEntries(landing.searchParams), page };
}

/** The whole client side: open, Continue, Allow `username`, land. */
async function connectThroughLink(link: CreatedLink, username: string, browser = new Browser()) {
  const consent = await pressContinue(browser, link);
  return finish(browser, await onConsentPage(consent, { allow: username }));
}

const count = async (sql: string, values: unknown[] = []) =>
  (await t.db.one<{ n: number }>(`SELECT count(*)::int AS n FROM (${sql}) x`, values)).n;

/** Everything a connect may write, whole tables, and the connect links. */
const everything = () =>
  t.db.one(
    `SELECT (SELECT json_agg(a ORDER BY a.id) FROM client_accounts a) AS accounts,
            (SELECT json_agg(k ORDER BY k.account_id) FROM account_tokens k) AS tokens,
            (SELECT json_agg(e ORDER BY e.created_at, e.id) FROM account_events e) AS events,
            (SELECT json_agg(m ORDER BY m.id) FROM account_metric_snapshots m) AS snapshots,
            (SELECT json_agg(l ORDER BY l.id) FROM connect_links l) AS links,
            (SELECT json_agg(j ORDER BY j.id)
               FROM (SELECT id, name, state, data, singleton_key FROM pgboss.job) j) AS jobs`,
  );

const linkRow = (id: string) =>
  t.db.one(
    `SELECT user_id, token_hash, label, account_id, used_at, used_account_id, revoked_at,
            claimed_until, expires_at, created_at
     FROM connect_links WHERE id = $1`,
    [id],
  );

const accountOf = (username: string) =>
  t.db.oneOrNone(
    `SELECT id, user_id, username, status FROM client_accounts WHERE platform_account_id = $1`,
    [emu.state.findAccount(username)!.userId],
  );

const eventTypes = async (accountId: string) =>
  (
    await t.db.manyOrNone<{ type: string }>(
      'SELECT type FROM account_events WHERE account_id = $1 ORDER BY created_at, id',
      [accountId],
    )
  ).map((r) => r.type);

async function owner(name = 'Jane Agency'): Promise<RegisteredUser> {
  return registerUser(t.url, { name, email: uniqueEmail('jane.doe') });
}

/** Makes an Instagram account in the emulator, for one test. */
function instagramAccount(username: string): string {
  emu.state.createAccount({ username, accountType: 'Business' });
  return username;
}

beforeAll(async () => {
  app = await startInstagramTestApp({
    PUBLIC_URL,
    TRUST_PROXY: 'true',
    CONNECT_PAGE_RATE_LIMIT_PER_IP: String(PAGE_LIMIT),
    CONNECT_PAGE_RATE_LIMIT_WINDOW_SECONDS: '60',
  });
  ({ t, emu } = app);
});

beforeEach(() => {
  emu.state.clearInjections();
});

afterAll(async () => {
  // No Instagram token in any answer; no link token in any log line (request URLs are redacted).
  const answers = seen.join('\n');
  for (const token of issuedTokens(emu)) expect(answers).not.toContain(token);
  const logs = t.logs.join('\n');
  expect(linkTokens.length).toBeGreaterThan(10);
  for (const token of linkTokens) expect(logs).not.toContain(token);
  expect(logs).toContain('/connect/[REDACTED]');
  await app?.close();
});

describe('POST /instagram/connect-links', () => {
  it('makes a link whose URL holds the only copy of its token', async () => {
    const user = await owner();
    const before = Date.now();
    const link = await createLink(user, { label: '  Bakery on Main  ' });
    expect(Object.keys(link).sort()).toEqual(
      [
        'id',
        'url',
        'label',
        'accountId',
        'createdAt',
        'expiresAt',
        'used',
        'usedAt',
        'connectedAccountId',
        'token',
      ].sort(),
    );
    expect(link).toMatchObject({ label: 'Bakery on Main', accountId: null, used: false });
    const lifetime = new Date(link.expiresAt).getTime() - before;
    expect(Math.abs(lifetime - 72 * HOUR_MS)).toBeLessThan(60_000);

    // 256 random bits; only their SHA-256 is stored, and no column holds the token.
    expect(Buffer.from(link.token, 'base64url')).toHaveLength(32);
    const row = await linkRow(link.id);
    expect(row.user_id).toBe(user.userId);
    expect(row.token_hash.equals(createHash('sha256').update(link.token).digest())).toBe(true);
    const dump = await t.db.one(
      'SELECT row_to_json(l)::text AS j FROM connect_links l WHERE id = $1',
      [link.id],
    );
    expect(dump.j).not.toContain(link.token);

    const short = await createLink(user, { expiresInHours: 1 });
    expect(short.label).toBeNull();
    const shortLife = new Date(short.expiresAt).getTime() - Date.now();
    expect(Math.abs(shortLife - HOUR_MS)).toBeLessThan(60_000);
    const longest = await createLink(user, { expiresInHours: 168 });
    expect(new Date(longest.expiresAt).getTime() - Date.now()).toBeGreaterThan(167 * HOUR_MS);
    // Two links, two tokens.
    expect(new Set([link.token, short.token, longest.token]).size).toBe(3);
  });

  it('refuses bad input with a 400 and stores nothing; needs a session', async () => {
    const user = await owner();
    const bad: unknown[] = [
      { expiresInHours: 0 },
      { expiresInHours: 169 },
      { expiresInHours: 1.5 },
      { expiresInHours: '12' },
      { label: '' },
      { label: '   ' },
      { label: 'x'.repeat(101) },
      { label: 7 },
      { userId: randomUUID() },
      { accountId: randomUUID() },
    ];
    for (const body of bad) {
      const res = await http(t.url, 'POST', '/instagram/connect-links', {
        token: user.token,
        body,
      });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body).toMatchObject({ statusCode: 400, error: 'Bad Request' });
    }
    expect(await count('SELECT 1 FROM connect_links WHERE user_id = $1', [user.userId])).toBe(0);
    // No body at all is a link with the defaults.
    const bare = await http(t.url, 'POST', '/instagram/connect-links', { token: user.token });
    expect(bare.status).toBe(201);

    for (const [method, path] of [
      ['POST', '/instagram/connect-links'],
      ['GET', '/instagram/connect-links'],
      ['DELETE', `/instagram/connect-links/${bare.body.id}`],
      ['POST', `/instagram/accounts/${randomUUID()}/reconnect-link`],
    ] as const) {
      const res = await http(t.url, method, path, method === 'POST' ? { body: {} } : {});
      expect(res.status, `${method} ${path}`).toBe(401);
    }
  });

  it('holds at most 50 open links per user: the 51st is a 409 until one is revoked', async () => {
    const user = await owner();
    const ids: string[] = [];
    for (let i = 0; i < 50; i++) {
      const res = await http(t.url, 'POST', '/instagram/connect-links', { token: user.token });
      expect(res.status).toBe(201);
      ids.push(res.body.id);
    }
    const refused = await http(t.url, 'POST', '/instagram/connect-links', { token: user.token });
    expect(refused.status).toBe(409);
    expect(refused.body.message).toMatch(/50 open connect links.*revoke/);
    // Another user is not affected.
    expect((await createLink(await owner())).id).toBeTruthy();
    const revoked = await http(t.url, 'DELETE', `/instagram/connect-links/${ids[0]}`, {
      token: user.token,
    });
    expect(revoked.status).toBe(204);
    expect(
      (await http(t.url, 'POST', '/instagram/connect-links', { token: user.token })).status,
    ).toBe(201);
  });
});

describe('GET and DELETE /instagram/connect-links', () => {
  it("lists the caller's links that are neither revoked nor expired, used ones flagged", async () => {
    const user = await owner();
    const other = await owner('Someone Else');
    const used = await createLink(user, { label: 'used' });
    const open = await createLink(user, { label: 'open' });
    const revoked = await createLink(user, { label: 'revoked' });
    const expired = await createLink(user, { label: 'expired' });
    await createLink(other, { label: 'not mine' });
    await http(t.url, 'DELETE', `/instagram/connect-links/${revoked.id}`, { token: user.token });
    await t.db.none(
      `UPDATE connect_links SET created_at = now() - interval '3 hours',
                                expires_at = now() - interval '1 hour' WHERE id = $1`,
      [expired.id],
    );
    const { params } = await connectThroughLink(used, instagramAccount('list.client'));
    const account = await accountOf('list.client');
    expect(params).toEqual({ connected: 'list.client' });

    const res = record(await http(t.url, 'GET', '/instagram/connect-links', { token: user.token }));
    expect(res.status).toBe(200);
    expect(Object.keys(res.body)).toEqual(['links']);
    expect(res.body.links).toEqual([
      {
        id: open.id,
        label: 'open',
        accountId: null,
        createdAt: expect.any(String),
        expiresAt: open.expiresAt,
        used: false,
        usedAt: null,
        connectedAccountId: null,
      },
      expect.objectContaining({
        id: used.id,
        label: 'used',
        used: true,
        usedAt: expect.any(String),
        connectedAccountId: account.id,
      }),
    ]);
    // The URL (the token) is never shown again.
    expect(res.text).not.toContain(open.token);
    for (const listed of res.body.links) expect(listed).not.toHaveProperty('url');
  });

  it('revokes: 204, the page says withdrawn, a client mid-way connects nothing; again is a no-op', async () => {
    const user = await owner();
    const link = await createLink(user);
    // The client opened the link and is on Instagram's page when the owner revokes it.
    const browser = new Browser();
    const consent = await pressContinue(browser, link);
    const res = await http(t.url, 'DELETE', `/instagram/connect-links/${link.id}`, {
      token: user.token,
    });
    expect(res.status).toBe(204);
    expect(res.text).toBe('');
    expect((await linkRow(link.id)).revoked_at).toBeInstanceOf(Date);

    const before = await everything();
    const done = await finish(
      browser,
      await onConsentPage(consent, { allow: instagramAccount('revoked.client') }),
    );
    expect(done.params).toEqual({ error: 'link_revoked' });
    expect(pageText(done.page, 410)).toMatch(/This link was withdrawn.*Nothing was changed/);
    expect(await everything()).toEqual(before);
    expect(await accountOf('revoked.client')).toBeNull();

    expect(pageText(await new Browser().get(`/connect/${link.token}`), 410)).toMatch(
      /This link was withdrawn The person who sent it withdrew it\./,
    );
    expect(pageText(await new Browser().get(`/connect/${link.token}/authorize`), 410)).toMatch(
      /withdrawn/,
    );
    const again = await http(t.url, 'DELETE', `/instagram/connect-links/${link.id}`, {
      token: user.token,
    });
    expect(again.status).toBe(204);
  });

  it('revoked while Instagram answers the callback: the connect is rolled back with the link', async () => {
    const user = await owner();
    const link = await createLink(user);
    const browser = new Browser();
    const callback = await onConsentPage(await pressContinue(browser, link), {
      allow: instagramAccount('revoked.midway'),
    });
    const before = await everything();
    // The callback holds the link and waits on Instagram's profile answer: the owner revokes then.
    emu.state.inject({ kind: 'hang', path: '/v25.0/me', delayMs: 1_500 });
    const finishing = finish(browser, callback);
    await vi.waitFor(
      async () => expect((await linkRow(link.id)).claimed_until).toBeInstanceOf(Date),
      { timeout: 1_000, interval: 20 },
    );
    const res = await http(t.url, 'DELETE', `/instagram/connect-links/${link.id}`, {
      token: user.token,
    });
    expect(res.status).toBe(204);

    const done = await finishing;
    expect(done.params).toEqual({ error: 'link_revoked' });
    expect(pageText(done.page, 410)).toMatch(/This link was withdrawn.*Nothing was changed/);
    expect(await accountOf('revoked.midway')).toBeNull();
    const after = await everything();
    expect(after.accounts).toEqual(before.accounts);
    expect(after.tokens).toEqual(before.tokens);
    expect(after.events).toEqual(before.events);
    expect(after.jobs).toEqual(before.jobs);
    expect(await linkRow(link.id)).toMatchObject({ used_at: null, revoked_at: expect.any(Date) });
  });

  it("is for the owner only: malformed 400, unknown 404, another user's 403 (nothing changes)", async () => {
    const user = await owner();
    const other = await owner('Someone Else');
    const link = await createLink(user);
    const cases: Array<[string, number, string]> = [
      ['not-a-uuid', 400, 'Bad Request'],
      [randomUUID(), 404, 'Not Found'],
      [link.id, 403, 'Forbidden'],
    ];
    for (const [id, status, error] of cases) {
      const res = await http(t.url, 'DELETE', `/instagram/connect-links/${id}`, {
        token: other.token,
      });
      expect(res.status, id).toBe(status);
      expect(res.body).toMatchObject({ statusCode: status, error });
    }
    expect((await linkRow(link.id)).revoked_at).toBeNull();
    pageText(await new Browser().get(`/connect/${link.token}`), 200);
    const list = await http(t.url, 'GET', '/instagram/connect-links', { token: other.token });
    expect(list.body).toEqual({ links: [] });
  });
});

describe('the public page /connect/<token>', () => {
  it('says whose workspace the account joins, and no more, without changing anything', async () => {
    const user = await registerUser(t.url, {
      name: 'Jane <Agency> & Co',
      email: `jane.doe.${randomBytes(4).toString('hex')}@brightagency.example`,
    });
    const link = await createLink(user, { label: 'internal: cheap client' });
    const before = await everything();
    const states = await count('SELECT 1 FROM oauth_states');
    const browser = new Browser();
    const res = await browser.get(`/connect/${link.token}`);
    const text = pageText(res, 200);
    expect(text).toContain(
      'Jane <Agency> & Co (j•••@brightagency.example) invites you to connect your Instagram professional account to their ssell workspace.',
    );
    // Escaped, not markup.
    expect(res.text).toContain('Jane &lt;Agency&gt; &amp; Co');
    expect(text).toContain('ssell never sees your password');
    expect(text).toMatch(/This link works once, until \d{1,2} \w+ \d{4} at \d{2}:\d{2} UTC\./);
    // Not the whole email, not the owner's private label, not their ids.
    expect(res.text).not.toContain(user.email);
    expect(res.text).not.toContain('cheap client');
    expect(res.text).not.toContain(user.userId);
    expect(res.text).not.toContain(link.id);
    expect(res.headers.get('x-robots-tag')).toBe('noindex, nofollow');
    // No script at all, and a page that stays put in a frame nowhere else.
    expect(res.text).not.toMatch(/<script/i);
    expect(res.headers.get('x-frame-options')).toBe('SAMEORIGIN');
    // No cookie is set by reading the page (link previews read it too), and nothing is written.
    expect(res.headers.getSetCookie()).toEqual([]);
    expect(await everything()).toEqual(before);
    expect(await count('SELECT 1 FROM oauth_states')).toBe(states);

    // A user without a name is known by the masked email alone.
    const nameless = await registerUser(t.url, { email: uniqueEmail('zed') });
    const plain = await createLink(nameless);
    expect(pageText(await browser.get(`/connect/${plain.token}`), 200)).toMatch(
      /^ssell Connect your Instagram account z•••@example\.com invites you/,
    );
  });

  it('pressing Continue starts Instagram with force_reauth=true, a state bound to the link and this browser', async () => {
    const user = await owner();
    const link = await createLink(user);
    const browser = new Browser();
    const consent = await pressContinue(browser, link);
    expect(`${consent.origin}${consent.pathname}`).toBe(`${emu.url}/oauth/authorize`);
    const params = Object.fromEntries(consent.searchParams);
    expect(params).toEqual({
      client_id: emu.appId,
      redirect_uri: REDIRECT_URI,
      response_type: 'code',
      scope: expect.stringContaining('instagram_business_basic'),
      state: expect.stringMatching(/^cl\.[A-Za-z0-9_-]{43}$/),
      force_reauth: 'true',
    });
    const binding = browser.cookie('ssell_oauth');
    expect(binding).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const hash = createHash('sha256').update(`${params.state}.${binding}`).digest();
    const rows = await t.db.manyOrNone(
      'SELECT user_id, account_id, connect_link_id FROM oauth_states WHERE state_hash = $1',
      [hash],
    );
    expect(rows).toEqual([{ user_id: user.userId, account_id: null, connect_link_id: link.id }]);
    // Pressing it again in the same browser keeps the binding (two tabs work).
    await pressContinue(browser, link);
    expect(browser.cookie('ssell_oauth')).toBe(binding);
    expect(await count('SELECT 1 FROM oauth_states WHERE connect_link_id = $1', [link.id])).toBe(2);
    // Nothing is used up by starting.
    expect((await linkRow(link.id)).used_at).toBeNull();
  });

  it('answers an unknown or malformed link with a 404 page, never JSON', async () => {
    for (const token of [
      randomBytes(32).toString('base64url'),
      'short',
      'x'.repeat(200),
      '%3Cscript%3E',
      '%E0%A4%A',
      'abc%00def',
    ]) {
      const browser = new Browser();
      for (const path of [`/connect/${token}`, `/connect/${token}/authorize`]) {
        const text = pageText(await browser.get(path), 404);
        expect(text, path).toMatch(/This link is not valid/);
        expect(text).not.toContain('<script>');
      }
    }
    // A NUL in the query (PostgreSQL could not hold it) is refused the same way, as a page.
    const token = randomBytes(32).toString('base64url');
    for (const path of [`/connect/${token}?x=%00`, '/connect/done?connected=a%00b']) {
      expect(pageText(await new Browser().get(path), 404), path).toMatch(/This link is not valid/);
    }
  });

  it('rate-limits each IP: a 429 page with Retry-After, other addresses unaffected', async () => {
    const link = await createLink(await owner());
    const browser = new Browser();
    for (let i = 0; i < PAGE_LIMIT; i++) {
      const path =
        i % 2 === 0
          ? `/connect/${link.token}`
          : `/connect/${randomBytes(32).toString('base64url')}`;
      expect((await browser.get(path)).status).not.toBe(429);
    }
    for (const path of [`/connect/${link.token}`, `/connect/${link.token}/authorize`]) {
      const limited = await browser.get(path);
      const text = pageText(limited, 429);
      expect(text).toMatch(/Too many requests.*Please wait \d+ seconds?, then reload the page/);
      const wait = Number(limited.headers.get('retry-after'));
      expect(wait).toBeGreaterThanOrEqual(1);
      expect(wait).toBeLessThanOrEqual(60);
      expect(limited.headers.getSetCookie()).toEqual([]);
    }
    expect(await count('SELECT 1 FROM oauth_states WHERE connect_link_id = $1', [link.id])).toBe(0);
    // Another client is served, and the limit spares the API and the done page.
    pageText(await new Browser().get(`/connect/${link.token}`), 200);
    expect((await browser.get('/connect/done?connected=someone')).status).toBe(200);
  });
});

describe('connecting through a link', () => {
  it("create → open → approve: the account is in the owner's list, and the link is used", async () => {
    const user = await owner();
    const link = await createLink(user, { label: 'Lena' });
    const username = instagramAccount('link.lena');
    const { params, page } = await connectThroughLink(link, username);
    expect(params).toEqual({ connected: username });
    expect(pageText(page, 200)).toMatch(
      /Your Instagram account is connected Done: @link\.lena is now in the workspace of the person who sent you the link\. You can close this tab\./,
    );

    const account = await accountOf(username);
    expect(account).toMatchObject({ user_id: user.userId, username, status: 'active' });
    const list = await http(t.url, 'GET', '/instagram/accounts', { token: user.token });
    expect(list.body.accounts.map((a: { id: string }) => a.id)).toEqual([account.id]);
    // Exactly the owner's own connect: encrypted token, the event, the first sync queued.
    const token = await t.db.one(
      'SELECT ciphertext, token_type FROM account_tokens WHERE account_id = $1',
      [account.id],
    );
    expect(token.token_type).toBe('long_lived');
    expect(await eventTypes(account.id)).toEqual(['connected']);
    expect(
      await count(`SELECT 1 FROM pgboss.job WHERE name = 'account.sync' AND singleton_key = $1`, [
        account.id,
      ]),
    ).toBe(1);
    const row = await linkRow(link.id);
    expect(row.used_at).toBeInstanceOf(Date);
    expect(row.used_account_id).toBe(account.id);
    expect(row.claimed_until).toBeNull();
  });

  it('works once: a second use, and a second browser that started meanwhile, are refused', async () => {
    const user = await owner();
    const link = await createLink(user);
    const first = new Browser();
    const second = new Browser();
    const firstConsent = await pressContinue(first, link);
    const secondConsent = await pressContinue(second, link);
    const done = await finish(
      first,
      await onConsentPage(firstConsent, { allow: instagramAccount('once.first') }),
    );
    expect(done.params).toEqual({ connected: 'once.first' });
    const before = await everything();

    // The other browser approves another account a moment later: refused, nothing written.
    const late = await finish(
      second,
      await onConsentPage(secondConsent, { allow: instagramAccount('once.second') }),
    );
    expect(late.params).toEqual({ error: 'link_used' });
    expect(pageText(late.page, 410)).toMatch(
      /This link was already used It connected an Instagram account once.*Nothing was changed\./,
    );
    expect(await accountOf('once.second')).toBeNull();
    expect(await everything()).toEqual(before);

    // Opened again: the page says it was used, and its button leads nowhere.
    for (const path of [`/connect/${link.token}`, `/connect/${link.token}/authorize`]) {
      const res = await new Browser().get(path);
      expect(pageText(res, 410)).toMatch(/This link was already used/);
      expect(res.headers.getSetCookie()).toEqual([]);
    }
  });

  it('connects once when two browsers come back from Instagram at the same moment', async () => {
    const user = await owner();
    const link = await createLink(user);
    const browsers = [new Browser(), new Browser()];
    const usernames = [instagramAccount('race.one'), instagramAccount('race.two')];
    const callbacks: string[] = [];
    for (const [i, browser] of browsers.entries()) {
      callbacks.push(
        await onConsentPage(await pressContinue(browser, link), { allow: usernames[i]! }),
      );
    }
    const results = await Promise.all(browsers.map((b, i) => finish(b, callbacks[i]!)));
    const outcomes = results.map((r) => r.params.connected ?? r.params.error).sort();
    // One connects; the other finds the link held (still connecting) or already used.
    expect(outcomes.filter((o) => usernames.includes(o!))).toHaveLength(1);
    expect(outcomes.filter((o) => o === 'link_busy' || o === 'link_used')).toHaveLength(1);
    const connected = await t.db.manyOrNone<{ username: string }>(
      'SELECT username FROM client_accounts WHERE user_id = $1',
      [user.userId],
    );
    expect(connected).toHaveLength(1);
    expect((await linkRow(link.id)).used_account_id).toBe(
      (await accountOf(connected[0]!.username)).id,
    );
  });

  it('expires: the page says so, and a consent begun before the expiry connects nothing', async () => {
    const user = await owner();
    const link = await createLink(user, { expiresInHours: 1 });
    const browser = new Browser();
    const consent = await pressContinue(browser, link);
    // An hour and a minute later, by the database's clock.
    await t.db.none(
      `UPDATE connect_links SET created_at = created_at - interval '61 minutes',
                                expires_at = expires_at - interval '61 minutes' WHERE id = $1`,
      [link.id],
    );
    const before = await everything();
    const done = await finish(
      browser,
      await onConsentPage(consent, { allow: instagramAccount('late.client') }),
    );
    expect(done.params).toEqual({ error: 'link_expired' });
    expect(pageText(done.page, 410)).toMatch(/This link has expired.*Nothing was changed/);
    expect(await everything()).toEqual(before);
    expect(await accountOf('late.client')).toBeNull();

    for (const path of [`/connect/${link.token}`, `/connect/${link.token}/authorize`]) {
      const res = await new Browser().get(path);
      expect(pageText(res, 410)).toMatch(
        /This link has expired Connect links work for a limited time\. Ask the person who sent it for a new one\./,
      );
    }
    const list = await http(t.url, 'GET', '/instagram/connect-links', { token: user.token });
    expect(list.body.links).toEqual([]);
  });

  it("refuses another ssell user's account with the usual sentence, on a page; the link stays open", async () => {
    const agency = await owner();
    const holder = await registerUser(t.url);
    const username = instagramAccount('taken.client');
    await connectViaOAuth(t, holder, username, { publicUrl: PUBLIC_URL });
    const link = await createLink(agency);
    const before = await everything();

    const { params, page } = await connectThroughLink(link, username);
    expect(params).toEqual({ error: 'account_in_use' });
    const text = pageText(page, 409);
    expect(text).toContain(CONNECT_FAILURES.account_in_use);
    expect(text).toContain('Nothing was changed');
    expect(await everything()).toEqual(before);
    expect(await accountOf(username)).toMatchObject({ user_id: holder.userId });

    // A failed attempt leaves the link usable: the client approves the right account next.
    const retry = await connectThroughLink(link, instagramAccount('taken.other'));
    expect(retry.params).toEqual({ connected: 'taken.other' });
    expect(await accountOf('taken.other')).toMatchObject({ user_id: agency.userId });
  });

  it('a consent refused on Instagram connects nothing and leaves the link open', async () => {
    const link = await createLink(await owner());
    const browser = new Browser();
    const consent = await pressContinue(browser, link);
    const before = await everything();
    const done = await finish(browser, await onConsentPage(consent, { cancel: true }));
    expect(done.params).toEqual({ error: 'access_denied' });
    expect(pageText(done.page, 200)).toMatch(
      /Nothing was connected You did not allow ssell to access the Instagram account\. If you change your mind, open the link you were sent again\./,
    );
    expect(await everything()).toEqual(before);
    pageText(await browser.get(`/connect/${link.token}`), 200);
  });

  it("cannot be finished in another browser: the owner forwarding Instagram's URL gets nothing", async () => {
    const agency = await owner();
    const link = await createLink(agency);
    // The owner presses Continue on their own link and sends Instagram's page itself to somebody,
    // skipping the page that names them.
    const consent = await pressContinue(new Browser(), link);
    const victim = new Browser();
    const before = await everything();
    const done = await finish(
      victim,
      await onConsentPage(consent, { allow: instagramAccount('phished.client') }),
    );
    expect(done.params).toEqual({ error: 'other_browser' });
    expect(pageText(done.page, 400)).toMatch(
      /Please finish in one browser.*open the link you were sent in this browser/,
    );
    expect(await everything()).toEqual(before);
    expect(await accountOf('phished.client')).toBeNull();
  });

  it('sends a refused link state to the public done page, not the owner’s accounts page', async () => {
    const browser = new Browser();
    const state = `cl.${randomBytes(32).toString('base64url')}`;
    const unknown = await finish(browser, `/instagram/oauth/callback?code=abc&state=${state}`);
    expect(unknown.params).toEqual({ error: 'other_browser' });

    // With a binding cookie: an unknown state, then one past its ten minutes.
    const link = await createLink(await owner());
    const consent = await pressContinue(browser, link);
    const unknownWithCookie = await finish(
      browser,
      `/instagram/oauth/callback?code=abc&state=${state}`,
    );
    expect(unknownWithCookie.params).toEqual({ error: 'invalid_state' });
    expect(pageText(unknownWithCookie.page, 400)).toMatch(/This connect is not valid/);
    await t.db.none(
      `UPDATE oauth_states SET expires_at = now() - interval '1 second' WHERE connect_link_id = $1`,
      [link.id],
    );
    const expired = await finish(
      browser,
      await onConsentPage(consent, { allow: instagramAccount('slow.client') }),
    );
    expect(expired.params).toEqual({ error: 'state_expired' });
    expect(pageText(expired.page, 400)).toMatch(
      /within 10 minutes.*open the link you were sent again/,
    );
    expect(await accountOf('slow.client')).toBeNull();
  });

  it('the done page says only its own words: a crafted query shows nothing of it', async () => {
    const browser = new Browser();
    for (const query of [
      'connected=%3Cscript%3Ealert(1)%3C%2Fscript%3E',
      'connected=a&connected=b',
      'error=Your+account+was+hacked',
      'error=wrong_account&expected=lena&approved=%3Cb%3E',
      'error=toString',
      '',
    ]) {
      const res = await browser.get(`/connect/done?${query}`);
      const text = pageText(res, 404);
      expect(text, query).toMatch(/This link is not valid/);
      expect(res.text).not.toMatch(/<script|<b>|hacked/);
    }
  });
});

describe('reconnect links: POST /instagram/accounts/:id/reconnect-link', () => {
  it("is for the owner only: malformed 400, unknown 404, another user's 403, and stores nothing", async () => {
    const user = await owner();
    const other = await owner('Someone Else');
    const { accountId } = await connectViaOAuth(t, user, instagramAccount('rl.owned'), {
      publicUrl: PUBLIC_URL,
    });
    const cases: Array<[string, number, string]> = [
      ['not-a-uuid', 400, 'Bad Request'],
      [randomUUID(), 404, 'Not Found'],
      [accountId, 403, 'Forbidden'],
    ];
    for (const [id, status, error] of cases) {
      const res = await http(t.url, 'POST', `/instagram/accounts/${id}/reconnect-link`, {
        token: other.token,
        body: {},
      });
      expect(res.status, id).toBe(status);
      expect(res.body).toMatchObject({ statusCode: status, error });
    }
    const bad = await http(t.url, 'POST', `/instagram/accounts/${accountId}/reconnect-link`, {
      token: user.token,
      body: { expiresInHours: 500 },
    });
    expect(bad.status).toBe(400);
    expect(await count('SELECT 1 FROM connect_links WHERE account_id = $1', [accountId])).toBe(0);

    const link = await createLink(user, { label: 'rl', expiresInHours: 24 }, accountId);
    expect(link).toMatchObject({ accountId, label: 'rl', used: false });
    const text = pageText(await new Browser().get(`/connect/${link.token}`), 200);
    expect(text).toContain(
      'Jane Agency (j•••@example.com) asks you to reconnect the Instagram account @rl.owned to their ssell workspace.',
    );
    expect(text).toContain('log in as @rl.owned: another account will be refused');
    // Removing the account removes its reconnect links.
    await http(t.url, 'DELETE', `/instagram/accounts/${accountId}`, { token: user.token });
    pageText(await new Browser().get(`/connect/${link.token}`), 404);
  });

  it('approved with the right account: the same account is active again with a new token', async () => {
    const user = await owner();
    const username = instagramAccount('rl.right');
    const { accountId } = await connectViaOAuth(t, user, username, { publicUrl: PUBLIC_URL });
    await t.db.none(`UPDATE client_accounts SET status = 'token_expired' WHERE id = $1`, [
      accountId,
    ]);
    const tokenBefore = await t.db.one(
      'SELECT ciphertext FROM account_tokens WHERE account_id = $1',
      [accountId],
    );
    const link = await createLink(user, {}, accountId);
    const { params, page } = await connectThroughLink(link, username);
    expect(params).toEqual({ connected: username });
    pageText(page, 200);

    expect(await accountOf(username)).toMatchObject({
      id: accountId,
      user_id: user.userId,
      status: 'active',
    });
    const tokenAfter = await t.db.one(
      'SELECT ciphertext FROM account_tokens WHERE account_id = $1',
      [accountId],
    );
    expect(tokenAfter.ciphertext.equals(tokenBefore.ciphertext)).toBe(false);
    expect(await eventTypes(accountId)).toEqual([
      'connected',
      'reconnected',
      'status_changed',
      'recovered',
    ]);
    expect(await count('SELECT 1 FROM client_accounts WHERE user_id = $1', [user.userId])).toBe(1);
    expect((await linkRow(link.id)).used_account_id).toBe(accountId);
  });

  it('approved with another Instagram account: wrong_account naming both, nothing changed', async () => {
    const user = await owner();
    const broken = instagramAccount('rl.broken');
    const mine = instagramAccount('rl.mine');
    const brokenId = (await connectViaOAuth(t, user, broken, { publicUrl: PUBLIC_URL })).accountId;
    await connectViaOAuth(t, user, mine, { publicUrl: PUBLIC_URL });
    await t.db.none(`UPDATE client_accounts SET status = 'token_expired' WHERE user_id = $1`, [
      user.userId,
    ]);
    const link = await createLink(user, {}, brokenId);
    // Rows, token ciphertexts, events, snapshots, jobs and the link itself, whole.
    const before = await everything();

    // An account ssell has never seen, then the owner's other (also broken) account.
    for (const approved of [instagramAccount('rl.stranger'), mine]) {
      const { params, page } = await connectThroughLink(link, approved);
      expect(params).toEqual({ error: 'wrong_account', expected: broken, approved });
      const text = pageText(page, 409);
      expect(text).toContain(
        `This link is for reconnecting @${broken}, but Instagram approved @${approved}.`,
      );
      expect(text).toContain(`Nothing was changed. Log in to Instagram as @${broken}`);
      expect(await everything()).toEqual(before);
    }
    expect(await accountOf('rl.stranger')).toBeNull();

    // The refusals did not use the link up: the right account goes through it.
    const { params } = await connectThroughLink(link, broken);
    expect(params).toEqual({ connected: broken });
    expect(await accountOf(broken)).toMatchObject({ id: brokenId, status: 'active' });
    expect(await accountOf(mine)).toMatchObject({ status: 'token_expired' });
  });
});

describe('the link repository: claims', () => {
  it('lets exactly one of many racing callbacks hold a link, until it is used, released or lapses', async () => {
    const repo = new PostgresConnectLinkRepository(t.db);
    const link = await createLink(await owner());
    const claims = await Promise.all(Array.from({ length: 20 }, () => repo.claim(link.id, 60)));
    expect(claims.filter((c) => c === 'claimed')).toHaveLength(1);
    expect(claims.filter((c) => c === 'busy')).toHaveLength(19);

    await repo.release(link.id);
    expect(await repo.claim(link.id, 60)).toBe('claimed');
    // A holder that died: its claim lapses and the link can be taken again.
    await t.db.none(
      `UPDATE connect_links SET claimed_until = now() - interval '1 second' WHERE id = $1`,
      [link.id],
    );
    expect(await repo.claim(link.id, 60)).toBe('claimed');
    const { accountId } = await connectViaOAuth(t, await owner(), instagramAccount('repo.acct'), {
      publicUrl: PUBLIC_URL,
    });
    expect(await repo.markUsed(link.id, accountId)).toBe(true);
    // Single use: a second use (a lapsed hold, another browser) is refused and rolls its connect back.
    expect(await repo.markUsed(link.id, accountId)).toBe(false);
    expect(await repo.claim(link.id, 60)).toBe('used');
    // A release after the use changes nothing.
    await repo.release(link.id);
    expect(await repo.claim(link.id, 60)).toBe('used');
    await repo.revoke(link.id);
    expect(await repo.claim(link.id, 60)).toBe('revoked');
    expect(await repo.claim(randomUUID(), 60)).toBe('gone');
  });
});

describe('with REDIS_URL set but Redis unreachable', () => {
  let down: TestApp;
  beforeAll(async () => {
    down = await startTestApp({
      REDIS_URL: 'redis://127.0.0.1:1',
      CONNECT_PAGE_RATE_LIMIT_PER_IP: '3',
      PUBLIC_URL,
    });
  });
  afterAll(async () => {
    await down?.close();
  });

  it('still answers the page and still limits, counting in memory', async () => {
    const path = `/connect/${randomBytes(32).toString('base64url')}`;
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await http(down.url, 'GET', path)).status);
    expect(statuses).toEqual([404, 404, 404, 429]);
  });
});
