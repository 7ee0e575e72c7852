/**
 * The first `npm start` on a machine where the project sits in a folder the `postgres` user
 * cannot enter (root, under a mode-700 home): the boot stops with one paragraph that names the
 * folder, the reason and the fixes, instead of an unhandled `spawn initdb EACCES` or a stack.
 */
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, expect, it } from 'vitest';
import { startService } from '../src/bootstrap';
import { createRootLogger } from '../src/common/logging/logger';
import { loadConfig } from '../src/config/config';
import { generateKeyringEntry } from '../src/config/keyring';
import {
  EmbeddedPostgresAccessError,
  embeddedPostgresAccessProblem,
  freePort,
} from '../src/infrastructure/database/embedded-postgres';

// mkdtemp makes the folder mode 700, like /root.
const home = mkdtempSync(join(tmpdir(), 'ssell-home-'));
afterAll(() => rmSync(home, { recursive: true, force: true }));

it('stops with one clear paragraph when PostgreSQL could not reach the data folder', async () => {
  expect(statSync(home).mode & 0o777).toBe(0o700);
  const dataDir = join(home, 'app', '.data');
  const config = loadConfig({
    NODE_ENV: 'test',
    DATA_DIR: dataDir,
    EMBEDDED_PG_PORT: String(await freePort()),
    JWT_SECRET: 'first-run-secret-first-run-secret-0123456789',
    TOKEN_ENCRYPTION_KEY: generateKeyringEntry(1),
    PORT: '0',
  });
  const quiet = new Writable({ write: (_chunk, _encoding, done) => done() });
  if (process.getuid?.() !== 0) {
    // Not root: the cluster runs as this user, who owns the folder; nothing stands in the way.
    expect(embeddedPostgresAccessProblem(join(dataDir, 'postgres'))).toBeUndefined();
    return;
  }
  const error = await startService(config, createRootLogger('silent', quiet), 'api').then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(EmbeddedPostgresAccessError);
  const message = (error as Error).message;
  expect(message).toContain(`may not enter ${home} (mode 700)`);
  expect(message).toMatch(/running as root/);
  expect(message).toMatch(/DATA_DIR=/);
  expect(message).toMatch(/DATABASE_URL/);
  expect(message).toMatch(/normal user/);
  expect(message).not.toMatch(/EACCES|\n/);
  // Refused before anything was created or started.
  expect(existsSync(join(dataDir, 'postgres', 'PG_VERSION'))).toBe(false);
  expect(existsSync(join(dataDir, 'postgres', 'postmaster.pid'))).toBe(false);
});
