/**
 * Meta's deauthorize and data-deletion callbacks over sockets: accounts connected through the real
 * OAuth flow against the emulator, callbacks signed with the emulator's app secret as Meta would.
 */
import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../emulator/emulator';
import type { TestApp } from './helpers/app';
import { http, registerUser, type HttpResult } from './helpers/http';
import {
  connectViaOAuth,
  startInstagramTestApp,
  type InstagramTestApp,
} from './helpers/instagram-fixtures';

const PUBLIC_URL = 'http://ssell.test';

let app: InstagramTestApp;
let emu: RunningEmulator;
let t: TestApp;

/** Every signature sent, to check none of them reaches a log line. */
const signatures: string[] = [];

/** `base64url(HMAC-SHA256(secret, encodedPayload)).encodedPayload`, as Meta signs. */
function signedRequest(payload: Record<string, unknown>, secret = emu.appSecret): string {
  const encoded = Buffer.from(JSON.stringify(payload)).toString('base64url');
  const signature = createHmac('sha256', secret).update(encoded).digest('base64url');
  signatures.push(signature);
  return `${signature}.${encoded}`;
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

function deauthPayload(userId: string, issuedAt = nowSeconds()) {
  return { user_id: userId, algorithm: 'HMAC-SHA256', issued_at: issuedAt };
}

function deletionPayload(userId: string, issued = nowSeconds()) {
  return { algorithm: 'HMAC-SHA256', expires: issued + 3600, issued_at: issued, user_id: userId };
}

async function post(path: string, form: string): Promise<HttpResult> {
  return http(t.url, 'POST', path, {
    rawBody: form,
    contentType: 'application/x-www-form-urlencoded',
  });
}

const form = (signed: string) => `signed_request=${encodeURIComponent(signed)}`;

/** Everything the callbacks may touch for one account, to compare before and after. */
async function snapshot(accountId: string) {
  return t.db.one(
    `SELECT (SELECT row_to_json(a)::text FROM client_accounts a WHERE id = $1) AS account,
            (SELECT count(*)::int FROM account_tokens WHERE account_id = $1) AS tokens,
            (SELECT count(*)::int FROM account_events WHERE account_id = $1) AS events,
            (SELECT count(*)::int FROM data_deletion_requests) AS deletions`,
    [accountId],
  );
}

/** How many rows of `table` (tokens or events) the account has. */
async function rowsOf(table: 'account_tokens' | 'account_events', accountId: string) {
  const sql = `SELECT count(*)::int AS n FROM ${table} WHERE account_id = $1`;
  return (await t.db.one<{ n: number }>(sql, [accountId])).n;
}

const ig = (username: string) => emu.state.findAccount(username)!;

beforeAll(async () => {
  app = await startInstagramTestApp({ PUBLIC_URL, INSTAGRAM_TIMEOUT_MS: '2000' });
  ({ t, emu } = app);
  for (const username of [
    'deauth.one',
    'deauth.two',
    'deauth.late',
    'bystander',
    'erase.me',
    'stale.one',
    'replay.me',
    'late.delivery',
  ]) {
    emu.state.createAccount({ username });
  }
});

afterAll(async () => {
  await app?.close();
});

describe('POST /instagram/webhooks/deauthorize', () => {
  it('disconnects the account named by its app-scoped id: token gone, status_changed event', async () => {
    const user = await registerUser(t.url);
    const { accountId } = await connectViaOAuth(t, user, 'deauth.one');
    const { accountId: bystanderId } = await connectViaOAuth(t, user, 'bystander');
    const bystanderBefore = await snapshot(bystanderId);

    const res = await post(
      '/instagram/webhooks/deauthorize',
      form(signedRequest(deauthPayload(ig('deauth.one').appScopedId))),
    );
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ success: true });

    const row = await t.db.one('SELECT status, metadata FROM client_accounts WHERE id = $1', [
      accountId,
    ]);
    expect(row.status).toBe('disconnected');
    expect(row.metadata.errorDetails).toMatchObject({ code: 'DEAUTHORIZED' });
    expect(await rowsOf('account_tokens', accountId)).toBe(0);
    const events = await t.db.manyOrNone(
      `SELECT type, data FROM account_events WHERE account_id = $1 ORDER BY created_at, id`,
      [accountId],
    );
    expect(events.map((e) => e.type)).toEqual(['connected', 'status_changed']);
    expect(events[1].data).toMatchObject({
      from: 'active',
      to: 'disconnected',
      code: 'DEAUTHORIZED',
      reason: 'deauthorized',
    });
    // Nobody else is touched.
    expect(await snapshot(bystanderId)).toEqual(bystanderBefore);

    // The accounts page says why.
    const account = await http(t.url, 'GET', `/instagram/accounts/${accountId}`, {
      token: user.token,
    });
    expect(account.body.status).toBe('disconnected');

    // Meta retrying the same callback: still 200, no second event.
    const again = await post(
      '/instagram/webhooks/deauthorize',
      form(signedRequest(deauthPayload(ig('deauth.one').appScopedId))),
    );
    expect(again.status).toBe(200);
    expect(await rowsOf('account_events', accountId)).toBe(2);
  });

  it('matches the professional id too, and accepts fields Meta may add', async () => {
    const user = await registerUser(t.url);
    const { accountId } = await connectViaOAuth(t, user, 'deauth.two');
    const res = await post(
      '/instagram/webhooks/deauthorize',
      `${form(signedRequest(deauthPayload(ig('deauth.two').userId)))}&something_new=1`,
    );
    expect(res.status).toBe(200);
    const row = await t.db.one('SELECT status FROM client_accounts WHERE id = $1', [accountId]);
    expect(row.status).toBe('disconnected');
  });

  it('answers 200 when nobody matches (Meta only needs the acknowledgement)', async () => {
    const res = await post(
      '/instagram/webhooks/deauthorize',
      form(signedRequest(deauthPayload('12345678901234567'))),
    );
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ success: true });
  });

  it('leaves an account connected when the deauthorize predates its current token', async () => {
    const user = await registerUser(t.url);
    const { accountId } = await connectViaOAuth(t, user, 'deauth.late');
    // Issued an hour before this connect: about an earlier grant, delivered late or replayed.
    const res = await post(
      '/instagram/webhooks/deauthorize',
      form(signedRequest(deauthPayload(ig('deauth.late').appScopedId, nowSeconds() - 3600))),
    );
    expect(res.status).toBe(200);
    const row = await t.db.one('SELECT status FROM client_accounts WHERE id = $1', [accountId]);
    expect(row.status).toBe('active');
    expect(await rowsOf('account_tokens', accountId)).toBe(1);
  });

  it('refuses a bad, malformed or missing signed_request with 400 and changes nothing', async () => {
    const user = await registerUser(t.url);
    const { accountId } = await connectViaOAuth(t, user, 'erase.me');
    const before = await snapshot(accountId);
    const appScopedId = ig('erase.me').appScopedId;
    const payload = deauthPayload(appScopedId);
    const valid = signedRequest(payload);
    const [signature, encoded] = valid.split('.') as [string, string];
    const tampered = Buffer.from(JSON.stringify({ ...payload, user_id: '1' })).toString(
      'base64url',
    );

    const bodies: Array<[string, string]> = [
      ['another secret', form(signedRequest(payload, 'not-the-app-secret'))],
      ['tampered payload', form(`${signature}.${tampered}`)],
      ['wrong algorithm', form(signedRequest({ ...payload, algorithm: 'HMAC-SHA1' }))],
      ['no dot', form(`${signature}${encoded}`)],
      ['not base64url', form(`${signature}.${encoded}!`)],
      ['not JSON', form(signedRequest(payload).replace(/\..*$/, '.bm90IGpzb24'))],
      ['empty value', 'signed_request='],
      ['missing field', 'something_else=1'],
      ['empty body', ''],
      ['repeated field', `${form(valid)}&${form(valid)}`],
    ];
    for (const [what, body] of bodies) {
      const res = await post('/instagram/webhooks/deauthorize', body);
      expect({ what, status: res.status }).toEqual({ what, status: 400 });
      expect(res.body).toMatchObject({ statusCode: 400, error: 'Bad Request' });
      expect(res.text).not.toContain(signature);
    }
    const noBody = await http(t.url, 'POST', '/instagram/webhooks/deauthorize');
    expect(noBody.status).toBe(400);
    expect(await snapshot(accountId)).toEqual(before);

    // JSON bodies work as well as forms.
    const json = await http(t.url, 'POST', '/instagram/webhooks/deauthorize', {
      body: { signed_request: valid },
    });
    expect(json.status).toBe(200);
  });
});

