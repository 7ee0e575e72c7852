import pino from 'pino';
import type { Clock } from '../../src/common/clock/clock';
import { expect, vi } from 'vitest';
import type { ClientAccount } from '../../src/domain/entities/client-account.entity';
import type { InstagramProfile } from '../../src/infrastructure/instagram';
import {
  type FetchedPicture,
  PictureFetchError,
} from '../../src/infrastructure/http/picture-fetcher';
import { AccountPicturesService } from '../../src/modules/instagram/services/account-pictures.service';
import { AccountStatusService } from '../../src/modules/instagram/services/account-status.service';
import { AccountSyncService } from '../../src/modules/instagram/services/account-sync.service';
import { AccountTokenService } from '../../src/modules/instagram/services/account-token.service';
import { AccountService } from '../../src/modules/instagram/services/account.service';
import { FakeAccountEventRepository } from './fake-account-event.repository';
import { FakeAccountRepository } from './fake-account.repository';
import { FakeDb } from './fake-db';
import { FakeJobQueue } from './fake-job-queue';
import { FakeTokenVault } from './fake-token-vault';
import {
  FakeAccountMetricsRepository,
  FakeAccountPictureRepository,
  FakeCurrentAccountRepository,
} from './fake-workspace.repositories';

/** The Instagram calls the account services make, as mocks a test sets per call. */
export interface FakeInstagramClient {
  getProfile: ReturnType<typeof vi.fn>;
  refreshLongLivedToken: ReturnType<typeof vi.fn>;
  revokeToken: ReturnType<typeof vi.fn>;
}

/**
 * The four account services wired as the module wires them, over fakes: accounts and events in
 * memory, a plaintext vault, a queue that remembers, a database that counts transactions, and
 * an Instagram client whose every call fails the test if it runs inside a transaction.
 */
export function accountServicesWithFakes(clock: Clock = { now: () => new Date() }) {
  const accounts = new FakeAccountRepository();
  const events = new FakeAccountEventRepository();
  const vault = new FakeTokenVault();
  const jobs = new FakeJobQueue();
  const db = new FakeDb();
  const logLines: string[] = [];
  const client: FakeInstagramClient = {
    getProfile: vi.fn(),
    refreshLongLivedToken: vi.fn(),
    revokeToken: vi.fn(async () => ({
      revoked: false,
      reason: 'unsupported',
      detail: 'Instagram API with Instagram Login has no token revocation endpoint',
    })),
  };
  // Every Instagram call must happen with no transaction open.
  for (const fn of Object.values(client)) {
    const original = fn.getMockImplementation();
    fn.mockImplementation(async (...args: unknown[]) => {
      expect(db.depth, 'Instagram called inside a transaction').toBe(0);
      return original?.(...args);
    });
  }
  const logger = pino({ level: 'trace' }, { write: (line: string) => logLines.push(line) });
  const current = new FakeCurrentAccountRepository(accounts);
  const metrics = new FakeAccountMetricsRepository(accounts);
  const pictureStore = new FakeAccountPictureRepository();
  // No picture host in unit tests: a download fails unless a test gives the fetcher bytes, and
  // the sync's tests leave pictures alone (`pictureFetching.mockRestore()` turns them on).
  const fetcher = {
    fetch: vi.fn(async (_url: string): Promise<FetchedPicture> => {
      throw new PictureFetchError('network', 'no picture host in unit tests');
    }),
  };
  const pictures = new AccountPicturesService(fetcher, pictureStore, accounts, logger);
  const pictureFetching = vi.spyOn(pictures, 'shouldFetch').mockReturnValue(false);
  const status = new AccountStatusService(accounts, events, db, current, logger);
  const tokens = new AccountTokenService(
    accounts,
    events,
    vault,
    client,
    db,
    status,
    logger,
    clock,
  );
  const sync = new AccountSyncService(
    accounts,
    events,
    client,
    db,
    status,
    tokens,
    pictures,
    metrics,
    clock,
    logger,
  );
  const account = new AccountService(
    accounts,
    events,
    vault,
    jobs,
    db,
    status,
    tokens,
    current,
    logger,
  );

  return {
    accounts,
    events,
    vault,
    jobs,
    db,
    client,
    logLines,
    clock,
    current,
    metrics,
    pictureStore,
    fetcher,
    pictureFetching,
    services: { account, sync, status, tokens, pictures },
    /** Sets what the next profile call does, keeping the "no transaction open" check. */
    nextProfile: (result: InstagramProfile | Error): void => {
      client.getProfile.mockImplementationOnce(async () => {
        expect(db.depth).toBe(0);
        if (result instanceof Error) throw result;
        return result;
      });
    },
    /** An account with a stored token. */
    connected: (overrides: Partial<ClientAccount> = {}): ClientAccount => {
      const seeded = accounts.seed(overrides);
      // The row mirrors its token's expiry, as connects and refreshes keep it.
      vault.put(seeded.id, seeded.tokenExpiresAt ? { expiresAt: seeded.tokenExpiresAt } : {});
      return seeded;
    },
  };
}

export type AccountServicesWithFakes = ReturnType<typeof accountServicesWithFakes>;
