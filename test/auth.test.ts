import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from './helpers/app';
import { cookieFrom, http, registerUser, uniqueEmail } from './helpers/http';
import { craftJwt } from './helpers/jwt';

let t: TestApp;
const secret = () => t.config.auth.jwtSecret;
const now = () => Math.floor(Date.now() / 1000);

beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t.close();
});

function expectErrorEnvelope(res: { status: number; body: any; text: string }, status: number) {
  expect(res.status).toBe(status);
  expect(res.body).toMatchObject({
    statusCode: status,
    error: expect.any(String),
    message: expect.any(String),
  });
  expect(res.text).not.toMatch(/at .+\.(ts|js):\d+|SELECT|INSERT|password_hash/i);
}

async function userCount(): Promise<number> {
  const row = await t.db.one<{ n: number }>('SELECT count(*)::int AS n FROM users');
  return row.n;
}

describe('POST /auth/register', () => {
  it('creates the user, returns a JWT and sets an HttpOnly session cookie', async () => {
    const email = uniqueEmail('ana');
    const res = await http(t.url, 'POST', '/auth/register', {
      body: { email, password: 'correct horse battery staple', name: 'Ana' },
    });
    expect(res.status).toBe(201);
    expect(res.body.user).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      email,
      name: 'Ana',
      createdAt: expect.any(String),
    });
    expect(res.body.accessToken.split('.')).toHaveLength(3);
    expect(res.body.expiresIn).toBe(900);
    const setCookie = res.headers.getSetCookie().join(';');
    expect(setCookie).toMatch(/ssell_session=[A-Za-z0-9_-]{43}/);
    expect(setCookie).toMatch(/HttpOnly/);
    expect(setCookie).toMatch(/SameSite=Lax/);
    expect(res.text).not.toMatch(/password/i);
    const stored = await t.db.one('SELECT password_hash FROM users WHERE id = $1', [
      res.body.user.id,
    ]);
    expect(stored.password_hash).toMatch(/^scrypt\$ln=15,r=8,p=1\$/);
    const session = await t.db.one('SELECT token_hash FROM sessions WHERE user_id = $1', [
      res.body.user.id,
    ]);
    expect(session.token_hash).toHaveLength(32);
  });

  it('rejects a duplicate email case-insensitively with 409 and writes nothing', async () => {
    const email = uniqueEmail('dup');
    await registerUser(t.url, { email });
    const before = await userCount();
    const res = await http(t.url, 'POST', '/auth/register', {
      body: { email: email.toUpperCase(), password: 'another password 123' },
    });
    expectErrorEnvelope(res, 409);
    expect(res.body.message).toBe('An account with this email already exists');
    expect(await userCount()).toBe(before);
  });

  it.each([
    ['missing email', { password: 'long enough pw' }, /email/],
    ['missing password', { email: 'x@example.com' }, /password/],
    ['invalid email', { email: 'not-an-email', password: 'long enough pw' }, /email/],
    ['short password', { email: 'y@example.com', password: 'short' }, /password/],
    ['wrong-typed email', { email: 42, password: 'long enough pw' }, /email/],
    ['wrong-typed password', { email: 'z@example.com', password: ['a'] }, /password/],
    ['wrong-typed name', { email: 'w@example.com', password: 'long enough pw', name: 7 }, /name/],
    [
      'unknown field',
      { email: 'v@example.com', password: 'long enough pw', role: 'admin' },
      /role should not exist/,
    ],
    [
      'over-long name',
      { email: 'u@example.com', password: 'long enough pw', name: 'n'.repeat(101) },
      /name/,
    ],
    [
      'over-long email',
      { email: `${'a'.repeat(250)}@example.com`, password: 'long enough pw' },
      /email/,
    ],
  ])('400 for %s, nothing written', async (_label, body, message) => {
    const before = await userCount();
    const res = await http(t.url, 'POST', '/auth/register', { body });
    expectErrorEnvelope(res, 400);
    expect(res.body.message).toMatch(message);
    expect(await userCount()).toBe(before);
  });

  it('400 for malformed JSON', async () => {
    const res = await http(t.url, 'POST', '/auth/register', { rawBody: '{"email": "a@b.c",' });
    expectErrorEnvelope(res, 400);
  });

  it('400 for a JSON body that is not an object', async () => {
    const res = await http(t.url, 'POST', '/auth/register', { rawBody: '[1,2,3]' });
    expectErrorEnvelope(res, 400);
  });

  it('413 for a body over 1 MB', async () => {
    const res = await http(t.url, 'POST', '/auth/register', {
      rawBody: JSON.stringify({ email: 'big@example.com', password: 'x'.repeat(1_100_000) }),
    });
    expectErrorEnvelope(res, 413);
  });

  it('415 for an unsupported content type', async () => {
    const res = await http(t.url, 'POST', '/auth/register', {
      rawBody: '<xml/>',
      contentType: 'application/xml',
    });
    expectErrorEnvelope(res, 415);
  });
});

