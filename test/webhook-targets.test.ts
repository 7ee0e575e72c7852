/**
 * The SSRF rules where they matter most: a service that does not allow private targets (the
 * default, production's). Refused at registration (400), and again at delivery after DNS
 * resolution: an endpoint whose name resolves to 127.0.0.1 gets nothing sent, whatever its row
 * says. The receiver exists to prove that nothing reaches it.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebhookSecretCipher } from '../src/infrastructure/crypto/webhook-secret-cipher';
import { startTestApp, type TestApp } from './helpers/app';
import { http, registerUser, type RegisteredUser } from './helpers/http';
import { startWebhookReceiver, type WebhookReceiver } from './helpers/webhook-receiver';

let t: TestApp;
let user: RegisteredUser;
let receiver: WebhookReceiver;

beforeAll(async () => {
  receiver = await startWebhookReceiver();
  t = await startTestApp({ JOBS_ENABLED: 'true', WEBHOOK_RETRY_BASE_MS: '200' });
  user = await registerUser(t.url);
});

afterAll(async () => {
  await t?.close();
  await receiver?.close();
});

describe('at registration', () => {
  it.each([
    ['cloud metadata by address', 'http://169.254.169.254/latest/meta-data/'],
    ['cloud metadata by name', 'http://metadata.google.internal/computeMetadata/v1/'],
    ['IPv6 link-local', 'http://[fe80::1]/hook'],
    ['a name for this machine', 'http://localhost:PORT/hook'],
    ['loopback', 'http://127.0.0.1:PORT/hook'],
    ['IPv6 loopback', 'http://[::1]:PORT/hook'],
    ['IPv4-mapped loopback', 'http://[::ffff:127.0.0.1]:PORT/hook'],
    ['loopback written as one number', 'http://2130706433:PORT/hook'],
    ['loopback in hex', 'http://0x7f.1:PORT/hook'],
    ['a private network', 'http://10.1.2.3/hook'],
    ['another private network', 'https://192.168.1.10/hook'],
    ['the carrier-grade NAT range', 'http://100.64.0.1/hook'],
    ['a file', 'file:///etc/passwd'],
    ['credentials in the URL', 'https://user:secret@hooks.example.com/x'],
  ])('refuses %s: 400', async (_what, template) => {
    const url = template.replace('PORT', String(receiver.port));
    const res = await http(t.url, 'POST', '/webhooks', {
      token: user.token,
      body: { url, events: ['*'] },
    });
    expect(res.status, url).toBe(400);
    expect(res.body.message).toMatch(/url/);
    expect(res.text).not.toMatch(/stack|at .*\.ts/);
  });

  it('stores nothing for a refused URL', async () => {
    const list = await http(t.url, 'GET', '/webhooks', { token: user.token });
    expect(list.body.webhooks).toEqual([]);
  });
});

describe('at delivery', () => {
  it('a registered name that resolves to loopback is refused after resolution; nothing is sent', async () => {
    // As if registered while the name pointed elsewhere (DNS rebinding): the row says localhost.
    const id = randomUUID();
    const cipher = t.app.get(WebhookSecretCipher);
    const sealed = cipher.seal(WebhookSecretCipher.generate(), id);
    await t.db.none(
      `INSERT INTO webhook_endpoints (id, user_id, url, events, secret_ciphertext, secret_iv,
         secret_auth_tag, secret_key_version)
       VALUES ($1, $2, $3, '{*}', $4, $5, $6, $7)`,
      [
        id,
        user.userId,
        `http://localhost:${receiver.port}/rebound`,
        sealed.ciphertext,
        sealed.iv,
        sealed.authTag,
        sealed.keyVersion,
      ],
    );
    const ping = await http(t.url, 'POST', `/webhooks/${id}/test`, { token: user.token });
    expect(ping.status).toBe(202);
    const row = await (async () => {
      const deadline = Date.now() + 15_000;
      for (;;) {
        const found = await t.db.oneOrNone(
          `SELECT status, attempts, last_status_code, last_error FROM webhook_deliveries
           WHERE id = $1 AND attempts >= 2`,
          [ping.body.id],
        );
        if (found) return found;
        if (Date.now() > deadline) throw new Error('no attempt recorded');
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    expect(row).toMatchObject({ status: 'pending', last_status_code: null });
    expect(row.last_error).toMatch(/loopback or private address/);
    expect(receiver.received).toEqual([]);
    const log = await http(t.url, 'GET', `/webhooks/${id}/deliveries`, { token: user.token });
    expect(log.body.deliveries[0]).toMatchObject({ event: 'ping', lastStatusCode: null });
  });
});
