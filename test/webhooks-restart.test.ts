/**
 * Undelivered events survive the service: deliveries pending when it stops, with their jobs lost
 * and a claim left behind as by a killed worker, are delivered by the next start, in order, under
 * the same event ids.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { generateKeyringEntry } from '../src/config/keyring';
import { AccountEventType } from '../src/domain/entities/account-event.entity';
import {
  ACCOUNT_EVENT_REPOSITORY,
  type IAccountEventRepository,
} from '../src/domain/repositories/account-event.repository.interface';
import { createDatabase } from '../src/infrastructure/database/database';
import { startTestApp, type TestApp } from './helpers/app';
import { createTestDatabase, type TestDatabase } from './helpers/database';
import { http, registerUser } from './helpers/http';
import { startWebhookReceiver, type WebhookReceiver } from './helpers/webhook-receiver';

let database: TestDatabase;
let receiver: WebhookReceiver;
const running: TestApp[] = [];

const ENV = {
  JOBS_ENABLED: 'true',
  WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true',
  WEBHOOK_RETRY_BASE_MS: '200',
  WEBHOOK_RETRY_MAX_DELAY_MS: '400',
  // The same keys across restarts, as a deployment keeps them: the secret must still open.
  TOKEN_ENCRYPTION_KEY: generateKeyringEntry(1),
};

beforeAll(async () => {
  database = await createTestDatabase();
  receiver = await startWebhookReceiver();
});

afterAll(async () => {
  for (const app of running) await app.close().catch(() => undefined);
  await receiver?.close();
  await database?.drop();
});

it('delivers after a restart what the stopped service could not, in order', async () => {
  const first = await startTestApp(ENV, { database });
  running.push(first);
  const user = await registerUser(first.url);
  const created = await http(first.url, 'POST', '/webhooks', {
    token: user.token,
    body: { url: `${receiver.url}/hook`, events: ['account.status_changed'] },
  });
  expect(created.status).toBe(201);
  const accountId = '6a3f0f52-5d0e-4c55-9d8c-1f2b3c4d5e6f';
  await first.db.none(
    `INSERT INTO client_accounts (id, user_id, platform, platform_account_id, username)
     VALUES ($1, $2, 'instagram', '17841400000000001', 'restart.seller')`,
    [accountId, user.userId],
  );
  const events = first.app.get<IAccountEventRepository>(ACCOUNT_EVENT_REPOSITORY, {
    strict: false,
  });

  receiver.reply = () => 503;
  for (let n = 1; n <= 3; n++) {
    await events.append({
      accountId,
      userId: user.userId,
      type: AccountEventType.STATUS_CHANGED,
      data: { from: 'active', to: 'error', reason: `restart-${n}` },
    });
  }
  await receiver.waitFor((all) => all.length >= 1, 'a first, refused attempt');
  const attemptedBefore = receiver.received.map((r) => r.headers['x-ssell-delivery']);
  await first.close();
  running.pop();

  // What a kill -9 leaves: the drain jobs gone with the process, the head claimed by it.
  const side = createDatabase(database.url, 1, () => undefined);
  try {
    await side.db.none(
      `DELETE FROM pgboss.job WHERE name IN ('webhook.deliver', 'webhook.deliver-endpoint')`,
    );
    await side.db.none(
      `UPDATE webhook_deliveries SET lease_until = now() - interval '1 second'
       WHERE seq = (SELECT min(seq) FROM webhook_deliveries WHERE status = 'pending')`,
    );
    const pending = await side.db.one(
      `SELECT count(*)::int AS n FROM webhook_deliveries WHERE status = 'pending'`,
    );
    expect(pending.n).toBe(3);
  } finally {
    await side.close();
  }

  receiver.reply = () => 200;
  const second = await startTestApp(ENV, { database });
  running.push(second);
  const delivered = await receiver.waitFor((all) => {
    const ok = all.slice(attemptedBefore.length);
    return new Set(ok.map((r) => r.body.id)).size === 3 && ok;
  }, 'the three events after the restart');
  const order = await second.db.map(
    `SELECT id FROM account_events WHERE account_id = $1 ORDER BY created_at, id`,
    [accountId],
    (row: { id: string }) => row.id,
  );
  expect([...new Set(delivered.map((r) => r.body.id))]).toEqual(order);
  // The event refused before the restart went again under its own id.
  expect(attemptedBefore[0]).toBe(order[0]);
  await expect
    .poll(async () =>
      (await second.db.many(`SELECT status FROM webhook_deliveries ORDER BY seq`)).map(
        (r) => r.status,
      ),
    )
    .toEqual(['delivered', 'delivered', 'delivered']);
});