describe('POST /instagram/webhooks/data-deletion', () => {
  it('deletes the accounts, their tokens and events, and reports completion', async () => {
    const user = await registerUser(t.url);
    emu.state.createAccount({ username: 'forget.me' });
    const { accountId } = await connectViaOAuth(t, user, 'forget.me');
    // A manual sync leaves a metric snapshot and more events behind.
    const sync = await http(t.url, 'POST', `/instagram/accounts/${accountId}/sync`, {
      token: user.token,
    });
    expect(sync.status).toBe(200);
    const counts = async () =>
      t.db.one(
        `SELECT (SELECT count(*)::int FROM client_accounts WHERE id = $1) AS accounts,
                (SELECT count(*)::int FROM account_tokens WHERE account_id = $1) AS tokens,
                (SELECT count(*)::int FROM account_metric_snapshots WHERE account_id = $1) AS snapshots,
                (SELECT count(*)::int FROM account_events WHERE account_id = $1) AS events`,
        [accountId],
      );
    expect(await counts()).toEqual({ accounts: 1, tokens: 1, snapshots: 1, events: 2 });

    const res = await post(
      '/instagram/webhooks/data-deletion',
      form(signedRequest(deletionPayload(ig('forget.me').appScopedId))),
    );
    expect(res.status).toBe(200);
    expect(Object.keys(res.body).sort()).toEqual(['confirmation_code', 'url']);
    const code: string = res.body.confirmation_code;
    expect(code).toMatch(/^[A-Za-z0-9]{16,}$/);
    expect(res.body.url).toBe(`${PUBLIC_URL}/instagram/data-deletion/${code}`);

    expect(await counts()).toEqual({ accounts: 0, tokens: 0, snapshots: 0, events: 0 });

    const status = await http(t.url, 'GET', new URL(res.body.url).pathname);
    expect(status.status).toBe(200);
    expect(status.body).toEqual({
      confirmation_code: code,
      status: 'completed',
      accounts_deleted: 1,
      requested_at: expect.any(String),
      completed_at: expect.any(String),
    });
    expect(new Date(status.body.completed_at).getTime()).toBeGreaterThanOrEqual(
      new Date(status.body.requested_at).getTime(),
    );
  });

  it('completes with zero when nothing matches, and refuses bad signatures', async () => {
    const res = await post(
      '/instagram/webhooks/data-deletion',
      form(signedRequest(deletionPayload('98765432109876543'))),
    );
    expect(res.status).toBe(200);
    const status = await http(
      t.url,
      'GET',
      `/instagram/data-deletion/${res.body.confirmation_code}`,
    );
    expect(status.body).toMatchObject({ status: 'completed', accounts_deleted: 0 });

    const before = (await t.db.one('SELECT count(*)::int AS n FROM data_deletion_requests')).n;
    const bad = await post(
      '/instagram/webhooks/data-deletion',
      form(signedRequest(deletionPayload('98765432109876543'), 'wrong-secret')),
    );
    expect(bad.status).toBe(400);
    expect((await t.db.one('SELECT count(*)::int AS n FROM data_deletion_requests')).n).toBe(
      before,
    );
  });
});

