/**
 * Input an attacker sends without signing in: JSON nested thousands deep, NUL bytes in strings
 * (PostgreSQL text cannot hold them: 22021, or 08P01 on a bound parameter), and URLs the router
 * itself refuses. Each is a 400 (or 414) in the one envelope, with the request id and the security
 * headers, never a 500, a stack or the path echoed back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestApp } from './helpers/app';
import { http, registerUser, type HttpResult, type RegisteredUser } from './helpers/http';
import {
  connectAccount,
  startInstagramTestApp,
  type InstagramTestApp,
} from './helpers/instagram-fixtures';

let app: InstagramTestApp;
let t: TestApp;
let user: RegisteredUser;
let accountId: string;

beforeAll(async () => {
  app = await startInstagramTestApp();
  t = app.t;
  user = await registerUser(t.url);
  accountId = (await connectAccount(app, user.userId)).account.id;
});
afterAll(async () => {
  await app?.close();
});

/** The envelope, the request id in it and in the header, the security headers, no leak. */
function expectEnvelope(res: HttpResult, status: number, message?: RegExp) {
  expect({ status: res.status, body: res.body }).toEqual({
    status,
    body: {
      statusCode: status,
      error: expect.any(String),
      message: message ? expect.stringMatching(message) : expect.any(String),
      requestId: expect.any(String),
    },
  });
  expect(res.headers.get('x-request-id')).toBe(res.body.requestId);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  expect(res.headers.get('content-security-policy')).toContain("default-src 'self'");
  expect(res.text).not.toMatch(/at .+\.(ts|js):\d+|SELECT|INSERT|UPDATE |invalid byte sequence/);
}

const errorLines = (from: number) =>
  t.logs.slice(from).filter((line) => /"level":"(error|fatal)"|"stack"/.test(line));

const count = async (sql: string, params: unknown[] = []) =>
  (await t.db.one<{ n: number }>(sql, params)).n;

describe('deeply nested JSON', () => {
  it('2,000 brackets in a login body: 400 before validation, 200 times without an error line', async () => {
    const logsBefore = t.logs.length;
    const body = `${'['.repeat(2000)}${']'.repeat(2000)}`;
    const first = await http(t.url, 'POST', '/auth/login', { rawBody: body });
    expectEnvelope(first, 400, /nest/i);
    const rest = await Promise.all(
      Array.from({ length: 199 }, () => http(t.url, 'POST', '/auth/login', { rawBody: body })),
    );
    expect(rest.map((r) => r.status)).toEqual(Array(199).fill(400));
    expect(errorLines(logsBefore)).toEqual([]);
  });

  it('refuses deep objects, deep arrays inside a valid-looking body, and a megabyte of brackets', async () => {
    const deepObject = `${'{"a":'.repeat(500)}1${'}'.repeat(500)}`;
    const hidden = JSON.stringify({ email: 'a@example.com', password: 'long enough 1' }).replace(
      /}$/,
      `,"name":${'['.repeat(100)}${']'.repeat(100)}}`,
    );
    const megabyte = `${'['.repeat(500_000)}${']'.repeat(500_000)}`;
    for (const rawBody of [deepObject, hidden, megabyte]) {
      expectEnvelope(await http(t.url, 'POST', '/auth/register', { rawBody }), 400, /nest/i);
    }
    // The limit is generous for real bodies: a few levels pass through to validation.
    const shallow = await http(t.url, 'POST', '/auth/login', {
      body: { email: 'a@example.com', password: { a: { b: [[1]] } } },
    });
    expectEnvelope(shallow, 400, /password/);
  });
});

describe('NUL bytes', () => {
  it('register with a NUL in the name: 400, no user written', async () => {
    const before = await count('SELECT count(*)::int AS n FROM users');
    const res = await http(t.url, 'POST', '/auth/register', {
      body: { email: 'nul.name@example.com', password: 'long enough 1', name: 'x\u0000y' },
    });
    expectEnvelope(res, 400, /NUL/);
    expect(await count('SELECT count(*)::int AS n FROM users')).toBe(before);
  });

  it('PATCH displayName with a NUL: 400, the account unchanged', async () => {
    const before = await t.db.one(
      'SELECT display_name, updated_at FROM client_accounts WHERE id = $1',
      [accountId],
    );
    const res = await http(t.url, 'PATCH', `/instagram/accounts/${accountId}`, {
      token: user.token,
      body: { displayName: 'Lena\u0000Bakes' },
    });
    expectEnvelope(res, 400, /NUL/);
    expect(
      await t.db.one('SELECT display_name, updated_at FROM client_accounts WHERE id = $1', [
        accountId,
      ]),
    ).toEqual(before);
  });

  it('in a key, in a login password, in a query, in a path, in a form field: 400', async () => {
    const cases: Array<[string, () => Promise<HttpResult>]> = [
      [
        'key',
        () =>
          http(t.url, 'POST', '/auth/login', {
            rawBody: '{"email":"a@example.com","password":"x","p\\u0000":1}',
          }),
      ],
      [
        'password',
        () =>
          http(t.url, 'POST', '/auth/login', {
            body: { email: user.email, password: `${user.password}\u0000` },
          }),
      ],
      [
        'query',
        () => http(t.url, 'GET', '/instagram/accounts?cursor=%00abc', { token: user.token }),
      ],
      ['path', () => http(t.url, 'GET', '/instagram/accounts/%00', { token: user.token })],
      ['public path', () => http(t.url, 'GET', '/instagram/data-deletion/AbCdEfGhIjKlMnOp%00')],
      [
        'form',
        () =>
          http(t.url, 'POST', '/instagram/webhooks/deauthorize', {
            rawBody: 'signed_request=abc%00def',
            contentType: 'application/x-www-form-urlencoded',
          }),
      ],
    ];
    for (const [what, send] of cases) {
      const res = await send();
      expect({ what, status: res.status }).toEqual({ what, status: 400 });
      expectEnvelope(res, 400);
    }
  });
});

describe('URLs the router refuses', () => {
  const MARKER = 'zq-marker-zq';

  it('a malformed percent-encoding: 400 in the envelope, the path not echoed', async () => {
    for (const path of [
      `/instagram/accounts/%E0%A4%A${MARKER}`,
      `/instagram/data-deletion/%zz${MARKER}`,
    ]) {
      const res = await http(t.url, 'GET', path, { token: user.token });
      expectEnvelope(res, 400);
      expect(res.text).not.toContain(MARKER);
    }
  });

  it('a parameter over the length limit: 414 in the envelope, the path not echoed', async () => {
    const res = await http(t.url, 'GET', `/instagram/accounts/${MARKER.repeat(40)}`, {
      token: user.token,
    });
    expectEnvelope(res, 414);
    expect(res.text).not.toContain(MARKER);
  });

  it('keeps a sane caller request id on a router error too', async () => {
    const res = await http(t.url, 'GET', '/instagram/accounts/%E0%A4%A', {
      headers: { 'x-request-id': 'trace-abc-123' },
    });
    expect(res.body.requestId).toBe('trace-abc-123');
    expect(res.headers.get('x-request-id')).toBe('trace-abc-123');
  });
});
