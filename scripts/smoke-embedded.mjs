// Boots the built service the way `npm start` does with no DATABASE_URL (embedded PostgreSQL),
// and checks what a newcomer relies on: ready, register -> me (Bearer and cookie), a clean
// SIGTERM, the user surviving a restart, and recovery after the process was killed.
// Prints each check, the start-up times, and `SMOKE_RESULT passed=N failed=N`.
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

const results = [];
const check = (name, ok, detail = '') => {
  results.push(ok);
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}${detail ? `: ${detail}` : ''}`);
};

const freePort = () =>
  new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });

const dataDir = mkdtempSync(join(tmpdir(), 'ssell-smoke-'));
chmodSync(dataDir, 0o755);
const port = await freePort();
const pgPort = await freePort();
const base = `http://127.0.0.1:${port}`;
const env = {
  ...process.env,
  PORT: String(port),
  EMBEDDED_PG_PORT: String(pgPort),
  DATA_DIR: dataDir,
  LOG_LEVEL: 'warn',
};
delete env.DATABASE_URL;
delete env.TEST_DATABASE_URL;
delete env.NODE_ENV;

function boot() {
  const started = Date.now();
  const child = spawn(process.execPath, ['dist/src/main.js'], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const exited = new Promise((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const ready = (async () => {
    while (Date.now() - started < 90_000) {
      try {
        const res = await fetch(`${base}/health/ready`);
        if (res.status === 200) return Date.now() - started;
      } catch {
        /* not listening yet */
      }
      if (child.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    return undefined;
  })();
  return { child, ready, exited, output: () => output };
}

async function call(method, path, { body, token, cookie } = {}) {
  const headers = {};
  if (body) headers['content-type'] = 'application/json';
  if (token) headers.authorization = `Bearer ${token}`;
  if (cookie) headers.cookie = cookie;
  const res = await fetch(`${base}${path}`, {
    method,
    headers,
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
}

const postmasterPid = () => {
  const file = join(dataDir, 'postgres', 'postmaster.pid');
  return existsSync(file) ? Number(readFileSync(file, 'utf8').split('\n')[0]) : undefined;
};
const alive = (pid) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const credentials = { email: `smoke.${Date.now()}@example.com`, password: 'smoke test password' };
let instance;
try {
  instance = boot();
  const cold = await instance.ready;
  check(
    'cold start (new data folder) answers /health/ready 200',
    cold !== undefined,
    cold === undefined ? instance.output().slice(-2000) : `${cold} ms`,
  );

  const registered = await call('POST', '/auth/register', {
    body: { ...credentials, name: 'Smoke' },
  });
  check('register 201', registered.status === 201, String(registered.status));
  const token = registered.body?.accessToken;
  const cookie = registered.headers
    .getSetCookie()
    .map((c) => c.split(';')[0])
    .find((c) => c.startsWith('ssell_session='));
  check('me with the Bearer token 200', (await call('GET', '/auth/me', { token })).status === 200);
  check(
    'me with the session cookie 200',
    (await call('GET', '/auth/me', { cookie })).status === 200,
  );

  // Demo mode: connect an emulated Instagram account the way a browser would.
  const authorize = await fetch(`${base}/instagram/oauth/authorize`, {
    headers: { authorization: `Bearer ${token}` },
    redirect: 'manual',
  });
  const binding = authorize.headers
    .getSetCookie()
    .map((c) => c.split(';')[0])
    .find((c) => c.startsWith('ssell_oauth='));
  const consentUrl = authorize.headers.get('location') ?? '';
  check(
    'demo mode: authorize redirects to the in-process emulator',
    authorize.status === 302 && /^http:\/\/localhost:\d+\/oauth\/authorize\?/.test(consentUrl),
    consentUrl.split('?')[0],
  );
  const consent = await fetch(`${consentUrl}&__approve=lena.bakes`, { redirect: 'manual' });
  const callbackUrl = new URL(consent.headers.get('location') ?? 'http://invalid/');
  const callback = await fetch(`${base}${callbackUrl.pathname}${callbackUrl.search}`, {
    headers: { cookie: binding ?? '' },
    redirect: 'manual',
  });
  const landed = new URL(callback.headers.get('location') ?? 'http://invalid/');
  const accountId = landed.searchParams.get('connected');
  check(
    'demo mode: the OAuth callback connects the account',
    callback.status === 302 && Boolean(accountId),
    landed.search,
  );
  let synced;
  for (let i = 0; i < 100 && !synced && accountId; i++) {
    const account = await call('GET', `/instagram/accounts/${accountId}`, { token });
    if (account.body?.lastSyncAt) synced = account.body;
    else await new Promise((r) => setTimeout(r, 100));
  }
  check(
    'demo mode: the background sync job ran (lastSyncAt set)',
    Boolean(synced),
    synced ? `@${synced.username}, ${synced.followerCount} followers` : 'not synced within 10 s',
  );

  // The service's own connections take the cluster's Unix socket in its data folder (no TCP).
  const socket = join(dataDir, 'postgres', `.s.PGSQL.${pgPort}`);
  const viaTcp = new pg.Client({
    connectionString: `postgres://postgres:postgres@127.0.0.1:${pgPort}/postgres`,
  });
  await viaTcp.connect();
  const sessions = await viaTcp
    .query(
      `SELECT count(*) FILTER (WHERE client_addr IS NULL)::int AS socket,
         count(*) FILTER (WHERE client_addr IS NOT NULL)::int AS tcp
       FROM pg_stat_activity WHERE application_name LIKE 'ssell%'`,
    )
    .finally(() => viaTcp.end());
  const { socket: overSocket, tcp: overTcp } = sessions.rows[0];
  check(
    "the service reaches its embedded PostgreSQL over the data folder's socket",
    existsSync(socket) && overSocket > 0 && overTcp === 0,
    `${overSocket} connections over ${socket}, ${overTcp} over TCP`,
  );

  const pid = postmasterPid();
  instance.child.kill('SIGTERM');
  const exit = await instance.exited;
  check('SIGTERM exits 0', exit.code === 0, JSON.stringify(exit));
  check('embedded PostgreSQL stopped with the service', pid !== undefined && !alive(pid));

  instance = boot();
  const warm = await instance.ready;
  check(
    'warm start (existing data folder) answers /health/ready 200',
    warm !== undefined,
    warm === undefined ? instance.output().slice(-2000) : `${warm} ms`,
  );
  const login = await call('POST', '/auth/login', { body: credentials });
  check('the user survived the restart (login 200)', login.status === 200, String(login.status));

  instance.child.kill('SIGKILL');
  await instance.exited;
  const orphan = postmasterPid();
  check(
    'after SIGKILL the cluster is left running (the case to recover from)',
    orphan !== undefined && alive(orphan),
  );

  instance = boot();
  const recovered = await instance.ready;
  check(
    'start after a killed run recovers and is ready',
    recovered !== undefined,
    recovered === undefined ? instance.output().slice(-2000) : `${recovered} ms`,
  );
  const again = await call('POST', '/auth/login', { body: credentials });
  check('login after recovery 200', again.status === 200, String(again.status));
  console.log(`start-up times: cold ${cold} ms, warm ${warm} ms, after kill ${recovered} ms`);
} catch (error) {
  check('smoke run', false, error instanceof Error ? error.stack : String(error));
} finally {
  if (instance && instance.child.exitCode === null) {
    instance.child.kill('SIGTERM');
    await instance.exited;
  }
  const pid = postmasterPid();
  if (pid && alive(pid)) process.kill(pid, 'SIGINT');
  await new Promise((r) => setTimeout(r, 300));
  rmSync(dataDir, { recursive: true, force: true });
}
// First run as root from a folder the `postgres` user cannot enter (a project under a mode-700
// home): `npm start` and `npm test` stop with one paragraph, never `spawn initdb EACCES`.
if (process.getuid?.() === 0) {
  const home = mkdtempSync(join(tmpdir(), 'ssell-smoke-home-')); // mode 700, like /root
  const run = (args, extra) =>
    new Promise((resolve) => {
      const child = spawn(process.execPath, args, {
        env: { ...env, ...extra },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (d) => (output += d));
      child.stderr.on('data', (d) => (output += d));
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      child.on('exit', (code) => {
        clearTimeout(timer);
        resolve({ code, output });
      });
    });
  const explained = ({ code, output }) =>
    code !== 0 &&
    output.includes(`may not enter ${home} (mode 700)`) &&
    /DATABASE_URL/.test(output) &&
    !/EACCES|\n\s+at /.test(output);
  try {
    const start = await run(['dist/src/main.js'], { DATA_DIR: join(home, 'app', '.data') });
    check(
      'root, DATA_DIR under a mode-700 folder: npm start stops with one paragraph',
      explained(start),
      (start.output.split('\n').find((l) => l.includes('cannot start')) ?? start.output).slice(
        0,
        120,
      ),
    );
    const test = await run(['node_modules/vitest/vitest.mjs', 'run', 'src/config/config.spec.ts'], {
      TMPDIR: home,
      CI: '',
    });
    check(
      "root, TMPDIR under a mode-700 folder: npm test's global setup stops with the paragraph",
      explained(test),
      test.code === 0 ? 'it ran' : '',
    );
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

const passed = results.filter(Boolean).length;
console.log(`SMOKE_RESULT passed=${passed} failed=${results.length - passed}`);
process.exit(results.every(Boolean) ? 0 : 1);
