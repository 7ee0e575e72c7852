/**
 * Outgoing webhooks end to end: the real service with its job workers on a fresh database, the
 * emulator as Instagram, and a real HTTP receiver on loopback (WEBHOOK_ALLOW_PRIVATE_TARGETS=true,
 * as in development). Short timeouts and backoff come from the configuration; pg-boss polls every
 * second, so a retry lands a second or two after the failure it follows.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { AccountEventType } from '../src/domain/entities/account-event.entity';
import {
  ACCOUNT_EVENT_REPOSITORY,
  type IAccountEventRepository,
} from '../src/domain/repositories/account-event.repository.interface';
import { WebhookDeliveryService } from '../src/modules/webhooks/services/webhook-delivery.service';
import type { TestApp } from './helpers/app';
import { http, registerUser, type RegisteredUser } from './helpers/http';
import {
  connectAccount,
  issuedTokens,
  startInstagramTestApp,
  type InstagramTestApp,
} from './helpers/instagram-fixtures';
import {
  startWebhookReceiver,
  type ReceivedRequest,
  type WebhookReceiver,
} from './helpers/webhook-receiver';

const TIMEOUT_MS = 600;

let app: InstagramTestApp;
let t: TestApp;
let receiver: WebhookReceiver;
let user: RegisteredUser;
let other: RegisteredUser;
let events: IAccountEventRepository;
/** Every response body of the file, for the leak scan at the end. */
const responses: string[] = [];

async function api(method: string, path: string, as: RegisteredUser | null, body?: unknown) {
  const res = await http(t.url, method, path, {
    ...(as ? { token: as.token } : {}),
    ...(body !== undefined ? { body } : {}),
  });
  responses.push(res.text);
  return res;
}

/** The receiver's own check, exactly as the README tells receivers to do it. */
function verify(request: ReceivedRequest, secret: string): boolean {
  const timestamp = request.headers['x-ssell-timestamp'] as string;
  const signature = request.headers['x-ssell-signature'] as string;
  const expected =
    'v1=' + createHmac('sha256', secret).update(`${timestamp}.${request.rawBody}`).digest('hex');
  return (
    signature.length === expected.length &&
    timingSafeEqual(Buffer.from(signature), Buffer.from(expected))
  );
}

/** Registers an endpoint on the receiver (a path of its own); its id and secret. */
async function register(
  path: string,
  eventsWanted: string[] = ['*'],
  as: RegisteredUser = user,
): Promise<{ id: string; secret: string; url: string }> {
  const url = `${receiver.url}${path}`;
  const res = await api('POST', '/webhooks', as, { url, events: eventsWanted });
  expect(res.status, res.text).toBe(201);
  return { id: res.body.id, secret: res.body.secret, url };
}

const at = (path: string) => (r: ReceivedRequest) => r.path === path;

async function deliveriesOf(id: string) {
  const res = await api('GET', `/webhooks/${id}/deliveries`, user);
  expect(res.status).toBe(200);
  return res.body.deliveries as {
    id: string;
    event: string;
    status: string;
    attempts: number;
    lastStatusCode: number | null;
    createdAt: string;
    deliveredAt: string | null;
  }[];
}

