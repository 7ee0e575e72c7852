/**
 * PostgreSQL failing under the service, as real processes: a throw-away cluster this file starts
 * (never the shared test server), frozen with SIGSTOP (sockets open, nothing answers) and stopped
 * outright, while the service (booted as `npm start` boots it) takes requests. Every request must
 * answer 503 with Retry-After and the usual envelope, quickly; the log says so once per outage;
 * the service recovers by itself.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type RunningEmulator } from '../emulator/emulator';
import { startService, type RunningService } from '../src/bootstrap';
import { createRootLogger } from '../src/common/logging/logger';
import { loadConfig } from '../src/config/config';
import { generateKeyringEntry } from '../src/config/keyring';
import { createDatabase } from '../src/infrastructure/database/database';
import { AccountService } from '../src/modules/instagram/services/account.service';
import { startThrowawayCluster, type ThrowawayCluster } from './helpers/cluster-process';
import { http, registerUser, type HttpResult, type RegisteredUser } from './helpers/http';
import { connectAccount, emulatorEnv } from './helpers/instagram-fixtures';

/** Small so the test is quick; the bounds below are derived from it. */
const STATEMENT_TIMEOUT_MS = 1500;
const CONNECT_TIMEOUT_MS = 1000;
/** The slowest a request may take while PostgreSQL hangs: the client-side read deadline + slack. */
const HUNG_BOUND_MS = STATEMENT_TIMEOUT_MS + 1000 + 1500;

let cluster: ThrowawayCluster;
let emu: RunningEmulator;
let service: RunningService;
let base: string;
let user: RegisteredUser;
let accountId: string;
const logs: string[] = [];

beforeAll(async () => {
  [cluster, emu] = await Promise.all([startThrowawayCluster(), startEmulator({ port: 0 })]);
  const config = loadConfig({
    NODE_ENV: 'test',
    DATA_DIR: mkdtempSync(join(tmpdir(), 'ssell-faults-')),
    DATABASE_URL: cluster.url,
    DATABASE_POOL_SIZE: '4',
    DATABASE_STATEMENT_TIMEOUT_MS: String(STATEMENT_TIMEOUT_MS),
    DATABASE_CONNECT_TIMEOUT_MS: String(CONNECT_TIMEOUT_MS),
    JWT_SECRET: 'faults-secret-faults-secret-faults-0123456789',
    TOKEN_ENCRYPTION_KEY: generateKeyringEntry(1),
    AUTH_RATE_LIMIT_PER_IP: '1000',
    AUTH_RATE_LIMIT_PER_EMAIL: '1000',
    HOST: '127.0.0.1',
    PORT: '0',
    ...emulatorEnv(emu),
    // The emulator's picture links point at 127.0.0.1.
    PICTURE_FETCH_ALLOW_PRIVATE: 'true',
  });
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logs.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  service = await startService(config, createRootLogger('info', sink), 'api');
  const address = service.app.getHttpServer().address();
  base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  user = await registerUser(base);
  const connected = await connectAccount(
    { emu, accounts: service.app.get(AccountService) },
    user.userId,
  );
  accountId = connected.account.id;
}, 120_000);

afterAll(async () => {
  cluster?.thaw();
  await service?.stop();
  await emu?.close();
  await cluster?.close();
});

/** What a person's page and an API client do: each needs the database. */
function traffic(): Array<() => Promise<HttpResult>> {
  return [
    () => http(base, 'GET', '/auth/me', { cookie: user.cookie }),
    () => http(base, 'GET', '/auth/me', { token: user.token }),
    () => http(base, 'GET', '/instagram/accounts', { token: user.token }),
    () => http(base, 'GET', `/instagram/accounts/${accountId}`, { token: user.token }),
    () => http(base, 'POST', `/instagram/accounts/${accountId}/sync`, { token: user.token }),
    () =>
      http(base, 'POST', '/auth/login', { body: { email: user.email, password: user.password } }),
  ];
}

async function timed(request: () => Promise<HttpResult>): Promise<HttpResult & { ms: number }> {
  const started = Date.now();
  const res = await request();
  return { ...res, ms: Date.now() - started };
}

function expectUnavailable(res: HttpResult & { ms: number }, boundMs: number) {
  expect({ status: res.status, within: res.ms <= boundMs }).toEqual({ status: 503, within: true });
  expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  expect(res.body).toEqual({
    statusCode: 503,
    error: 'Service Unavailable',
    message: expect.stringMatching(/database/i),
    requestId: res.headers.get('x-request-id'),
  });
  expect(res.text).not.toMatch(/ECONNREFUSED|timeout exceeded|SELECT|at .+\.(ts|js):\d+/);
}

async function waitUntilReady(limitMs: number): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < limitMs) {
    const res = await http(base, 'GET', '/health/ready').catch(() => undefined);
    if (res?.status === 200) return Date.now() - started;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`not ready again within ${limitMs} ms`);
}

