import { fork, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../src/infrastructure/database/embedded-postgres';

/** A PostgreSQL the test owns outright (a real postmaster in its own process tree). */
export interface ThrowawayCluster {
  url: string;
  /** Fast shutdown: connections are cut and new ones refused. */
  stop(): Promise<void>;
  /** Starts it again on the same port and data. */
  start(): Promise<void>;
  /** SIGSTOP the postmaster and every backend: sockets stay open, nothing answers. */
  freeze(): void;
  thaw(): void;
  close(): Promise<void>;
}

interface Reply {
  ready?: boolean;
  done?: string;
  failed?: string;
  error?: string;
  url?: string;
  pid?: number;
}

/** The pids whose parent is `pid` (Linux /proc). */
function childrenOf(pid: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so cut at the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) children.push(Number(entry));
    } catch {
      /* the process ended while we looked */
    }
  }
  return children;
}

export async function startThrowawayCluster(): Promise<ThrowawayCluster> {
  const parent = mkdtempSync(join(tmpdir(), 'ssell-fault-pg-'));
  // mkdtemp makes it 0700; the cluster runs as `postgres` when the tests run as root.
  chmodSync(parent, 0o755);
  const port = await freePort();
  const child: ChildProcess = fork(
    join(__dirname, 'throwaway-cluster.mjs'),
    [join(parent, 'pg'), String(port)],
    { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] },
  );
  const replies: Reply[] = [];
  let waiter: ((reply: Reply) => void) | undefined;
  child.on('message', (reply: Reply) => {
    if (waiter) waiter(reply);
    else replies.push(reply);
  });
  const next = (what: string) =>
    new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`cluster: no answer to ${what}`)), 60_000);
      const take = (reply: Reply) => {
        clearTimeout(timer);
        waiter = undefined;
        if (reply.failed) reject(new Error(`cluster ${reply.failed}: ${reply.error}`));
        else resolve(reply);
      };
      const queued = replies.shift();
      if (queued) take(queued);
      else waiter = take;
    });
  const ready = await next('start-up');
  let postmaster = ready.pid!;
  let frozen: number[] = [];
  const command = async (cmd: 'stop' | 'start') => {
    child.send({ cmd });
    const reply = await next(cmd);
    if (reply.pid) postmaster = reply.pid;
  };
  const cluster: ThrowawayCluster = {
    url: ready.url!,
    stop: () => command('stop'),
    start: () => command('start'),
    freeze() {
      frozen = [postmaster, ...childrenOf(postmaster)];
      for (const pid of frozen) process.kill(pid, 'SIGSTOP');
    },
    thaw() {
      for (const pid of frozen.reverse()) {
        try {
          process.kill(pid, 'SIGCONT');
        } catch {
          /* gone */
        }
      }
      frozen = [];
    },
    async close() {
      cluster.thaw();
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.send({ cmd: 'exit' });
      await exited;
    },
  };
  return cluster;
}
