import { randomUUID } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { AccountEventType } from '../../../domain/entities/account-event.entity';
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

describe('what the owner must hear about (needs_reconnect, recovered)', () => {
  const { ACTIVE, TOKEN_EXPIRED, ERROR, RATE_LIMITED } = AccountStatus;
  const lifecycle = (id: string) =>
    events
      .of(id)
      .filter((e) => e.type !== AccountEventType.STATUS_CHANGED)
      .map((e) => [e.type, e.data]);

  it('needs_reconnect once while the account flaps between broken statuses', async () => {
    const account = accounts.seed();
    await service.markStatus(account.id, TOKEN_EXPIRED, { code: '190', subcode: '460' });
    await service.markStatus(account.id, ERROR, { code: '2' });
    await service.markStatus(account.id, RATE_LIMITED, { code: '4' });
    await service.markTokenExpired(account.id, new Date(Date.now() - HOUR));
    expect(events.of(account.id, AccountEventType.STATUS_CHANGED)).toHaveLength(4);
    expect(lifecycle(account.id)).toEqual([
      [
        AccountEventType.NEEDS_RECONNECT,
        { status: 'token_expired', reason: 'token_invalid', code: '190', subcode: '460' },
      ],
    ]);
  });

  it('recovered on the way back to active; broken again after that is news again', async () => {
    const account = accounts.seed();
    await service.markStatus(account.id, TOKEN_EXPIRED, { code: '190' });
    await service.markStatus(account.id, ACTIVE);
    await service.markStatus(account.id, ERROR, { code: '10', message: 'permission' });
    await service.markStatus(account.id, ACTIVE);
    expect(lifecycle(account.id)).toEqual([
      [
        AccountEventType.NEEDS_RECONNECT,
        { status: 'token_expired', reason: 'token_invalid', code: '190' },
      ],
      [AccountEventType.RECOVERED, { from: 'token_expired' }],
      [
        AccountEventType.NEEDS_RECONNECT,
        { status: 'error', reason: 'permission_missing', code: '10' },
      ],
      [AccountEventType.RECOVERED, { from: 'error' }],
    ]);
  });

  it('a rate limit, an outage or a pause is no reason to page the owner', async () => {
    const account = accounts.seed();
    await service.markStatus(account.id, RATE_LIMITED, { code: '4' });
    await service.markStatus(account.id, ERROR, { code: '2' });
    await service.markStatus(account.id, ERROR, { code: 'TIMEOUT' });
    await service.markStatus(account.id, AccountStatus.DISCONNECTED, { code: 'PAUSED' });
    expect(lifecycle(account.id)).toEqual([]);
  });

  it("writes them in the status change's transaction, with the account as it left it", async () => {
    const account = accounts.seed();
    const callerTx = fakeTransaction('caller');
    await service.markStatus(account.id, TOKEN_EXPIRED, { code: '190' }, callerTx);
    expect(db.transactions).toEqual([]);
    expect(events.txSeen).toEqual([callerTx, callerTx]);
    const [changed, needs] = events.appended;
    expect(changed!.account).toMatchObject({ id: account.id, status: 'token_expired' });
    expect(needs!.account).toMatchObject({ id: account.id, status: 'token_expired' });
  });
});
