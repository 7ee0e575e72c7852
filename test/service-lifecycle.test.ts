/**
 * The service as `npm start` boots it (src/bootstrap.ts: migrations, app, listener), in each
 * role, and its shutdown: requests in flight finish before the pool and the process go.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type RunningEmulator } from '../emulator/emulator';
import { startService, type RunningService, type ServiceRole } from '../src/bootstrap';
import { createRootLogger } from '../src/common/logging/logger';
import { loadConfig } from '../src/config/config';
import { generateKeyringEntry } from '../src/config/keyring';
import { JobQueue } from '../src/infrastructure/jobs/job-queue';
import { AccountService } from '../src/modules/instagram/services/account.service';
import { createTestDatabase, type TestDatabase } from './helpers/database';
import { http, registerUser } from './helpers/http';
import { connectAccount, control, emulatorEnv } from './helpers/instagram-fixtures';

let emu: RunningEmulator;
let database: TestDatabase;

beforeAll(async () => {
  emu = await startEmulator({ port: 0 });
  database = await createTestDatabase();
});
afterAll(async () => {
  await emu.close();
  await database.drop();
});

async function boot(role: ServiceRole): Promise<{ service: RunningService; url: string }> {
  const config = loadConfig({
    NODE_ENV: 'test',
    DATA_DIR: mkdtempSync(join(tmpdir(), 'ssell-lifecycle-')),
    DATABASE_URL: database.url,
    JWT_SECRET: 'lifecycle-secret-lifecycle-secret-0123456789',
    TOKEN_ENCRYPTION_KEY: generateKeyringEntry(1),
    HOST: '127.0.0.1',
    PORT: '0',
    ...emulatorEnv(emu),
    INSTAGRAM_TIMEOUT_MS: '3000',
  });
  const quiet = new Writable({ write: (_chunk, _encoding, done) => done() });
  const service = await startService(config, createRootLogger('warn', quiet), role);
  const address = service.app.getHttpServer().address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return { service, url: `http://127.0.0.1:${port}` };
}

describe('roles', () => {
  it('worker: runs the job workers and opens no port', async () => {
    const { service } = await boot('worker');
    try {
      expect(service.app.getHttpServer().listening).toBe(false);
      expect(service.app.get(JobQueue).workersEnabled).toBe(true);
    } finally {
      await service.stop();
    }
  });

  it('api: serves HTTP and runs no job workers', async () => {
    const { service, url } = await boot('api');
    try {
      expect(service.app.getHttpServer().listening).toBe(true);
      expect(service.app.get(JobQueue).workersEnabled).toBe(false);
      expect((await http(url, 'GET', '/health/ready')).status).toBe(200);
    } finally {
      await service.stop();
    }
  });
});

describe('shutdown', () => {
  it('lets a request in flight finish, then refuses new connections', async () => {
    const { service, url } = await boot('api');
    const user = await registerUser(url);
    const { account } = await connectAccount(
      { emu, accounts: service.app.get(AccountService) },
      user.userId,
    );
    // Instagram takes 800 ms to answer this sync; the stop arrives while it waits.
    await control(emu, 'POST', '/inject', {
      kind: 'hang',
      delayMs: 800,
      count: 1,
      account: account.platformAccountId,
    });
    const inFlight = http(url, 'POST', `/instagram/accounts/${account.id}/sync`, {
      token: user.token,
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const stopping = service.stop();

    const res = await inFlight;
    expect(res.status).toBe(200);
    expect(res.body.id).toBe(account.id);
    await stopping;
    await expect(fetch(`${url}/health/live`)).rejects.toThrow();
  });
});
