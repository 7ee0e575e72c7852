/**
 * Requests a browser makes on another site's behalf. A form on evil.example posting to
 * /auth/login would sign the victim into the attacker's account (and their next Instagram connect
 * would land there); one posting to /sync or DELETE would act with the victim's cookie. State-
 * changing routes take JSON only and refuse a foreign Origin or `Sec-Fetch-Site: cross-site`
 * (Meta's form-encoded server-to-server callbacks excepted). Also: the Content-Security-Policy of
 * the page and of the API docs, and whether the docs are served at all.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestApp } from './helpers/app';
import { startTestApp } from './helpers/app';
import { cookieFrom, http, registerUser, uniqueEmail, type HttpResult } from './helpers/http';
import {
  connectAccount,
  startInstagramTestApp,
  type InstagramTestApp,
} from './helpers/instagram-fixtures';

const PUBLIC_URL = 'https://ssell.example.com';
const PARTNER = 'https://app.partner.example';
const EVIL = 'https://evil.example';

let app: InstagramTestApp;
let t: TestApp;

beforeAll(async () => {
  app = await startInstagramTestApp({
    PUBLIC_URL,
    CORS_ORIGINS: `${PARTNER}, http://localhost:5173`,
  });
  t = app.t;
});
afterAll(async () => {
  await app?.close();
});

function expectRefused(res: HttpResult, status: 403 | 415) {
  expect({ status: res.status, body: res.body }).toEqual({
    status,
    body: {
      statusCode: status,
      error: status === 403 ? 'Forbidden' : 'Unsupported Media Type',
      message: expect.any(String),
      requestId: res.headers.get('x-request-id'),
    },
  });
  expect(res.headers.get('set-cookie')).toBeNull();
  expect(res.headers.get('x-content-type-options')).toBe('nosniff');
}

const sessions = async () =>
  (await t.db.one<{ n: number }>('SELECT count(*)::int AS n FROM sessions')).n;

describe('a forged sign-in', () => {
  it('a form post from another site: refused, no session, no cookie', async () => {
    const victimOf = await registerUser(t.url);
    const before = await sessions();
    const form = `email=${encodeURIComponent(victimOf.email)}&password=${encodeURIComponent(victimOf.password)}`;
    for (const [contentType, origin] of [
      ['application/x-www-form-urlencoded', EVIL],
      ['multipart/form-data; boundary=x', EVIL],
      ['text/plain', EVIL],
    ] as const) {
      const res = await http(t.url, 'POST', '/auth/login', {
        rawBody: form,
        contentType,
        headers: { origin, 'sec-fetch-site': 'cross-site' },
      });
      expectRefused(res, 403);
    }
    expect(await sessions()).toBe(before);
  });

  it('a form body is refused even without an Origin (JSON only), and so is JSON sent as text/plain', async () => {
    const user = await registerUser(t.url);
    const before = await sessions();
    const form = `email=${encodeURIComponent(user.email)}&password=${encodeURIComponent(user.password)}`;
    expectRefused(
      await http(t.url, 'POST', '/auth/login', {
        rawBody: form,
        contentType: 'application/x-www-form-urlencoded',
      }),
      415,
    );
    // The classic trick: a form with enctype text/plain can carry a JSON-looking body.
    expectRefused(
      await http(t.url, 'POST', '/auth/login', {
        rawBody: JSON.stringify({ email: user.email, password: user.password }),
        contentType: 'text/plain',
        headers: { origin: PUBLIC_URL },
      }),
      415,
    );
    expectRefused(
      await http(t.url, 'POST', '/auth/register', {
        rawBody: `email=${encodeURIComponent(uniqueEmail())}&password=long+enough+pw`,
        contentType: 'application/x-www-form-urlencoded',
      }),
      415,
    );
    expect(await sessions()).toBe(before);
  });

  it('JSON from another site is refused too; from PUBLIC_URL, CORS_ORIGINS or no browser it works', async () => {
    const user = await registerUser(t.url);
    const login = (headers: { origin?: string; 'sec-fetch-site'?: string }) =>
      http(t.url, 'POST', '/auth/login', {
        body: { email: user.email, password: user.password },
        headers,
      });
    for (const headers of [
      { origin: EVIL },
      { origin: 'null' },
      { origin: `${PUBLIC_URL}.evil.example` },
      { origin: 'http://ssell.example.com' },
      { 'sec-fetch-site': 'cross-site' },
      { 'sec-fetch-site': 'same-site' },
      { origin: EVIL, 'sec-fetch-site': 'same-origin' },
    ]) {
      const res = await login(headers);
      expect({ headers, status: res.status }).toEqual({ headers, status: 403 });
      expectRefused(res, 403);
    }
    for (const headers of [
      {},
      { origin: PUBLIC_URL, 'sec-fetch-site': 'same-origin' },
      { origin: 'HTTPS://SSELL.EXAMPLE.COM:443' },
      { origin: PARTNER, 'sec-fetch-site': 'cross-site' },
      { origin: 'http://localhost:5173' },
      { 'sec-fetch-site': 'same-origin' },
      { 'sec-fetch-site': 'none' },
    ]) {
      const res = await login(headers);
      expect({ headers, status: res.status }).toEqual({ headers, status: 200 });
      expect(cookieFrom(res.headers, 'ssell_session')).toBeDefined();
    }
  });
});

describe('state-changing requests with the victim’s cookie', () => {
  it('sync, PATCH, DELETE and logout from another site: 403, nothing changed', async () => {
    const user = await registerUser(t.url);
    const { account } = await connectAccount(app, user.userId);
    const row = () =>
      t.db.oneOrNone('SELECT status, display_name, updated_at FROM client_accounts WHERE id = $1', [
        account.id,
      ]);
    const before = await row();
    const attacks: Array<[string, string, string | undefined]> = [
      ['POST', `/instagram/accounts/${account.id}/sync`, undefined],
      ['POST', `/instagram/accounts/${account.id}/refresh-status`, undefined],
      ['PATCH', `/instagram/accounts/${account.id}`, JSON.stringify({ status: 'disconnected' })],
      ['DELETE', `/instagram/accounts/${account.id}`, undefined],
      ['POST', '/auth/logout', undefined],
    ];
    for (const [method, path, body] of attacks) {
      const res = await http(t.url, method, path, {
        cookie: user.cookie,
        headers: { origin: EVIL, 'sec-fetch-site': 'cross-site' },
        ...(body ? { rawBody: body } : {}),
      });
      expect({ method, path, status: res.status }).toEqual({ method, path, status: 403 });
    }
    expect(await row()).toEqual(before);
    // The session survived the forged logout.
    expect((await http(t.url, 'GET', '/auth/me', { cookie: user.cookie })).status).toBe(200);
    // The same page's own requests still work.
    const own = await http(t.url, 'POST', `/instagram/accounts/${account.id}/refresh-status`, {
      cookie: user.cookie,
      headers: { origin: PUBLIC_URL, 'sec-fetch-site': 'same-origin' },
    });
    expect(own.status).toBe(200);
  });

  it('reads are not affected (a cross-site GET carries no Lax cookie anyway)', async () => {
    const user = await registerUser(t.url);
    const res = await http(t.url, 'GET', '/instagram/accounts', {
      token: user.token,
      headers: { origin: EVIL, 'sec-fetch-site': 'cross-site' },
    });
    expect(res.status).toBe(200);
  });

  it("Meta's form-encoded callbacks still arrive (server to server, no Origin)", async () => {
    const res = await http(t.url, 'POST', '/instagram/webhooks/deauthorize', {
      rawBody: 'signed_request=bad.signature',
      contentType: 'application/x-www-form-urlencoded',
    });
    // Reached the handler: refused for its signature, not for its content type.
    expect(res.status).toBe(400);
    expect(res.body.message).toMatch(/signed_request/);
  });

  it('the session cookie is HttpOnly and SameSite=Lax', async () => {
    const res = await http(t.url, 'POST', '/auth/register', {
      body: { email: uniqueEmail(), password: 'long enough password' },
    });
    const cookie = res.headers.getSetCookie().find((c) => c.startsWith('ssell_session='));
    expect(cookie).toMatch(/; HttpOnly/);
    expect(cookie).toMatch(/; SameSite=Lax/);
  });
});

describe('Content-Security-Policy and the API docs', () => {
  const scriptSrc = (res: HttpResult) =>
    /script-src ([^;]*)/.exec(res.headers.get('content-security-policy') ?? '')?.[1] ?? '';

  it('allows inline scripts only on /docs (Swagger UI), not on the page or the API', async () => {
    for (const path of [
      '/',
      '/index.html',
      '/app.js',
      '/health/live',
      '/auth/me',
      '/no/such/page',
    ]) {
      const res = await http(t.url, 'GET', path);
      expect({ path, scriptSrc: scriptSrc(res) }).toEqual({ path, scriptSrc: "'self'" });
    }
    for (const path of ['/docs', '/docs/', '/docs/swagger-ui-init.js']) {
      const res = await http(t.url, 'GET', path);
      expect(res.status).toBe(200);
      expect({ path, inline: scriptSrc(res).includes("'unsafe-inline'") }).toEqual({
        path,
        inline: true,
      });
    }
  });

  it('DOCS_ENABLED=false serves neither the UI nor the document', async () => {
    const closed = await startTestApp({ DOCS_ENABLED: 'false' });
    try {
      for (const path of [
        '/docs',
        '/docs/',
        '/docs-json',
        '/docs-yaml',
        '/docs/swagger-ui-init.js',
      ]) {
        const res = await http(closed.url, 'GET', path);
        expect({ path, status: res.status }).toEqual({ path, status: 404 });
      }
      expect((await http(closed.url, 'GET', '/health/live')).status).toBe(200);
    } finally {
      await closed.close();
    }
  });
});

describe('production cookies', () => {
  it('the OAuth binding cookie is __Host- prefixed (Secure, Path=/, no Domain) and the callback reads it', async () => {
    const prod = await startInstagramTestApp({ NODE_ENV: 'production', PUBLIC_URL });
    try {
      const user = await registerUser(prod.t.url);
      prod.emu.state.createAccount({ username: 'host.prefix' });
      const authorize = await http(prod.t.url, 'GET', '/instagram/oauth/authorize', {
        token: user.token,
      });
      expect(authorize.status).toBe(302);
      const setCookie = authorize.headers.getSetCookie();
      expect(setCookie.some((c) => c.startsWith('ssell_oauth='))).toBe(false);
      const binding = setCookie.find((c) => c.startsWith('__Host-ssell_oauth='))!;
      expect(binding).toMatch(/; Path=\/(;|$)/);
      expect(binding).toMatch(/; Secure/);
      expect(binding).toMatch(/; HttpOnly/);
      expect(binding).not.toMatch(/Domain=/i);

      const dialog = new URL(authorize.headers.get('location')!);
      dialog.searchParams.set('__approve', 'host.prefix');
      const consent = await fetch(dialog, { redirect: 'manual' });
      const back = new URL(consent.headers.get('location')!);
      const callback = await http(prod.t.url, 'GET', `${back.pathname}${back.search}`, {
        cookie: binding.split(';')[0],
      });
      expect(callback.status).toBe(302);
      expect(callback.headers.get('location')).toMatch(/\?connected=[0-9a-f-]{36}$/);
    } finally {
      await prod.close();
    }
  });
});