async function until<T>(
  probe: () => Promise<T | null | undefined | false>,
  what: string,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** An account of `user`, connected the way the OAuth callback does it (a `connected` event). */
const newAccount = async (as: RegisteredUser = user) =>
  (await connectAccount(app, as.userId)).account;

/** A status change of the account, appended through the outbox like any other event. */
const statusEvent = (accountId: string, userId: string, n: number) =>
  events.append({
    accountId,
    userId,
    type: AccountEventType.STATUS_CHANGED,
    data: { from: 'active', to: 'error', reason: `test-${n}` },
  });

beforeAll(async () => {
  receiver = await startWebhookReceiver();
  app = await startInstagramTestApp({
    JOBS_ENABLED: 'true',
    WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true',
    WEBHOOK_TIMEOUT_MS: String(TIMEOUT_MS),
    WEBHOOK_RETRY_BASE_MS: '200',
    WEBHOOK_RETRY_MAX_DELAY_MS: '400',
  });
  t = app.t;
  events = t.app.get(ACCOUNT_EVENT_REPOSITORY, { strict: false });
  user = await registerUser(t.url);
  other = await registerUser(t.url);
});

beforeEach(() => {
  receiver.reply = () => 200;
});

afterAll(async () => {
  await app?.close();
  await receiver?.close();
});

describe('endpoints API', () => {
  it('creates an endpoint and shows its secret once; lists and reads it without', async () => {
    const url = `${receiver.url}/created`;
    const res = await api('POST', '/webhooks', user, {
      url,
      events: ['account.needs_reconnect', 'account.recovered'],
      description: 'CRM alerts',
    });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      url: `${url}`,
      events: ['account.needs_reconnect', 'account.recovered'],
      description: 'CRM alerts',
      secret: expect.stringMatching(/^whsec_[A-Za-z0-9_-]{43}$/),
      createdAt: expect.any(String),
    });
    const { id, secret } = res.body;

    const one = await api('GET', `/webhooks/${id}`, user);
    expect(one.status).toBe(200);
    expect(one.body).toEqual({ ...res.body, secret: undefined });
    expect(one.text).not.toContain(secret);
    const list = await api('GET', '/webhooks', user);
    expect(list.status).toBe(200);
    expect(list.body.webhooks.map((w: { id: string }) => w.id)).toContain(id);
    expect(list.text).not.toContain(secret);
    expect((await api('GET', '/webhooks', other)).body.webhooks).toEqual([]);

    // At rest the secret is ciphertext, bound to the endpoint.
    const row = await t.db.one(
      `SELECT secret_ciphertext, secret_key_version FROM webhook_endpoints WHERE id = $1`,
      [id],
    );
    expect(row.secret_key_version).toBe(1);
    expect(Buffer.from(row.secret_ciphertext).toString('latin1')).not.toContain(
      secret.slice('whsec_'.length),
    );
  });

  it('refuses bad input with 400 and a sentence', async () => {
    const bad: [unknown, RegExp][] = [
      [{ url: `${receiver.url}/x`, events: [] }, /events must be a list/],
      [{ url: `${receiver.url}/x`, events: ['account.exploded'] }, /events must be a list/],
      [{ url: `${receiver.url}/x`, events: ['*', 'ping'] }, /\["\*"\] alone/],
      [{ url: `${receiver.url}/x`, events: ['ping', 'ping'] }, /must not repeat/],
      [{ url: `${receiver.url}/x` }, /events/],
      [{ events: ['*'] }, /url/],
      [{ url: 'not a url', events: ['*'] }, /absolute http or https URL/],
      [{ url: 'file:///etc/passwd', events: ['*'] }, /http or https/],
      [{ url: 'ftp://example.com/x', events: ['*'] }, /http or https/],
      [{ url: 'https://user:pass@example.com/hook', events: ['*'] }, /credentials/],
      [{ url: `https://example.com/${'a'.repeat(2100)}`, events: ['*'] }, /at most 2048/],
      [{ url: `${receiver.url}/x`, events: ['*'], secret: 'mine' }, /secret should not exist/],
      [{ url: `${receiver.url}/x`, events: ['*'], userId: other.userId }, /userId/],
    ];
    for (const [body, message] of bad) {
      const res = await api('POST', '/webhooks', user, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.message).toMatch(message);
      expect(res.body).toMatchObject({ statusCode: 400, error: 'Bad Request' });
    }
  });

  it('link-local and metadata targets are refused even where private ones are allowed', async () => {
    for (const url of [
      'http://169.254.169.254/latest/meta-data/',
      'http://metadata.google.internal/computeMetadata/v1/',
      'http://[fe80::1]/hook',
      'http://[::ffff:169.254.169.254]/hook',
      'http://0.0.0.0:8080/hook',
    ]) {
      const res = await api('POST', '/webhooks', user, { url, events: ['*'] });
      expect(res.status, url).toBe(400);
      expect(res.body.message).toMatch(/not an acceptable webhook target/);
    }
    // Allowed here (WEBHOOK_ALLOW_PRIVATE_TARGETS=true): a name for this machine.
    const local = await api('POST', '/webhooks', user, {
      url: `http://localhost:${receiver.port}/local`,
      events: ['ping'],
    });
    expect(local.status).toBe(201);
    expect((await api('DELETE', `/webhooks/${local.body.id}`, user)).status).toBe(204);
  });

  it('401 without a session; 400 malformed id; 404 unknown; 403 for another user, nothing changed', async () => {
    const { id } = await register('/owned', ['ping']);
    const routes: [string, string][] = [
      ['GET', `/webhooks/${id}`],
      ['DELETE', `/webhooks/${id}`],
      ['POST', `/webhooks/${id}/rotate-secret`],
      ['POST', `/webhooks/${id}/test`],
      ['GET', `/webhooks/${id}/deliveries`],
    ];
    expect((await api('GET', '/webhooks', null)).status).toBe(401);
    expect(
      (await api('POST', '/webhooks', null, { url: receiver.url, events: ['*'] })).status,
    ).toBe(401);
    for (const [method, path] of routes) {
      expect((await api(method, path, null)).status, `${method} ${path}`).toBe(401);
      const forbidden = await api(method, path, other);
      expect(forbidden.status, `${method} ${path}`).toBe(403);
      expect(forbidden.body.message).toBe('Access denied to this webhook');
      const unknown = path.replace(id, '00000000-0000-4000-8000-000000000000');
      expect((await api(method, unknown, user)).status, `${method} ${unknown}`).toBe(404);
      const malformed = path.replace(id, 'not-a-uuid');
      const res = await api(method, malformed, user);
      expect(res.status, `${method} ${malformed}`).toBe(400);
      expect(res.body.message).toBe('id must be a UUID (a webhook id)');
    }
    expect((await api('GET', `/webhooks/${id}`, user)).status).toBe(200);
    expect(await deliveriesOf(id)).toEqual([]);
    expect(receiver.received.filter(at('/owned'))).toEqual([]);
  });

  it('DELETE answers 204, and the endpoint and its log are gone', async () => {
    const { id } = await register('/deleted', ['ping']);
    expect((await api('POST', `/webhooks/${id}/test`, user)).status).toBe(202);
    expect((await api('DELETE', `/webhooks/${id}`, user)).status).toBe(204);
    expect((await api('GET', `/webhooks/${id}`, user)).status).toBe(404);
    expect((await api('DELETE', `/webhooks/${id}`, user)).status).toBe(404);
    const left = await t.db.one(
      'SELECT count(*)::int AS n FROM webhook_deliveries WHERE endpoint_id = $1',
      [id],
    );
    expect(left.n).toBe(0);
  });
});