describe('POST /auth/login', () => {
  it('signs in with the right password (email case-insensitive) and sets a new session', async () => {
    const user = await registerUser(t.url);
    const res = await http(t.url, 'POST', '/auth/login', {
      body: { email: user.email.toUpperCase(), password: user.password },
    });
    expect(res.status).toBe(200);
    expect(res.body.user.id).toBe(user.userId);
    expect(cookieFrom(res.headers, 'ssell_session')).toBeDefined();
    expect(cookieFrom(res.headers, 'ssell_session')).not.toBe(user.cookie);
  });

  it('401 for a wrong password, with the same answer as for an unknown email', async () => {
    const user = await registerUser(t.url);
    const wrong = await http(t.url, 'POST', '/auth/login', {
      body: { email: user.email, password: 'wrong password!' },
    });
    const unknown = await http(t.url, 'POST', '/auth/login', {
      body: { email: uniqueEmail('nobody'), password: 'wrong password!' },
    });
    expectErrorEnvelope(wrong, 401);
    expectErrorEnvelope(unknown, 401);
    expect(wrong.body.message).toBe(unknown.body.message);
    expect(wrong.headers.get('set-cookie')).toBeNull();
  });

  it('400 for missing, extra and wrong-typed fields', async () => {
    for (const body of [
      {},
      { email: 'a@example.com' },
      { email: 'a@example.com', password: 1 },
      { email: 'a@example.com', password: 'x', extra: 1 },
    ]) {
      expectErrorEnvelope(await http(t.url, 'POST', '/auth/login', { body }), 400);
    }
  });
});

