import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { Coalescer } from '../src/common/batching/coalescer';
import {
  CLIENT_ACCOUNT_REPOSITORY,
  type IClientAccountRepository,
} from '../src/domain/repositories/client-account.repository.interface';
import { AccountSyncService } from '../src/modules/instagram/services/account-sync.service';
import { registerUser, type RegisteredUser } from './helpers/http';
import {
  connectAccount,
  type ConnectedAccount,
  type InstagramTestApp,
  startInstagramTestApp,
} from './helpers/instagram-fixtures';

/**
 * The sync's writes in batches, on the real service, PostgreSQL and the emulator: syncs that
 * finish talking to Instagram while a batch is being written go together in the next
 * transaction, and one account whose write fails costs only that account its sync.
 */
let app: InstagramTestApp;
let owner: RegisteredUser;
let syncs: AccountSyncService;
let repo: IClientAccountRepository;

beforeAll(async () => {
  app = await startInstagramTestApp();
  owner = await registerUser(app.t.url);
  syncs = app.t.app.get(AccountSyncService);
  repo = app.t.app.get(CLIENT_ACCOUNT_REPOSITORY);
});

afterAll(async () => {
  await app?.close();
});

afterEach(() => {
  vi.restoreAllMocks();
});

async function until(condition: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * Holds `accountId`'s row locked from another connection until `release()`: the batch that writes
 * it waits on the lock, and the syncs that finish meanwhile queue up for the next batch.
 */
async function holdRow(accountId: string): Promise<{ release: () => Promise<void> }> {
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  let locked!: () => void;
  const isLocked = new Promise<void>((resolve) => (locked = resolve));
  const holder = app.t.db.tx(async (tx) => {
    await tx.one('SELECT id FROM client_accounts WHERE id = $1 FOR UPDATE', [accountId]);
    locked();
    await held;
  });
  await isLocked;
  return {
    release: async () => {
      release();
      await holder;
    },
  };
}

async function footprint(accountId: string) {
  return app.t.db.one<{ snapshots: number; synced: number; last_sync_at: Date | null }>(
    `SELECT (SELECT count(*)::int FROM account_metric_snapshots WHERE account_id = $1) AS snapshots,
            (SELECT count(*)::int FROM account_events WHERE account_id = $1 AND type = 'synced') AS synced,
            (SELECT last_sync_at FROM client_accounts WHERE id = $1)`,
    [accountId],
  );
}

/** The first account's sync is written alone and waits on the held row; the rest queue behind. */
async function syncBehindHeldRow(accounts: ConnectedAccount[]) {
  const submitted = vi.spyOn(Coalescer.prototype, 'submit');
  const locks = vi.spyOn(repo, 'findByIdsForUpdate');
  const updates = vi.spyOn(repo, 'updateMany');
  const [first, ...rest] = accounts;
  const hold = await holdRow(first!.account.id);
  const firstSync = syncs.sync(first!.account.id, 'manual');
  await until(() => locks.mock.calls.length === 1, 'the first batch to lock its row');
  const restSyncs = rest.map((a) => syncs.sync(a.account.id, 'manual'));
  await until(() => submitted.mock.calls.length === accounts.length, 'every sync to queue');
  // Nothing more was written while the first batch waited.
  expect(locks).toHaveBeenCalledTimes(1);
  await hold.release();
  const outcomes = await Promise.allSettled([firstSync, ...restSyncs]);
  return { outcomes, locks, updates };
}

describe('sync writes in batches', () => {
  it('writes the syncs that finished while a batch ran in the next transaction, each account once', async () => {
    const accounts = await Promise.all(
      Array.from({ length: 8 }, () => connectAccount(app, owner.userId)),
    );
    const { outcomes, locks, updates } = await syncBehindHeldRow(accounts);

    expect(outcomes.map((o) => (o.status === 'fulfilled' ? o.value.status : o.reason))).toEqual(
      Array(8).fill('synced'),
    );
    // Two transactions for eight syncs: the first alone, the seven that waited together.
    expect(locks.mock.calls.map(([ids]) => ids.length)).toEqual([1, 7]);
    expect(updates.mock.calls.map(([batch]) => batch.length)).toEqual([1, 7]);
    expect(new Set(locks.mock.calls[1]![0])).toEqual(
      new Set(accounts.slice(1).map((a) => a.account.id)),
    );
    for (const account of accounts) {
      const after = await footprint(account.account.id);
      expect(after).toMatchObject({ snapshots: 1, synced: 1 });
      expect(after.last_sync_at).toBeInstanceOf(Date);
    }
  });

  it('writes a second sync of one account in a later batch, after the first (it sees its row)', async () => {
    const [held, twice] = await Promise.all([
      connectAccount(app, owner.userId),
      connectAccount(app, owner.userId),
    ]);
    const { outcomes, locks } = await syncBehindHeldRow([held, twice, twice]);
    expect(outcomes.every((o) => o.status === 'fulfilled' && o.value.status === 'synced')).toBe(
      true,
    );
    expect(locks.mock.calls.map(([ids]) => ids)).toEqual([
      [held.account.id],
      [twice.account.id],
      [twice.account.id],
    ]);
    expect(await footprint(twice.account.id)).toMatchObject({ snapshots: 2, synced: 2 });
  });

  it("writes the others' syncs when one account's write fails, and leaves that one as it was", async () => {
    const accounts = await Promise.all(
      Array.from({ length: 4 }, () => connectAccount(app, owner.userId)),
    );
    const refused = accounts[2]!;
    // A write PostgreSQL refuses for this one account, as a constraint or a deadlock would.
    await app.t.db.none(
      `CREATE FUNCTION refuse_one_account() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         IF NEW.id = '${refused.account.id}'::uuid THEN RAISE EXCEPTION 'refused by the test'; END IF;
         RETURN NEW;
       END $$;
       CREATE TRIGGER refuse_one_account BEFORE UPDATE ON client_accounts
         FOR EACH ROW EXECUTE FUNCTION refuse_one_account();`,
    );
    try {
      const { outcomes, updates } = await syncBehindHeldRow(accounts);
      outcomes.forEach((outcome, i) => {
        if (i === 2) expect(outcome.status).toBe('rejected');
        else expect(outcome).toMatchObject({ status: 'fulfilled', value: { status: 'synced' } });
      });
      // The first alone; the batch of three, rolled back; then each of the three alone.
      expect(updates.mock.calls.map(([batch]) => batch.length)).toEqual([1, 3, 1, 1, 1]);
      for (const [i, account] of accounts.entries()) {
        const after = await footprint(account.account.id);
        if (i === 2) expect(after).toEqual({ snapshots: 0, synced: 0, last_sync_at: null });
        else expect(after).toMatchObject({ snapshots: 1, synced: 1 });
      }
      expect(app.t.logs.some((l) => l.includes('a batch of sync writes failed'))).toBe(true);
    } finally {
      await app.t.db.none(
        'DROP TRIGGER refuse_one_account ON client_accounts; DROP FUNCTION refuse_one_account()',
      );
    }
  });
});