describe('delivery', () => {
  it('pings: signed as documented, with the headers, logged as delivered', async () => {
    const { id, secret } = await register('/ping', ['ping']);
    const queued = await api('POST', `/webhooks/${id}/test`, user);
    expect(queued.status).toBe(202);
    expect(queued.body).toMatchObject({ event: 'ping', status: 'pending', attempts: 0 });

    const [ping] = await receiver.waitFor(
      (all) => all.filter(at('/ping')).length > 0 && all.filter(at('/ping')),
      'the ping',
    );
    expect(ping!.method).toBe('POST');
    expect(ping!.headers['content-type']).toBe('application/json');
    expect(ping!.headers['x-ssell-event']).toBe('ping');
    expect(ping!.headers['x-ssell-delivery']).toBe(ping!.body.id);
    const timestamp = Number(ping!.headers['x-ssell-timestamp']);
    expect(Math.abs(timestamp - Date.now() / 1000)).toBeLessThan(30);
    expect(ping!.headers['x-ssell-signature']).toMatch(/^v1=[0-9a-f]{64}$/);
    expect(verify(ping!, secret)).toBe(true);
    expect(verify(ping!, `${secret}x`)).toBe(false);
    expect(verify({ ...ping!, rawBody: `${ping!.rawBody} ` }, secret)).toBe(false);
    expect(ping!.body).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      type: 'ping',
      createdAt: expect.any(String),
      data: { webhook: { id, url: `${receiver.url}/ping` } },
    });

    const [logged] = await until(async () => {
      const log = await deliveriesOf(id);
      return log[0]?.status === 'delivered' && log;
    }, 'the ping logged as delivered');
    expect(logged).toEqual({
      id: queued.body.id,
      event: 'ping',
      status: 'delivered',
      attempts: 1,
      lastStatusCode: 200,
      createdAt: queued.body.createdAt,
      deliveredAt: expect.any(String),
    });
  });

  it('rotating the secret signs every attempt from then on with the new one', async () => {
    const { id, secret: old } = await register('/rotated', ['ping']);
    const rotated = await api('POST', `/webhooks/${id}/rotate-secret`, user);
    expect(rotated.status).toBe(200);
    expect(rotated.body).toEqual({ secret: expect.stringMatching(/^whsec_/) });
    expect(rotated.body.secret).not.toBe(old);
    expect((await api('POST', `/webhooks/${id}/test`, user)).status).toBe(202);
    const [ping] = await receiver.waitFor(
      (all) => all.filter(at('/rotated')).length > 0 && all.filter(at('/rotated')),
      'the ping after rotation',
    );
    expect(verify(ping!, rotated.body.secret)).toBe(true);
    expect(verify(ping!, old)).toBe(false);
  });

  it("sends an account's events with the account in the API's shape and no token", async () => {
    const { secret } = await register('/account-events');
    const onlyDisconnects = await register('/only-disconnects', ['account.disconnected']);
    const account = await newAccount();
    const [connected] = await receiver.waitFor((all) => {
      const mine = all.filter(
        (r) => r.path === '/account-events' && r.body?.data?.account?.id === account.id,
      );
      return mine.length > 0 && mine;
    }, 'account.connected');
    expect(connected!.headers['x-ssell-event']).toBe('account.connected');
    expect(verify(connected!, secret)).toBe(true);
    const view = await api('GET', `/instagram/accounts/${account.id}`, user);
    expect(Object.keys(connected!.body.data.account).sort()).toEqual(Object.keys(view.body).sort());
    expect(connected!.body.data.account).toMatchObject({
      id: account.id,
      username: account.username,
      status: 'active',
      // Its owner's newest account, so the one they work in, then as now.
      isCurrent: true,
      createdAt: view.body.createdAt,
    });
    expect(view.body.isCurrent).toBe(true);
    const stored = await t.db.one(
      `SELECT id, created_at FROM account_events WHERE account_id = $1 AND type = 'connected'`,
      [account.id],
    );
    expect(connected!.body.id).toBe(stored.id);
    expect(connected!.body.createdAt).toBe(stored.created_at.toISOString());
    for (const token of issuedTokens(app.emu)) expect(connected!.rawBody).not.toContain(token);
    // Not subscribed to connects: nothing for that endpoint, nothing in its log.
    expect(receiver.received.filter(at('/only-disconnects'))).toEqual([]);
    expect(await deliveriesOf(onlyDisconnects.id)).toEqual([]);
  });

  it('retries after 500s with the same delivery id, then logs it delivered', async () => {
    const { id } = await register('/flaky', ['account.status_changed']);
    let failures = 2;
    receiver.reply = (r) => (r.path === '/flaky' && failures-- > 0 ? 500 : 200);
    const account = await newAccount();
    await statusEvent(account.id, user.userId, 1);
    const attempts = await receiver.waitFor(
      (all) => all.filter(at('/flaky')).length === 3 && all.filter(at('/flaky')),
      'three attempts',
    );
    const ids = new Set(attempts.map((r) => r.headers['x-ssell-delivery']));
    expect(ids.size).toBe(1);
    expect(new Set(attempts.map((r) => r.rawBody)).size).toBe(1);
    // Backoff: each retry waits at least half its base delay.
    expect(attempts[1]!.at - attempts[0]!.at).toBeGreaterThanOrEqual(100);
    const [logged] = await until(async () => {
      const log = await deliveriesOf(id);
      return log[0]?.status === 'delivered' && log;
    }, 'delivered after retries');
    expect(logged).toMatchObject({
      event: 'account.status_changed',
      attempts: 3,
      lastStatusCode: 200,
    });
  });

  it('retries after a receiver that hangs past the timeout', async () => {
    const { id } = await register('/hang', ['account.status_changed']);
    let hangs = 1;
    receiver.reply = (r) => (r.path === '/hang' && hangs-- > 0 ? 'hang' : 200);
    const account = await newAccount();
    await statusEvent(account.id, user.userId, 1);
    const attempts = await receiver.waitFor(
      (all) => all.filter(at('/hang')).length === 2 && all.filter(at('/hang')),
      'the attempt after the hang',
    );
    expect(attempts[0]!.headers['x-ssell-delivery']).toBe(attempts[1]!.headers['x-ssell-delivery']);
    expect(attempts[1]!.at - attempts[0]!.at).toBeGreaterThanOrEqual(TIMEOUT_MS);
    const [logged] = await until(async () => {
      const log = await deliveriesOf(id);
      return log[0]?.status === 'delivered' && log;
    }, 'delivered after the hang');
    expect(logged).toMatchObject({ attempts: 2, lastStatusCode: 200 });
  });

  it("one account's hanging delivery holds one slot: the endpoint's other accounts are delivered meanwhile", async () => {
    await register('/slot', ['account.status_changed']);
    const stuck = await newAccount();
    const others = [await newAccount(), await newAccount(), await newAccount()];
    let hangs = 1;
    receiver.reply = (r) =>
      r.path === '/slot' && r.body?.data?.account?.id === stuck.id && hangs-- > 0 ? 'hang' : 200;
    await statusEvent(stuck.id, user.userId, 1);
    await receiver.waitFor((all) => all.some(at('/slot')), 'the attempt that hangs');
    const hungAt = Date.now();
    // Appended while the endpoint's drain waits on the hung attempt: taken on at once, beside it.
    for (const other of others) await statusEvent(other.id, user.userId, 1);
    const delivered = await receiver.waitFor((all) => {
      const got = all.filter(
        (r) => r.path === '/slot' && others.some((o) => o.id === r.body?.data?.account?.id),
      );
      return got.length === others.length && got;
    }, "the other accounts' events");
    expect(Math.max(...delivered.map((r) => r.at)) - hungAt).toBeLessThan(TIMEOUT_MS);
    // And the hung one is tried again after its timeout, under the same delivery id.
    const attempts = await receiver.waitFor((all) => {
      const got = all.filter((r) => r.path === '/slot' && r.body?.data?.account?.id === stuck.id);
      return got.length === 2 && got;
    }, 'the retry of the hung delivery');
    expect(attempts[1]!.headers['x-ssell-delivery']).toBe(attempts[0]!.headers['x-ssell-delivery']);
  });

  it('a receiver refusing every account: the endpoint drain backs off, and nothing is lost', async () => {
    const { id } = await register('/down', ['account.status_changed']);
    const accounts = [];
    for (let i = 0; i < 24; i++) accounts.push(await newAccount());
    let up = false;
    receiver.reply = (r) => (r.path === '/down' && !up ? 503 : 200);
    const drains = vi.spyOn(t.app.get(WebhookDeliveryService), 'drainEndpoint');
    // One change's events for all 24: one drain of the endpoint sees every pair due at once.
    await events.appendAll(
      accounts.map((a, n) => ({
        accountId: a.id,
        userId: user.userId,
        type: AccountEventType.STATUS_CHANGED,
        data: { from: 'active', to: 'error', reason: `down-${n}` },
      })),
    );
    // 16 pairs (WEBHOOK_CONCURRENCY) failed in a row and none delivered: it queued itself for
    // after the first retry's delay instead of holding its slot.
    await until(
      async () =>
        drains.mock.settledResults.some(
          (r) =>
            r.type === 'fulfilled' && r.value.stopped === 'retrying' && r.value.delivered === 0,
        ),
      'the endpoint drain backing off',
    );
    up = true;
    const delivered = await until(async () => {
      const rows = await t.db.manyOrNone<{ status: string; attempts: number; account_id: string }>(
        'SELECT status, attempts, account_id FROM webhook_deliveries WHERE endpoint_id = $1',
        [id],
      );
      return rows.length === 24 && rows.every((r) => r.status === 'delivered') && rows;
    }, 'every account delivered once the receiver answers');
    expect(new Set(delivered.map((r) => r.account_id))).toEqual(new Set(accounts.map((a) => a.id)));
    // Those refused while it was down were tried again (the rest may have waited untried).
    expect(delivered.filter((r) => r.attempts >= 2).length).toBeGreaterThanOrEqual(16);
    drains.mockRestore();
  });

  it("keeps each account's events in order while one is retried; other accounts go on", async () => {
    await register('/order', ['account.status_changed']);
    const a = await newAccount();
    const b = await newAccount();
    const blocked = { n: 3 };
    receiver.reply = (r) =>
      r.path === '/order' && r.body?.data?.account?.id === a.id && blocked.n-- > 0 ? 503 : 200;
    for (let n = 1; n <= 4; n++) await statusEvent(a.id, user.userId, n);
    await statusEvent(b.id, user.userId, 1);
    const appended = await t.db.map(
      `SELECT id FROM account_events WHERE account_id = $1 AND type = 'status_changed'
       ORDER BY created_at, id`,
      [a.id],
      (row: { id: string }) => row.id,
    );
    const forA = (all: ReceivedRequest[]) =>
      all.filter((r) => r.path === '/order' && r.body?.data?.account?.id === a.id);
    const delivered = await receiver.waitFor((all) => {
      const got = forA(all);
      return new Set(got.map((r) => r.body.id)).size === 4 && got;
    }, "all four of A's events");
    // B's event did not wait behind A's retries.
    const bAt = receiver.received.find(
      (r) => r.path === '/order' && r.body?.data?.account?.id === b.id,
    )!.at;
    expect(bAt).toBeLessThan(delivered.at(-1)!.at);
    // A's first event was tried four times before anything after it was sent; then in order.
    const sequence = delivered.map((r) => r.body.id as string);
    expect(sequence.slice(0, 4)).toEqual([appended[0], appended[0], appended[0], appended[0]]);
    expect([...new Set(sequence)]).toEqual(appended);
  });

  it('gives up 24 hours after the first attempt, then the next event goes', async () => {
    const { id } = await register('/dead', ['account.status_changed']);
    const account = await newAccount();
    // The first event this endpoint gets is refused, every time; the others are taken.
    let doomed: string | undefined;
    receiver.reply = (r) =>
      r.path === '/dead' && (doomed ??= r.body.id) === r.body.id ? 500 : 200;
    await statusEvent(account.id, user.userId, 1);
    await receiver.waitFor((all) => all.some(at('/dead')), 'the first attempt');
    // A day passes for this delivery: its first attempt was 25 hours ago.
    await until(async () => {
      const result = await t.db.result(
        `UPDATE webhook_deliveries SET first_attempt_at = now() - interval '25 hours'
         WHERE endpoint_id = $1 AND attempts >= 1 AND status = 'pending'`,
        [id],
      );
      return result.rowCount === 1;
    }, 'the first attempt recorded');
    await statusEvent(account.id, user.userId, 2);
    const log = await until(async () => {
      const rows = await deliveriesOf(id);
      return rows.length === 2 && rows[1]!.status === 'failed' && rows;
    }, 'the first delivery failed');
    expect(log[1]).toMatchObject({ status: 'failed', lastStatusCode: 500, deliveredAt: null });
    expect(log[1]!.attempts).toBeGreaterThanOrEqual(2);
    const next = await until(async () => {
      const rows = await deliveriesOf(id);
      return rows[0]!.status === 'delivered' && rows[0];
    }, 'the next event delivered');
    expect(next).toMatchObject({ event: 'account.status_changed', attempts: 1 });

    // An operator sends the failed one again (the CLI's `webhooks redeliver --failed`).
    receiver.reply = () => 200;
    const requeued = await t.app
      .get(WebhookDeliveryService)
      .redeliverFailed(new Date(Date.now() - 60_000), id);
    expect(requeued.pairs).toBe(1);
    const again = await until(async () => {
      const rows = await deliveriesOf(id);
      return rows[1]!.status === 'delivered' && rows[1];
    }, 'the failed delivery redelivered');
    expect(again.attempts).toBe(log[1]!.attempts + 1);
  });

  it('does not follow redirects', async () => {
    const elsewhere = await startWebhookReceiver();
    try {
      const { id } = await register('/redirect', ['ping']);
      receiver.reply = (r) =>
        r.path === '/redirect'
          ? { status: 307, headers: { location: `${elsewhere.url}/stolen` } }
          : 200;
      expect((await api('POST', `/webhooks/${id}/test`, user)).status).toBe(202);
      const [logged] = await until(async () => {
        const log = await deliveriesOf(id);
        return log[0]?.lastStatusCode === 307 && log;
      }, 'the redirect logged');
      expect(logged).toMatchObject({ status: 'pending', deliveredAt: null });
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(elsewhere.received).toEqual([]);
    } finally {
      await elsewhere.close();
    }
  });
});