describe('SessionGuard and GET /auth/me', () => {
  it('accepts the Bearer token and the cookie alike', async () => {
    const user = await registerUser(t.url, { name: 'Bo' });
    const viaBearer = await http(t.url, 'GET', '/auth/me', { token: user.token });
    const viaCookie = await http(t.url, 'GET', '/auth/me', { cookie: user.cookie });
    expect(viaBearer.status).toBe(200);
    expect(viaCookie.status).toBe(200);
    expect(viaBearer.body).toEqual(viaCookie.body);
    expect(viaBearer.body.user).toMatchObject({ id: user.userId, email: user.email, name: 'Bo' });
  });

  it('401 without credentials', async () => {
    expectErrorEnvelope(await http(t.url, 'GET', '/auth/me'), 401);
  });

  it('401 for a token signed with another secret', async () => {
    const user = await registerUser(t.url);
    const forged = craftJwt(
      { sub: user.userId, iat: now(), exp: now() + 600 },
      { secret: 'not-the-secret-not-the-secret-123' },
    );
    expectErrorEnvelope(await http(t.url, 'GET', '/auth/me', { token: forged }), 401);
  });

  it('401 for an expired token', async () => {
    const user = await registerUser(t.url);
    const expired = craftJwt(
      { sub: user.userId, iat: now() - 1000, exp: now() - 10 },
      { secret: secret() },
    );
    expectErrorEnvelope(await http(t.url, 'GET', '/auth/me', { token: expired }), 401);
  });

  it('401 for alg "none" and for other HMAC algorithms with the right secret', async () => {
    const user = await registerUser(t.url);
    // The session the real token names: a token must name one (test/session-revocation.test.ts).
    const { sid } = JSON.parse(Buffer.from(user.token.split('.')[1]!, 'base64url').toString());
    const claims = { sub: user.userId, sid, iat: now(), exp: now() + 600 };
    expectErrorEnvelope(
      await http(t.url, 'GET', '/auth/me', { token: craftJwt(claims, { alg: 'none' }) }),
      401,
    );
    expectErrorEnvelope(
      await http(t.url, 'GET', '/auth/me', {
        token: craftJwt(claims, { alg: 'HS512', secret: secret() }),
      }),
      401,
    );
    // The control: the same claims with HS256 and the secret pass.
    expect(
      (await http(t.url, 'GET', '/auth/me', { token: craftJwt(claims, { secret: secret() }) }))
        .status,
    ).toBe(200);
  });

  it('401 for a token whose subject is not a user id, and for malformed headers', async () => {
    const token = craftJwt(
      { sub: "1' OR '1'='1", iat: now(), exp: now() + 600 },
      { secret: secret() },
    );
    expectErrorEnvelope(await http(t.url, 'GET', '/auth/me', { token }), 401);
    expectErrorEnvelope(
      await http(t.url, 'GET', '/auth/me', { headers: { authorization: 'Basic abc' } }),
      401,
    );
    expectErrorEnvelope(
      await http(t.url, 'GET', '/auth/me', { headers: { authorization: 'Bearer not-a-jwt' } }),
      401,
    );
  });

  it('401 for a bad Bearer token even when a valid cookie is also sent', async () => {
    const user = await registerUser(t.url);
    const res = await http(t.url, 'GET', '/auth/me', { cookie: user.cookie, token: 'a.b.c' });
    expectErrorEnvelope(res, 401);
  });

  it('401 for a forged or malformed cookie', async () => {
    expectErrorEnvelope(await http(t.url, 'GET', '/auth/me', { cookie: 'ssell_session=abc' }), 401);
    expectErrorEnvelope(
      await http(t.url, 'GET', '/auth/me', { cookie: `ssell_session=${'A'.repeat(43)}` }),
      401,
    );
  });

  it('401 once the session has expired', async () => {
    const user = await registerUser(t.url);
    await t.db.none(
      "UPDATE sessions SET expires_at = NOW() - interval '1 second' WHERE user_id = $1",
      [user.userId],
    );
    expectErrorEnvelope(await http(t.url, 'GET', '/auth/me', { cookie: user.cookie }), 401);
  });
});

describe('POST /auth/logout', () => {
  it('revokes the cookie session: 204, cookie cleared, then 401', async () => {
    const user = await registerUser(t.url);
    const res = await http(t.url, 'POST', '/auth/logout', { cookie: user.cookie });
    expect(res.status).toBe(204);
    expect(res.headers.getSetCookie().join(';')).toMatch(/ssell_session=;/);
    expectErrorEnvelope(await http(t.url, 'GET', '/auth/me', { cookie: user.cookie }), 401);
    const row = await t.db.one('SELECT revoked_at FROM sessions WHERE user_id = $1', [user.userId]);
    expect(row.revoked_at).toBeInstanceOf(Date);
  });

  it('with a Bearer token revokes the session the token was issued with', async () => {
    const user = await registerUser(t.url);
    expect((await http(t.url, 'POST', '/auth/logout', { token: user.token })).status).toBe(204);
    expectErrorEnvelope(await http(t.url, 'GET', '/auth/me', { cookie: user.cookie }), 401);
  });

  it('401 without a session', async () => {
    expectErrorEnvelope(await http(t.url, 'POST', '/auth/logout'), 401);
  });
});

