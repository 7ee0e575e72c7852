import { randomUUID } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { AccountStatus } from '../../../domain/entities/client-account.entity';
import { accountServicesWithFakes } from '../../../../test/fakes/account-services';
import type { FakeAccountEventRepository } from '../../../../test/fakes/fake-account-event.repository';
import type { FakeAccountRepository } from '../../../../test/fakes/fake-account.repository';
import { fakeTransaction, type FakeDb } from '../../../../test/fakes/fake-db';
import { AccountStatusService } from './account-status.service';

const HOUR = 3_600_000;

let accounts: FakeAccountRepository;
let events: FakeAccountEventRepository;
let db: FakeDb;
let service: AccountStatusService;

beforeEach(() => {
  const fakes = accountServicesWithFakes();
  ({ accounts, events, db } = fakes);
  service = fakes.services.status;
});

describe('markStatus', () => {
  it('changes the status with details and one event; the same status adds no event', async () => {
    const account = accounts.seed();
    await service.markStatus(account.id, AccountStatus.DISCONNECTED, {
      code: 'DEAUTHORIZED',
      message: 'The person removed the app in Instagram settings',
    });
    await service.markStatus(account.id, AccountStatus.DISCONNECTED, { code: 'DEAUTHORIZED' });
    const after = accounts.get(account.id);
    expect(after.status).toBe(AccountStatus.DISCONNECTED);
    expect(after.metadata.errorDetails).toMatchObject({ code: 'DEAUTHORIZED' });
    expect(events.of(account.id).map((e) => e.data)).toEqual([
      {
        from: 'active',
        to: 'disconnected',
        code: 'DEAUTHORIZED',
        reason: 'The person removed the app in Instagram settings',
      },
    ]);
  });

  it('rate_limited keeps the reset time; active clears every mark', async () => {
    const account = accounts.seed();
    const until = new Date(Date.now() + HOUR);
    await service.markStatus(account.id, AccountStatus.RATE_LIMITED, {
      code: '4',
      rateLimitedUntil: until,
    });
    expect(accounts.get(account.id).metadata.rateLimitedUntil).toEqual(until);
    await service.markStatus(account.id, AccountStatus.ACTIVE);
    const after = accounts.get(account.id);
    expect(after.status).toBe(AccountStatus.ACTIVE);
    expect(after.metadata).toEqual({});
  });

  it("joins the caller's transaction; an unknown account is a no-op", async () => {
    const account = accounts.seed();
    const callerTx = fakeTransaction('caller');
    await service.markStatus(account.id, AccountStatus.ERROR, { code: 'X' }, callerTx);
    expect(db.transactions).toEqual([]);
    expect(accounts.txSeen).toContain(callerTx);
    await expect(service.markStatus(randomUUID(), AccountStatus.ERROR)).resolves.toBeUndefined();
  });
});