describe('the events, driven through the emulator', () => {
  /** Meta's deauthorize callback, signed with the app secret as Meta signs it. */
  const deauthorize = (appScopedId: string) => {
    const payload = Buffer.from(
      JSON.stringify({
        user_id: appScopedId,
        algorithm: 'HMAC-SHA256',
        issued_at: Math.floor(Date.now() / 1000) + 5,
      }),
    ).toString('base64url');
    const signature = createHmac('sha256', app.emu.appSecret).update(payload).digest('base64url');
    return http(t.url, 'POST', '/instagram/webhooks/deauthorize', {
      rawBody: `signed_request=${signature}.${payload}`,
      contentType: 'application/x-www-form-urlencoded',
    });
  };
  const sync = (id: string) => api('POST', `/instagram/accounts/${id}/sync`, user);

  it('broken token, rate limit, recovery, deauthorize: each event once, in order, signed', async () => {
    const { secret } = await register('/lifecycle');
    const { account, emulatorAccount } = await connectAccount(app, user.userId);
    const id = account.id;
    const mine = (all: ReceivedRequest[]) =>
      all.filter((r) => r.path === '/lifecycle' && r.body?.data?.account?.id === id);
    const typesSoFar = () => mine(receiver.received).map((r) => r.body.type as string);
    // The connect's own sync job runs first, so what follows starts from a quiet account.
    await until(
      async () =>
        (await t.db.oneOrNone(
          `SELECT 1 FROM account_events WHERE account_id = $1 AND type = 'synced'`,
          [id],
        )) !== null,
      'the connect sync',
    );

    // Instagram invalidates the token: the next sync finds out. Failing again and again, and a
    // status check on top, the owner hears it once.
    app.emu.state.invalidateTokens(emulatorAccount.username, 'password_changed');
    for (let i = 0; i < 3; i++) expect((await sync(id)).status).toBe(409);
    expect((await api('POST', `/instagram/accounts/${id}/refresh-status`, user)).body).toEqual({
      status: 'token_expired',
    });
    const broken = await receiver.waitFor((all) => {
      const got = mine(all);
      return got.some((r) => r.body.type === 'account.needs_reconnect') && got;
    }, 'needs_reconnect');
    const needs = broken.find((r) => r.body.type === 'account.needs_reconnect')!;
    expect(needs.body.data.account).toMatchObject({ id, status: 'token_expired' });
    expect(needs.body.data.account.statusDetail).toMatch(/password was changed/);
    expect(verify(needs, secret)).toBe(true);

    // The owner reconnects: back to active.
    await connectAccount(app, user.userId, { emulatorAccount: emulatorAccount.userId });
    await receiver.waitFor(
      (all) => mine(all).some((r) => r.body.type === 'account.recovered'),
      'recovered after the reconnect',
    );

    // A rate limit is a status change, not a reason to reconnect.
    app.emu.state.inject({ kind: 'rate_limit_account', account: emulatorAccount.username });
    expect((await sync(id)).status).toBe(429);
    await receiver.waitFor(
      (all) =>
        mine(all).some(
          (r) =>
            r.body.type === 'account.status_changed' &&
            r.body.data.account.status === 'rate_limited',
        ),
      'status_changed to rate_limited',
    );
    // The limit lifts (its reset time moves into the past): the next sync recovers.
    await t.db.none(
      `UPDATE client_accounts SET metadata = metadata || jsonb_build_object(
         'rateLimitedUntil', to_jsonb(now() - interval '1 minute')) WHERE id = $1`,
      [id],
    );
    await t.db.none('DELETE FROM instagram_api_usage');
    expect((await sync(id)).status).toBe(200);
    await receiver.waitFor(
      (all) => mine(all).filter((r) => r.body.type === 'account.recovered').length === 2,
      'recovered after the rate limit',
    );

    // The person removes the app in Instagram's settings.
    expect((await deauthorize(emulatorAccount.appScopedId)).status).toBe(200);
    const all = await receiver.waitFor((got) => {
      const list = mine(got);
      return list.some((r) => r.body.type === 'account.disconnected') && list;
    }, 'disconnected');
    const disconnected = all.find((r) => r.body.type === 'account.disconnected')!;
    expect(disconnected.body.data.account.status).toBe('disconnected');

    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(typesSoFar()).toEqual([
      'account.connected',
      'account.status_changed',
      'account.needs_reconnect',
      'account.reconnected',
      'account.status_changed',
      'account.recovered',
      'account.status_changed',
      'account.status_changed',
      'account.recovered',
      'account.status_changed',
      'account.disconnected',
    ]);
    const statuses = mine(receiver.received)
      .filter((r) => r.body.type === 'account.status_changed')
      .map((r) => r.body.data.account.status);
    expect(statuses).toEqual(['token_expired', 'active', 'rate_limited', 'active', 'disconnected']);
    for (const r of mine(receiver.received)) {
      expect(verify(r, secret)).toBe(true);
      for (const token of issuedTokens(app.emu)) expect(r.rawBody).not.toContain(token);
    }
  });

  it('DELETE of an account: account.disconnected with the account as it was, disconnected', async () => {
    await register('/deleted-account', ['account.disconnected']);
    const account = await newAccount();
    expect((await api('DELETE', `/instagram/accounts/${account.id}`, user)).status).toBe(204);
    const [gone] = await receiver.waitFor((all) => {
      const got = all.filter(at('/deleted-account'));
      return got.length > 0 && got;
    }, 'account.disconnected');
    expect(gone!.body.type).toBe('account.disconnected');
    expect(gone!.body.data.account).toMatchObject({
      id: account.id,
      username: account.username,
      status: 'disconnected',
    });
  });
});

describe('leaks', () => {
  it('no response of this file shows a token or another secret than the one just made', async () => {
    const tokens = issuedTokens(app.emu);
    expect(tokens.length).toBeGreaterThan(0);
    for (const token of tokens) {
      expect(responses.find((text) => text.includes(token))).toBeUndefined();
      expect(t.logs.find((line) => line.includes(token))).toBeUndefined();
    }
    const secrets = responses.flatMap((text) => text.match(/whsec_[A-Za-z0-9_-]{43}/g) ?? []);
    expect(secrets.length).toBeGreaterThan(0);
    for (const secret of secrets) {
      expect(t.logs.find((line) => line.includes(secret))).toBeUndefined();
    }
  });
});