describe('the HTTP shell', () => {
  it('answers unknown routes with a JSON 404', async () => {
    expectErrorEnvelope(await http(t.url, 'GET', '/no/such/route'), 404);
  });

  it('puts a request id on every reply, keeping a sane caller-supplied one', async () => {
    const mine = await http(t.url, 'GET', '/health/live', {
      headers: { 'x-request-id': 'abc-123' },
    });
    expect(mine.headers.get('x-request-id')).toBe('abc-123');
    const generated = await http(t.url, 'GET', '/health/live', {
      headers: { 'x-request-id': 'bad id with spaces' },
    });
    expect(generated.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    const failed = await http(t.url, 'GET', '/nope');
    expect(failed.body.requestId).toBe(failed.headers.get('x-request-id'));
  });

  it('sends security headers', async () => {
    const res = await http(t.url, 'GET', '/health/live');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(res.headers.get('x-frame-options')).toBe('SAMEORIGIN');
  });

  it('reports liveness and readiness', async () => {
    expect((await http(t.url, 'GET', '/health/live')).body).toEqual({ status: 'ok' });
    expect((await http(t.url, 'GET', '/health/ready')).body).toEqual({
      status: 'ok',
      database: 'up',
      jobs: { status: 'ok', checkedAt: expect.any(String), stalled: [] },
    });
  });

  it('serves the OpenAPI document and Swagger UI', async () => {
    const doc = await http(t.url, 'GET', '/docs-json');
    expect(doc.status).toBe(200);
    for (const path of [
      '/auth/register',
      '/auth/login',
      '/auth/logout',
      '/auth/me',
      '/health/ready',
    ]) {
      expect(doc.body.paths).toHaveProperty([path]);
    }
    const ui = await http(t.url, 'GET', '/docs');
    expect(ui.status).toBe(200);
    expect(ui.text).toMatch(/swagger/i);
  });

  it('never logs a password, a JWT or a session cookie', async () => {
    const user = await registerUser(t.url, { password: 'p4ssw0rd-that-must-not-leak' });
    await http(t.url, 'GET', '/auth/me', { token: user.token, cookie: user.cookie });
    await http(t.url, 'POST', '/auth/login', {
      body: { email: user.email, password: 'p4ssw0rd-that-must-not-leak' },
    });
    const all = t.logs.join('\n');
    expect(all.length).toBeGreaterThan(0);
    expect(all).not.toContain('p4ssw0rd-that-must-not-leak');
    expect(all).not.toContain(user.token);
    expect(all).not.toContain(user.cookie.split('=')[1]);
  });
});

describe('rate limiting', () => {
  let limited: TestApp;
  beforeAll(async () => {
    limited = await startTestApp({
      AUTH_RATE_LIMIT_PER_EMAIL: '3',
      AUTH_RATE_LIMIT_PER_IP: '8',
      AUTH_RATE_LIMIT_WINDOW_SECONDS: '60',
    });
  });
  afterAll(async () => {
    await limited.close();
  });

  it('429 with Retry-After once an email has used its attempts', async () => {
    const email = uniqueEmail('brute');
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      statuses.push(
        (
          await http(limited.url, 'POST', '/auth/login', {
            body: { email, password: `guess-${i}-xx` },
          })
        ).status,
      );
    }
    expect(statuses).toEqual([401, 401, 401, 429]);
    const res = await http(limited.url, 'POST', '/auth/login', {
      body: { email, password: 'guess-5-xx' },
    });
    expectErrorEnvelope(res, 429);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(Number(res.headers.get('retry-after'))).toBeLessThanOrEqual(60);
  });

  it('429 once an IP has used its attempts, across emails', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      statuses.push(
        (
          await http(limited.url, 'POST', '/auth/login', {
            body: { email: uniqueEmail('ip'), password: 'whatever-123' },
          })
        ).status,
      );
    }
    // 5 attempts above + 3 in this test reach the IP budget of 8.
    expect(statuses.slice(0, 3)).toEqual([401, 401, 401]);
    expect(statuses.slice(3)).toEqual([429, 429, 429]);
  });
});
