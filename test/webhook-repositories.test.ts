/**
 * The webhook tables and their repositories on real PostgreSQL (migration 010): the claim that
 * keeps each pair in order, the lease that keeps two drains off one delivery, the sweep's heads,
 * and what cascades.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { generateKeyringEntry } from '../src/config/keyring';
import { AccountEventType } from '../src/domain/entities/account-event.entity';
import type { DeliveryStream } from '../src/domain/repositories/webhook-delivery.repository.interface';
import { TokenCipher } from '../src/infrastructure/crypto/token-cipher';
import { WebhookSecretCipher } from '../src/infrastructure/crypto/webhook-secret-cipher';
import { AccountEventListeners } from '../src/infrastructure/database/account-event-listeners';
import {
  createDatabase,
  type DatabaseHandle,
  type Db,
} from '../src/infrastructure/database/database';
import { PostgresAccountEventRepository } from '../src/infrastructure/database/repositories/postgres-account-event.repository';
import { PostgresWebhookDeliveryRepository } from '../src/infrastructure/database/repositories/postgres-webhook-delivery.repository';
import { PostgresWebhookEndpointRepository } from '../src/infrastructure/database/repositories/postgres-webhook-endpoint.repository';
import { createTestDatabase, type TestDatabase } from './helpers/database';

let database: TestDatabase;
let handle: DatabaseHandle;
let db: Db;
let endpoints: PostgresWebhookEndpointRepository;
let deliveries: PostgresWebhookDeliveryRepository;
const secrets = new WebhookSecretCipher(TokenCipher.fromKeyString(generateKeyringEntry(1)));
let userId: string;
let stream: DeliveryStream;

const LEASE = 30_000;

async function newEndpoint(events: string[] = ['*']) {
  const id = randomUUID();
  return endpoints.create({
    id,
    userId,
    url: 'https://hooks.example.com/x',
    events: events as never,
    description: null,
    secret: secrets.seal(WebhookSecretCipher.generate(), id),
  });
}

async function add(stream: DeliveryStream, n: number) {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const eventId = randomUUID();
    ids.push(eventId);
    await deliveries.createMany([
      {
        endpointId: stream.endpointId,
        eventId,
        accountEventId: null,
        accountId: stream.accountId,
        eventType: 'account.status_changed',
        payload: `{"n":${i}}`,
      },
    ]);
  }
  return ids;
}

beforeAll(async () => {
  database = await createTestDatabase();
  handle = createDatabase(database.url, 6, () => undefined);
  db = handle.db;
  endpoints = new PostgresWebhookEndpointRepository(db);
  deliveries = new PostgresWebhookDeliveryRepository(db);
  userId = (
    await db.one<{ id: string }>(
      `INSERT INTO users (email, password_hash) VALUES ($1, 'scrypt$x') RETURNING id`,
      [`hooks.${randomUUID()}@example.com`],
    )
  ).id;
});

beforeEach(async () => {
  stream = { endpointId: (await newEndpoint()).id, accountId: randomUUID() };
});

afterAll(async () => {
  await handle.close();
  await database.drop();
});

describe('claimNext', () => {
  it('hands out only the oldest pending delivery of the pair, one at a time', async () => {
    const [first, second] = await add(stream, 2);
    const a = await deliveries.claimNext(stream, LEASE);
    expect(a).toMatchObject({ kind: 'claimed', delivery: { eventId: first, attempts: 1 } });
    // Leased: the head is taken, and the one behind it is not handed out instead.
    const b = await deliveries.claimNext(stream, LEASE);
    expect(b.kind).toBe('waiting');
    if (a.kind !== 'claimed') throw new Error('unreachable');
    await deliveries.markDelivered(a.delivery.id, 200);
    const c = await deliveries.claimNext(stream, LEASE);
    expect(c).toMatchObject({ kind: 'claimed', delivery: { eventId: second } });
  });

  it('marks a delivery delivered and claims the next in one step, until the pair is empty', async () => {
    const ids = await add(stream, 3);
    let claim = await deliveries.claimNext(stream, LEASE);
    const got: string[] = [];
    while (claim.kind === 'claimed') {
      got.push(claim.delivery.eventId);
      claim = await deliveries.markDeliveredAndClaimNext(claim.delivery.id, 204, stream, LEASE);
    }
    expect(claim).toEqual({ kind: 'empty' });
    expect(got).toEqual(ids);
    const log = await deliveries.listByEndpoint(stream.endpointId, 10, null);
    expect(log.deliveries.map((d) => [d.status, d.lastStatusCode, d.attempts])).toEqual([
      ['delivered', 204, 1],
      ['delivered', 204, 1],
      ['delivered', 204, 1],
    ]);
  });

  it('twenty drains racing for one head: exactly one gets it', async () => {
    await add(stream, 3);
    const results = await Promise.all(
      Array.from({ length: 20 }, () => deliveries.claimNext(stream, LEASE)),
    );
    expect(results.filter((r) => r.kind === 'claimed')).toHaveLength(1);
    // The others waited for the lock, then saw the lease: not the head's successor.
    expect(results.filter((r) => r.kind === 'waiting')).toHaveLength(19);
  });

  it('a retry waits for its time and keeps the pair behind it; failing moves the pair on', async () => {
    const [first, second] = await add(stream, 2);
    const claim = await deliveries.claimNext(stream, LEASE);
    if (claim.kind !== 'claimed') throw new Error('not claimed');
    const later = new Date(Date.now() + 60_000);
    await deliveries.markRetry(claim.delivery.id, later, 500, 'HTTP 500 from the receiver');
    const waiting = await deliveries.claimNext(stream, LEASE);
    expect(waiting).toEqual({ kind: 'waiting', until: later });
    expect(await deliveries.findDueStreams(1000)).not.toContainEqual(stream);

    await db.none(`UPDATE webhook_deliveries SET next_attempt_at = now() WHERE id = $1`, [
      claim.delivery.id,
    ]);
    expect(await deliveries.findDueStreams(1000)).toContainEqual(stream);
    const again = await deliveries.claimNext(stream, LEASE);
    expect(again).toMatchObject({ kind: 'claimed', delivery: { eventId: first, attempts: 2 } });
    if (again.kind !== 'claimed') throw new Error('unreachable');
    expect(again.delivery.firstAttemptAt).toEqual(claim.delivery.firstAttemptAt);
    await deliveries.markFailed(again.delivery.id, 500, 'HTTP 500 from the receiver');
    expect(await deliveries.claimNext(stream, LEASE)).toMatchObject({
      kind: 'claimed',
      delivery: { eventId: second },
    });
    const log = await deliveries.listByEndpoint(stream.endpointId, 10, null);
    expect(log.deliveries.map((d) => [d.eventId, d.status, d.attempts])).toEqual([
      [second, 'pending', 1],
      [first, 'failed', 2],
    ]);
  });

  it('failed deliveries can be queued again, ahead of what waits behind them', async () => {
    const since = new Date(Date.now() - 1000);
    const [first, second] = await add(stream, 2);
    const claim = await deliveries.claimNext(stream, LEASE);
    if (claim.kind !== 'claimed') throw new Error('not claimed');
    await deliveries.markFailed(claim.delivery.id, null, 'no answer within 10000 ms');
    expect(await deliveries.requeueFailed(new Date(Date.now() + 60_000))).toEqual([]);
    expect(await deliveries.requeueFailed(since, stream.endpointId)).toEqual([stream]);
    const again = await deliveries.claimNext(stream, LEASE);
    expect(again).toMatchObject({ kind: 'claimed', delivery: { eventId: first, attempts: 2 } });
    if (again.kind !== 'claimed') throw new Error('unreachable');
    // A new 24 hours from the retry.
    expect(again.delivery.firstAttemptAt.getTime()).toBeGreaterThan(
      claim.delivery.firstAttemptAt.getTime(),
    );
    expect(
      await deliveries.markDeliveredAndClaimNext(again.delivery.id, 200, stream, LEASE),
    ).toMatchObject({ kind: 'claimed', delivery: { eventId: second } });
  });

  it('claims of many pairs at once go in one statement, each pair with its own head and outcome', async () => {
    const pairs = Array.from({ length: 8 }, () => ({
      endpointId: stream.endpointId,
      accountId: randomUUID(),
    }));
    const ids = [];
    for (const pair of pairs.slice(0, 6)) ids.push(await add(pair, 2));
    // Pair 6 is due later (a retry's backoff); pair 7 has nothing pending.
    const [later] = await add(pairs[6]!, 1);
    await db.none(
      `UPDATE webhook_deliveries SET next_attempt_at = now() + interval '1 hour' WHERE event_id = $1`,
      [later],
    );
    const statements = vi.spyOn(db, 'manyOrNone');
    try {
      const claims = await Promise.all(pairs.map((pair) => deliveries.claimNext(pair, LEASE)));
      // The first claim went alone; the seven that asked while it ran shared the next statement.
      expect(statements).toHaveBeenCalledTimes(2);
      expect(claims.slice(0, 6)).toEqual(
        ids.map(([first]) =>
          expect.objectContaining({ delivery: expect.objectContaining({ eventId: first }) }),
        ),
      );
      expect(claims[6]).toMatchObject({ kind: 'waiting' });
      expect(claims[7]).toEqual({ kind: 'empty' });

      statements.mockClear();
      const next = await Promise.all(
        pairs.slice(0, 6).map((pair, i) => {
          const claim = claims[i]!;
          if (claim.kind !== 'claimed') throw new Error('unreachable');
          return deliveries.markDeliveredAndClaimNext(claim.delivery.id, 200 + i, pair, LEASE);
        }),
      );
      expect(statements).toHaveBeenCalledTimes(2);
      expect(next).toEqual(
        ids.map(([, second]) =>
          expect.objectContaining({ delivery: expect.objectContaining({ eventId: second }) }),
        ),
      );
    } finally {
      statements.mockRestore();
    }
    // Each pair's first delivery was marked with its own status code.
    const codes = await db.map(
      `SELECT last_status_code FROM webhook_deliveries WHERE event_id = ANY($1::uuid[]) ORDER BY array_position($1::uuid[], event_id)`,
      [ids.map(([first]) => first)],
      (row: { last_status_code: number }) => row.last_status_code,
    );
    expect(codes).toEqual([200, 201, 202, 203, 204, 205]);
  });

  it("finds one endpoint's pairs with a head due: not leased, not backing off, not another endpoint's", async () => {
    const other = { endpointId: (await newEndpoint()).id, accountId: randomUUID() };
    const pings = { endpointId: stream.endpointId, accountId: null };
    const leased = { endpointId: stream.endpointId, accountId: randomUUID() };
    const backingOff = { endpointId: stream.endpointId, accountId: randomUUID() };
    for (const pair of [stream, other, pings, leased, backingOff]) await add(pair, 2);
    expect((await deliveries.claimNext(leased, LEASE)).kind).toBe('claimed');
    await db.none(
      `UPDATE webhook_deliveries SET next_attempt_at = now() + interval '1 hour'
       WHERE id = (SELECT id FROM webhook_deliveries WHERE endpoint_id = $1 AND account_id = $2
                   ORDER BY seq LIMIT 1)`,
      [backingOff.endpointId, backingOff.accountId],
    );
    const due = await deliveries.findDueStreamsOf(stream.endpointId, 10);
    expect(due).toHaveLength(2);
    expect(due).toEqual(expect.arrayContaining([stream, pings]));
    expect(await deliveries.findDueStreamsOf(stream.endpointId, 1)).toHaveLength(1);
  });

  it("a dead worker's lease runs out and the head is taken again", async () => {
    const [first] = await add(stream, 1);
    expect((await deliveries.claimNext(stream, 50)).kind).toBe('claimed');
    expect((await deliveries.claimNext(stream, 50)).kind).toBe('waiting');
    expect(await deliveries.findDueStreams(1000)).not.toContainEqual(stream);
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(await deliveries.findDueStreams(1000)).toContainEqual(stream);
    expect(await deliveries.claimNext(stream, 50)).toMatchObject({
      kind: 'claimed',
      delivery: { eventId: first, attempts: 2 },
    });
  });

  it('pings have a stream of their own per endpoint', async () => {
    const pings = { endpointId: stream.endpointId, accountId: null };
    await add(stream, 1);
    const [ping] = await add(pings, 1);
    expect(await deliveries.claimNext(pings, LEASE)).toMatchObject({
      kind: 'claimed',
      delivery: { eventId: ping },
    });
    expect((await deliveries.claimNext(stream, LEASE)).kind).toBe('claimed');
    expect(await deliveries.claimNext({ ...stream, accountId: randomUUID() }, LEASE)).toEqual({
      kind: 'empty',
    });
  });
});

describe('the outbox', () => {
  it("fans out in the append's transaction: rolled back together", async () => {
    const listeners = new AccountEventListeners();
    const events = new PostgresAccountEventRepository(db, listeners);
    const seen: string[] = [];
    listeners.add(async ([event], tx) => {
      if (!event) throw new Error('an append without events');
      seen.push(event.id);
      await deliveries.createMany(
        [
          {
            endpointId: stream.endpointId,
            eventId: event.id,
            accountEventId: event.id,
            accountId: event.accountId,
            eventType: 'account.status_changed',
            payload: '{}',
          },
        ],
        tx,
      );
    });
    const accountId = stream.accountId!;
    const append = () =>
      events.append({ accountId, userId, type: AccountEventType.STATUS_CHANGED, data: {} });
    await append();
    await expect(
      db.tx(async (tx) => {
        await events.append({ accountId, userId, type: AccountEventType.RECOVERED, data: {} }, tx);
        throw new Error('the change failed');
      }),
    ).rejects.toThrow('the change failed');
    expect(seen).toHaveLength(2);
    const rows = await db.many(
      `SELECT d.event_id, e.type FROM webhook_deliveries d JOIN account_events e ON e.id = d.event_id
       WHERE d.endpoint_id = $1`,
      [stream.endpointId],
    );
    expect(rows).toEqual([{ event_id: seen[0], type: 'status_changed' }]);
    // The same event fanned out twice is one delivery.
    await deliveries.createMany([
      {
        endpointId: stream.endpointId,
        eventId: seen[0]!,
        accountEventId: seen[0]!,
        accountId,
        eventType: 'account.status_changed',
        payload: '{}',
      },
    ]);
    expect((await deliveries.listByEndpoint(stream.endpointId, 10, null)).deliveries).toHaveLength(
      1,
    );
    // A data deletion erases the events, and their deliveries with them.
    await db.none('DELETE FROM account_events WHERE account_id = $1', [accountId]);
    expect((await deliveries.listByEndpoint(stream.endpointId, 10, null)).deliveries).toEqual([]);
  });
});

describe("appending a change's events together", () => {
  it('keeps their order in the history and in what the listeners hear, in one call', async () => {
    const listeners = new AccountEventListeners();
    const events = new PostgresAccountEventRepository(db, listeners);
    const heard: { id: string; type: string }[][] = [];
    listeners.add(async (appended) => {
      heard.push(appended.map((e) => ({ id: e.id, type: e.type })));
    });
    const accountId = stream.accountId!;
    await db.none('DELETE FROM account_events WHERE account_id = $1', [accountId]);
    const types = [
      AccountEventType.SYNCED,
      AccountEventType.STATUS_CHANGED,
      AccountEventType.RECOVERED,
    ];
    // Many times: rows of one statement can share a clock reading, and then only their
    // microsecond offsets keep the order.
    for (let round = 0; round < 20; round++) {
      await events.appendAll(types.map((type) => ({ accountId, userId, type, data: { round } })));
    }
    expect(heard).toHaveLength(20);
    for (const batch of heard) expect(batch.map((e) => e.type)).toEqual(types);
    const history = await events.listByAccount(accountId, 100, null);
    // Newest first: the last append's recovered on top, each append's three in reverse.
    expect(history.events.map((e) => e.id)).toEqual(
      heard
        .flat()
        .map((e) => e.id)
        .reverse(),
    );
    expect(history.events.map((e) => e.data.round)).toEqual(
      Array.from({ length: 60 }, (_, i) => 19 - Math.floor(i / 3)),
    );
  });
});

describe('endpoints', () => {
  it('finds the subscribed endpoints of the user by name or "*"', async () => {
    const other = (
      await db.one<{ id: string }>(
        `INSERT INTO users (email, password_hash) VALUES ($1, 'scrypt$x') RETURNING id`,
        [`hooks.${randomUUID()}@example.com`],
      )
    ).id;
    await db.none('DELETE FROM webhook_endpoints WHERE user_id = $1', [userId]);
    const all = await newEndpoint(['*']);
    const some = await newEndpoint(['account.recovered', 'account.needs_reconnect']);
    const ping = await newEndpoint(['ping']);
    const found = (types: string[], user = userId) =>
      endpoints
        .findFanOutTargets(user, types as never)
        .then(({ endpoints: list }) => list.map((e) => e.id));
    expect(await found(['account.recovered'])).toEqual([all.id, some.id]);
    expect(await found(['account.connected'])).toEqual([all.id]);
    expect(await found(['account.connected', 'ping'])).toEqual([all.id, ping.id]);
    expect(await found(['account.recovered'], other)).toEqual([]);
    // The user's current account comes with the endpoints (none chosen: the newest connected).
    const [, newest] = await db.many<{ id: string }>(
      `INSERT INTO client_accounts (user_id, platform, platform_account_id, username, created_at)
       SELECT $1, 'instagram', $2 || n, 'fan_out_' || n, now() + n * interval '1 second'
       FROM generate_series(1, 2) AS n ORDER BY n RETURNING id`,
      [userId, String(Date.now())],
    );
    await db.none('DELETE FROM user_current_accounts WHERE user_id = $1', [userId]);
    expect(
      (await endpoints.findFanOutTargets(userId, ['account.recovered'])).currentAccountId,
    ).toBe(newest!.id);
    expect((await endpoints.findFanOutTargets(other, ['account.recovered'])).currentAccountId).toBe(
      null,
    );
  });

  it('key rotation moves every secret onto the current key; one that does not open stays', async () => {
    const k1 = generateKeyringEntry(1);
    const old = new WebhookSecretCipher(TokenCipher.fromKeyString(k1));
    const rotated = new WebhookSecretCipher(
      TokenCipher.fromKeyString(`${generateKeyringEntry(2)},${k1}`),
    );
    const secret = WebhookSecretCipher.generate();
    const id = randomUUID();
    await endpoints.create({
      id,
      userId,
      url: 'https://hooks.example.com/rotate',
      events: ['*'],
      description: null,
      secret: old.seal(secret, id),
    });
    const stranger = randomUUID();
    await endpoints.create({
      id: stranger,
      userId,
      url: 'https://hooks.example.com/other-key',
      events: ['*'],
      description: null,
      // Sealed with a key neither ring has.
      secret: new WebhookSecretCipher(TokenCipher.fromKeyString(generateKeyringEntry(1))).seal(
        'x',
        stranger,
      ),
    });
    expect(await endpoints.secretKeyVersions()).toEqual([1]);
    const result = await endpoints.resealSecrets(2, (rowId, sealed) =>
      rotated.reseal(sealed, rowId),
    );
    expect(result.resealed).toContain(id);
    expect(result.left).toContain(stranger);
    const stored = await endpoints.findWithSecret(id);
    expect(stored!.secret.keyVersion).toBe(2);
    expect(rotated.open(stored!.secret, id)).toBe(secret);
    expect(await endpoints.secretKeyVersions()).toEqual([1, 2]);
    await endpoints.delete(stranger);
  });

  it('keeps the secret sealed and bound to its endpoint', async () => {
    const endpoint = await newEndpoint();
    const stored = await endpoints.findWithSecret(endpoint.id);
    expect(() => secrets.open(stored!.secret, randomUUID())).toThrow(/cannot decrypt/);
    expect(secrets.open(stored!.secret, endpoint.id)).toMatch(/^whsec_/);
    // Deleting the user takes the endpoints and their deliveries.
    await add({ endpointId: endpoint.id, accountId: null }, 1);
    await db.none('DELETE FROM users WHERE id = $1', [userId]);
    expect(await endpoints.findById(endpoint.id)).toBeNull();
    expect(
      (
        await db.one('SELECT count(*)::int AS n FROM webhook_deliveries WHERE endpoint_id = $1', [
          endpoint.id,
        ])
      ).n,
    ).toBe(0);
  });
});
