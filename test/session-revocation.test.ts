/**
 * Bearer JWTs are verified without a database read, so signing out (or deleting the user) must
 * reach every process some other way: PostgreSQL NOTIFY feeds each process's in-memory list of
 * revoked sessions, reloaded whenever the listener (re)connects. Two service instances on one
 * database, as behind a load balancer.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { PG } from '../src/infrastructure/database/database.module';
import type { Db } from '../src/infrastructure/database/database';
import { startTestApp, type TestApp } from './helpers/app';
import { createTestDatabase, type TestDatabase } from './helpers/database';
import { http, registerUser, type RegisteredUser } from './helpers/http';
import { craftJwt } from './helpers/jwt';

let database: TestDatabase;
let a: TestApp;
let b: TestApp;

beforeAll(async () => {
  database = await createTestDatabase();
  // One after the other: pg-boss's createQueue deadlocks when two processes start at the same
  // instant (the job queue's business, not this file's).
  a = await startTestApp({}, { database, name: 'ssell-a' });
  b = await startTestApp({}, { database, name: 'ssell-b' });
});
afterAll(async () => {
  await Promise.all([a?.close(), b?.close()]);
  await database?.drop();
});

const accounts = (app: TestApp, token: string) =>
  http(app.url, 'GET', '/instagram/accounts', { token });

/** How long until `app` refuses `token` (401), polling; fails after `limitMs`. */
async function refusedWithin(app: TestApp, token: string, limitMs: number): Promise<number> {
  const started = Date.now();
  for (;;) {
    const res = await accounts(app, token);
    if (res.status === 401) return Date.now() - started;
    expect(res.status).toBe(200);
    if (Date.now() - started > limitMs) throw new Error(`still accepted after ${limitMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function login(app: TestApp, user: RegisteredUser): Promise<string> {
  const res = await http(app.url, 'POST', '/auth/login', {
    body: { email: user.email, password: user.password },
  });
  expect(res.status).toBe(200);
  return res.body.accessToken as string;
}

describe('a revoked session’s JWT', () => {
  it('logout on A: refused on A at once and on B within seconds; the other session lives on', async () => {
    const user = await registerUser(a.url);
    const other = await login(b, user);
    expect((await accounts(b, user.token)).status).toBe(200);

    expect((await http(a.url, 'POST', '/auth/logout', { token: user.token })).status).toBe(204);
    expect((await accounts(a, user.token)).status).toBe(401);
    const ms = await refusedWithin(b, user.token, 3000);
    expect(ms).toBeLessThan(3000);
    const res = await accounts(b, user.token);
    expect(res.body).toMatchObject({
      statusCode: 401,
      message: expect.stringMatching(/signed out/i),
    });
    // Only that session: the same user's other sign-in still works on both.
    expect((await accounts(a, other)).status).toBe(200);
    expect((await accounts(b, other)).status).toBe(200);
  });

  it('a deleted user: every JWT of theirs refused on both instances', async () => {
    const user = await registerUser(a.url);
    const second = await login(b, user);
    await a.db.none('DELETE FROM users WHERE id = $1', [user.userId]);
    for (const token of [user.token, second]) {
      await refusedWithin(a, token, 3000);
      await refusedWithin(b, token, 3000);
    }
  });

  it('a revocation made while B’s listener was disconnected is picked up when it reconnects', async () => {
    const user = await registerUser(a.url);
    expect((await accounts(b, user.token)).status).toBe(200);
    const session = await a.db.one<{ id: string }>('SELECT id FROM sessions WHERE user_id = $1', [
      user.userId,
    ]);
    const listener = () =>
      a.db.oneOrNone<{ pid: number }>(
        `SELECT pid FROM pg_stat_activity WHERE application_name = 'ssell-b-listen' AND datname = current_database()`,
      );
    const before = await listener();
    expect(before).not.toBeNull();
    // One implicit transaction: the listener is gone (the terminate waits for it) before the
    // revocation commits, so its NOTIFY reaches nobody on B. Only the reload on reconnect can.
    await a.db.multi(
      `SELECT pg_terminate_backend($1, 5000);
       UPDATE sessions SET revoked_at = now() WHERE id = $2`,
      [before!.pid, session.id],
    );
    await refusedWithin(b, user.token, 5000);
    const after = await listener();
    expect(after?.pid).toBeDefined();
    expect(after?.pid).not.toBe(before!.pid);
  });

  it('is checked without a database read per request', async () => {
    const user = await registerUser(b.url);
    const db = b.app.get<Db>(PG);
    const methods = [
      'one',
      'oneOrNone',
      'none',
      'many',
      'manyOrNone',
      'any',
      'result',
      'query',
      'multi',
      'task',
      'tx',
    ] as const;
    const spies = methods.map((m) => vi.spyOn(db, m));
    try {
      for (let i = 0; i < 20; i++) {
        const res = await http(b.url, 'GET', '/instagram/oauth/info', { token: user.token });
        expect(res.status).toBe(200);
      }
      expect(spies.reduce((n, spy) => n + spy.mock.calls.length, 0)).toBe(0);
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
  });
});

describe('JWT claims', () => {
  const now = () => Math.floor(Date.now() / 1000);

  it('refuses a token without exp, without sid, or expiring beyond the one-hour cap', async () => {
    const user = await registerUser(a.url);
    const sid = (
      await a.db.one<{ id: string }>('SELECT id FROM sessions WHERE user_id = $1', [user.userId])
    ).id;
    const secret = a.config.auth.jwtSecret;
    const cases: Array<[string, Record<string, unknown>, number]> = [
      ['valid', { sub: user.userId, sid, iat: now(), exp: now() + 600 }, 200],
      ['no exp', { sub: user.userId, sid, iat: now() }, 401],
      ['exp not a number', { sub: user.userId, sid, iat: now(), exp: `${now() + 600}` }, 401],
      ['no sid', { sub: user.userId, iat: now(), exp: now() + 600 }, 401],
      ['sid not a uuid', { sub: user.userId, sid: 'x', iat: now(), exp: now() + 600 }, 401],
      ['a day long', { sub: user.userId, sid, iat: now(), exp: now() + 86_400 }, 401],
    ];
    for (const [what, claims, status] of cases) {
      const res = await accounts(a, craftJwt(claims, { secret }));
      expect({ what, status: res.status }).toEqual({ what, status });
    }
  });
});