/** Log lines of one outage: at warn level or above, or with a stack, or about the database. */
function outageLines(from: number): string[] {
  return logs.slice(from).filter((line) => {
    const entry = JSON.parse(line) as { level: string; msg?: string; err?: { stack?: string } };
    return (
      entry.level === 'warn' ||
      entry.level === 'error' ||
      entry.level === 'fatal' ||
      line.includes('"stack"') ||
      /postgres|database/i.test(entry.msg ?? '')
    );
  });
}

async function expectServing() {
  for (const request of traffic()) {
    const res = await request();
    expect(res.status).toBeLessThan(300);
  }
}

describe('PostgreSQL hung (SIGSTOP of the cluster)', () => {
  it('readiness answers 503 within 2 s, every request 503 with Retry-After, and it recovers', async () => {
    await expectServing();
    const logsBefore = logs.length;
    cluster.freeze();
    let ready: HttpResult & { ms: number };
    let answers: Array<HttpResult & { ms: number }>;
    try {
      ready = await timed(() => http(base, 'GET', '/health/ready'));
      // Under load: three rounds of everything at once, more than the pool holds.
      answers = await Promise.all(
        [...traffic(), ...traffic(), ...traffic()].map((request) => timed(request)),
      );
      // Liveness does not need the database.
      expect((await http(base, 'GET', '/health/live')).status).toBe(200);
    } finally {
      cluster.thaw();
    }
    expectUnavailable(ready, 2000);
    for (const res of answers) expectUnavailable(res, HUNG_BOUND_MS);

    await waitUntilReady(5000);
    await expectServing();
    const lines = outageLines(logsBefore);
    expect(
      lines.filter((l) => l.includes('"level":"error"')),
      lines.join('\n'),
    ).toHaveLength(1);
    expect(lines.join('\n')).not.toMatch(/"stack"|\\n\s+at /);
    expect(lines.filter((l) => /PostgreSQL answers again/.test(l))).toHaveLength(1);
    expect(lines.length, lines.join('\n')).toBeLessThanOrEqual(2);
  }, 30_000);
});

describe('PostgreSQL stopped', () => {
  it('503 with Retry-After at once, one log line for the outage, and back without a restart', async () => {
    await expectServing();
    const logsBefore = logs.length;
    await cluster.stop();
    let answers: Array<HttpResult & { ms: number }>;
    let ready: HttpResult & { ms: number };
    try {
      ready = await timed(() => http(base, 'GET', '/health/ready'));
      answers = [];
      for (let round = 0; round < 5; round++) {
        answers.push(...(await Promise.all(traffic().map((request) => timed(request)))));
      }
    } finally {
      await cluster.start();
    }
    expectUnavailable(ready, 2000);
    expect(answers).toHaveLength(30);
    for (const res of answers) expectUnavailable(res, 1000);

    await waitUntilReady(5000);
    await expectServing();
    const lines = outageLines(logsBefore);
    expect(
      lines.filter((l) => l.includes('"level":"error"')),
      lines.join('\n'),
    ).toHaveLength(1);
    expect(lines.join('\n')).not.toMatch(/"stack"|\\n\s+at /);
    expect(lines.filter((l) => /PostgreSQL answers again/.test(l))).toHaveLength(1);
    expect(lines.length, lines.join('\n')).toBeLessThanOrEqual(2);
  }, 30_000);
});

describe('a query that times out on a hung server', () => {
  it('throws its connection away: a half-sent BEGIN never reaches the next caller', async () => {
    const handle = createDatabase(cluster.url, 1, () => undefined, {
      name: 'ssell-fault-probe',
      statementTimeoutMs: 300,
    });
    const observer = createDatabase(cluster.url, 1, () => undefined, { name: 'ssell-observer' });
    try {
      await handle.db.one('SELECT 1');
      cluster.freeze();
      let failure: unknown;
      try {
        failure = await handle.db
          .tx(async (t) => t.one('SELECT 1 AS one'))
          .then(
            () => undefined,
            (error: unknown) => error,
          );
      } finally {
        cluster.thaw();
      }
      expect(failure).toBeInstanceOf(Error);
      // The server runs what was in the socket once it wakes; a reused connection would now sit
      // inside that transaction, and the next caller's writes would never commit.
      await new Promise((resolve) => setTimeout(resolve, 300));
      const row = await handle.db.one<{ inTransaction: boolean }>(
        'SELECT now() <> statement_timestamp() AS "inTransaction"',
      );
      expect(row.inTransaction).toBe(false);
      const stuck = await observer.db.one<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity
         WHERE application_name = 'ssell-fault-probe' AND state LIKE 'idle in transaction%'`,
      );
      expect(stuck.n).toBe(0);
    } finally {
      await handle.close();
      await observer.close();
    }
  }, 20_000);
});
