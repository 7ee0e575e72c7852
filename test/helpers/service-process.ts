/**
 * The built service as a real child process (`node main.js --role …`), for fault tests that a
 * process boundary makes honest: `kill -9`, restarts, several workers on one queue.
 *
 * The service is compiled once per test file into `.data/test-build-<pid>` (SWC, under a second)
 * rather than reusing `dist/`: a stale `dist/` would test old code, and two files building into
 * one folder at once would race.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { projectRoot } from '../../src/common/project-root';
import { freePort } from '../../src/infrastructure/database/embedded-postgres';
import { serviceNodeFlags } from '../../bench/service-node';

let built: string | undefined;

/** Compiles src/ and emulator/ for this test file; the folder holding `src/main.js`. */
export function buildService(): string {
  if (built) return built;
  const root = projectRoot();
  const out = join(root, '.data', `test-build-${process.pid}`);
  rmSync(out, { recursive: true, force: true });
  execFileSync(
    join(root, 'node_modules/.bin/swc'),
    ['src', 'emulator', '-d', out, '--copy-files', '--quiet', '--ignore', '**/*.spec.ts'],
    { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] },
  );
  built = out;
  return out;
}

/** Removes this file's build (afterAll). */
export function removeBuild(): void {
  if (built) rmSync(built, { recursive: true, force: true });
  built = undefined;
}

export interface ServiceProcess {
  child: ChildProcess;
  pid: number;
  /** `http://127.0.0.1:<port>` for roles that listen; undefined for `worker`. */
  url: string | undefined;
  /** Every JSON log line so far, parsed (non-JSON lines as `{ raw }`). */
  logs: Record<string, unknown>[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** `kill -9`: no shutdown hooks, sockets closed by the kernel. */
  kill9(): Promise<void>;
  /** SIGTERM and wait for the exit. */
  stop(): Promise<void>;
  /** Resolves with the first log line `match` accepts (past or future). */
  waitForLog(
    match: (line: Record<string, unknown>) => boolean,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>;
}

export interface SpawnOptions {
  role: 'all' | 'api' | 'worker';
  env: Record<string, string>;
  /** Default 20 s. */
  readyTimeoutMs?: number;
}

/**
 * Starts the service and resolves once it logged `ssell ready`. The environment is exactly
 * `env` plus PATH (nothing leaks in from the test runner's own environment).
 */
export async function spawnService(options: SpawnOptions): Promise<ServiceProcess> {
  const dir = buildService();
  const port = options.role === 'worker' ? undefined : await freePort();
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    NODE_ENV: 'test',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'info',
    DATA_DIR: mkdtempSync(join(tmpdir(), 'ssell-proc-')),
    ...(port !== undefined ? { PORT: String(port) } : {}),
    ...options.env,
  };
  // With the node flags `npm start` gives it (heap limit, no allocation-site pretenuring).
  const main = join(dir, 'src/main.js');
  const child = spawn(process.execPath, [...serviceNodeFlags(), main, '--role', options.role], {
    cwd: projectRoot(),
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  const waiters: { match: (l: Record<string, unknown>) => boolean; resolve: (l: any) => void }[] =
    [];
  const onLine = (raw: string) => {
    if (!raw.trim()) return;
    let line: Record<string, unknown>;
    try {
      line = JSON.parse(raw) as Record<string, unknown>;
    } catch {
      line = { raw };
    }
    logs.push(line);
    for (const w of [...waiters]) {
      if (w.match(line)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
  };
  const split = (stream: NodeJS.ReadableStream) => {
    let buffer = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      buffer += chunk;
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        onLine(buffer.slice(0, nl));
        buffer = buffer.slice(nl + 1);
      }
    });
  };
  split(child.stdout);
  split(child.stderr);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );

  const waitForLog: ServiceProcess['waitForLog'] = (match, timeoutMs = 20_000) => {
    const seen = logs.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const waiter = { match, resolve };
      waiters.push(waiter);
      const timer = setTimeout(() => {
        waiters.splice(waiters.indexOf(waiter), 1);
        const tail = logs
          .slice(-15)
          .map((l) => JSON.stringify(l).slice(0, 300))
          .join('\n');
        reject(new Error(`no matching log line within ${timeoutMs} ms; last lines:\n${tail}`));
      }, timeoutMs);
      void exited.then(() => {
        // A process that exited will not log more; fail fast instead of at the timeout.
        setTimeout(() => {
          if (!waiters.includes(waiter)) return;
          clearTimeout(timer);
          waiters.splice(waiters.indexOf(waiter), 1);
          reject(new Error(`the service exited; last lines:\n${JSON.stringify(logs.slice(-15))}`));
        }, 200);
      });
    });
  };

  const proc: ServiceProcess = {
    child,
    pid: child.pid!,
    url: port !== undefined ? `http://127.0.0.1:${port}` : undefined,
    logs,
    exited,
    kill9: async () => {
      child.kill('SIGKILL');
      await exited;
    },
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
    waitForLog,
  };
  await waitForLog(
    (l) => typeof l.msg === 'string' && l.msg.startsWith('ssell ready'),
    options.readyTimeoutMs ?? 20_000,
  );
  return proc;
}