describe('freshness and replays', () => {
  it('refuses a stale, future-dated or undated signed_request (400), changing nothing', async () => {
    const user = await registerUser(t.url);
    const { accountId } = await connectViaOAuth(t, user, 'stale.one');
    const before = await snapshot(accountId);
    const id = ig('stale.one').appScopedId;
    const payloads: Array<[string, string, Record<string, unknown>]> = [
      ['issued_at 1', '/instagram/webhooks/deauthorize', deauthPayload(id, 1)],
      [
        '37 hours old',
        '/instagram/webhooks/deauthorize',
        deauthPayload(id, nowSeconds() - 37 * 3600),
      ],
      ['an hour ahead', '/instagram/webhooks/deauthorize', deauthPayload(id, nowSeconds() + 3600)],
      ['undated', '/instagram/webhooks/deauthorize', { user_id: id, algorithm: 'HMAC-SHA256' }],
      ['stale deletion', '/instagram/webhooks/data-deletion', deletionPayload(id, 1)],
    ];
    for (const [what, path, payload] of payloads) {
      const res = await post(path, form(signedRequest(payload)));
      expect({ what, status: res.status }).toEqual({ what, status: 400 });
      expect(res.body.message).toMatch(/issued_at/);
    }
    expect(await snapshot(accountId)).toEqual(before);
  });

  it('a replayed deletion gets the same confirmation code and does not delete the account connected since', async () => {
    const user = await registerUser(t.url);
    const first = await connectViaOAuth(t, user, 'replay.me');
    const signed = signedRequest(deletionPayload(ig('replay.me').appScopedId, nowSeconds() - 60));
    const res = await post('/instagram/webhooks/data-deletion', form(signed));
    expect(res.status).toBe(200);
    const code: string = res.body.confirmation_code;
    expect(await rowsOf('account_tokens', first.accountId)).toBe(0);

    // The person connects the same Instagram account again, then the old request comes back.
    const again = await connectViaOAuth(t, user, 'replay.me');
    const replay = await post('/instagram/webhooks/data-deletion', form(signed));
    expect(replay.status).toBe(200);
    expect(replay.body).toEqual(res.body);
    const row = await t.db.oneOrNone('SELECT status FROM client_accounts WHERE id = $1', [
      again.accountId,
    ]);
    expect(row?.status).toBe('active');
    expect(
      (
        await t.db.one<{ n: number }>(
          'SELECT count(*)::int AS n FROM data_deletion_requests WHERE confirmation_code = $1',
          [code],
        )
      ).n,
    ).toBe(1);
    const status = await http(t.url, 'GET', `/instagram/data-deletion/${code}`);
    expect(status.body).toMatchObject({ status: 'completed', accounts_deleted: 1 });

    // Concurrent deliveries of one new request: one code, one deletion.
    const fresh = signedRequest(deletionPayload(ig('replay.me').appScopedId));
    const answers = await Promise.all(
      [1, 2, 3].map(() => post('/instagram/webhooks/data-deletion', form(fresh))),
    );
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
    expect(new Set(answers.map((a) => a.body.confirmation_code)).size).toBe(1);
    expect(await rowsOf('account_tokens', again.accountId)).toBe(0);
  });

  it('a deletion first delivered after the person connected again keeps that connection', async () => {
    const user = await registerUser(t.url);
    const { accountId } = await connectViaOAuth(t, user, 'late.delivery');
    // Issued an hour ago, before this connect: Meta retried it until now.
    const res = await post(
      '/instagram/webhooks/data-deletion',
      form(signedRequest(deletionPayload(ig('late.delivery').appScopedId, nowSeconds() - 3600))),
    );
    expect(res.status).toBe(200);
    expect(await rowsOf('account_tokens', accountId)).toBe(1);
    const status = await http(
      t.url,
      'GET',
      `/instagram/data-deletion/${res.body.confirmation_code}`,
    );
    expect(status.body).toMatchObject({ status: 'completed', accounts_deleted: 0 });
  });
});

describe('GET /instagram/data-deletion/:code', () => {
  it('is 404 for an unknown code and 400 for a malformed one', async () => {
    const unknown = await http(t.url, 'GET', '/instagram/data-deletion/AbCdEfGhIjKlMnOpQrSt');
    expect(unknown.status).toBe(404);
    expect(unknown.body).toMatchObject({ statusCode: 404, error: 'Not Found' });
    for (const code of ['short', 'has-dashes-in-it-here', 'x'.repeat(65)]) {
      const res = await http(t.url, 'GET', `/instagram/data-deletion/${code}`);
      expect({ code, status: res.status }).toEqual({ code, status: 400 });
    }
  });
});

describe('logs', () => {
  it('never contain a signed_request, token or app secret', () => {
    const secrets = [...signatures, ...emu.state.tokens.keys(), emu.appSecret];
    expect(signatures.length).toBeGreaterThan(10);
    for (const line of t.logs) {
      for (const secret of secrets) {
        if (line.includes(secret)) throw new Error(`a secret leaked into: ${line.slice(0, 300)}`);
      }
    }
  });
});
