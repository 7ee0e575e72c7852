/**
 * The spec's testing procedure (IG-002, "Testing Procedure", steps 1 to 12), as one readable run
 * against the real service, real PostgreSQL and the Instagram emulator over sockets.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../emulator/emulator';
import type { TestApp } from './helpers/app';
import { http, registerUser, type HttpResult, type RegisteredUser } from './helpers/http';
import {
  connectViaOAuth,
  startInstagramTestApp,
  type InstagramTestApp,
} from './helpers/instagram-fixtures';

const PUBLIC_URL = 'http://ssell.test';

let app: InstagramTestApp;
let emu: RunningEmulator;
let t: TestApp;
const responses: string[] = [];
const codes: string[] = [];

function record(res: HttpResult): HttpResult {
  responses.push(res.text, JSON.stringify([...res.headers]));
  return res;
}

async function call(method: string, path: string, options: Parameters<typeof http>[3] = {}) {
  return record(await http(t.url, method, path, options));
}

/**
 * IG-001's flow: authorize, consent in the (emulated) Instagram page, callback. The callback comes
 * from the same browser: it carries the `ssell_oauth` cookie that authorize set. Each hop is
 * checked (redirects to the consent page, back to PUBLIC_URL's callback, on to PUBLIC_URL's page
 * with `?connected=<id>`); the new account's id.
 */
async function connect(user: RegisteredUser, username: string): Promise<string> {
  const connected = await connectViaOAuth(t, user, username, {
    publicUrl: PUBLIC_URL,
    onResponse: record,
  });
  codes.push(connected.code);
  return connected.accountId;
}

beforeAll(async () => {
  app = await startInstagramTestApp({ PUBLIC_URL, INSTAGRAM_TIMEOUT_MS: '2000' });
  ({ t, emu } = app);
});
afterAll(async () => {
  await app.close();
});

describe('IG-002 testing procedure', () => {
  it('steps 1 to 12', async () => {
    const owner = await registerUser(t.url, { name: 'Owner' });
    const other = await registerUser(t.url, { name: 'Other' });

    // 1. Create account via OAuth (IG-001): the callback creates it.
    const accountId = await connect(owner, 'metricsaurus');
    const otherAccountId = await connect(other, 'lena.bakes');

    // 2. List all accounts for the user: 200 with an array of accounts.
    const list = await call('GET', '/instagram/accounts', {
      token: owner.token,
      cookie: undefined,
    });
    expect(list.status).toBe(200);
    expect(list.body.total).toBe(1);
    expect(list.body.accounts.map((a: { id: string }) => a.id)).toEqual([accountId]);
    expect(list.body.nextCursor).toBeNull();
    // The spec's example uses both the Bearer token and the session cookie: either works.
    const viaCookie = await call('GET', '/instagram/accounts', { cookie: owner.cookie });
    expect(viaCookie.body.accounts).toEqual(list.body.accounts);

    // 3. Get single account: 200 with details (the spec's response fields).
    const single = await call('GET', `/instagram/accounts/${accountId}`, { token: owner.token });
    expect(single.status).toBe(200);
    expect(single.body).toMatchObject({
      id: accountId,
      platform: 'instagram',
      username: 'metricsaurus',
      status: 'active',
      accountType: 'business',
    });
    for (const field of [
      'displayName',
      'profilePictureUrl',
      'followerCount',
      'followingCount',
      'mediaCount',
      'createdAt',
      'lastSyncAt',
      'tokenExpiresAt',
    ]) {
      expect(single.body).toHaveProperty(field);
    }

    // 4. Another user's account: 403 Forbidden.
    const foreign = await call('GET', `/instagram/accounts/${otherAccountId}`, {
      token: owner.token,
    });
    expect(foreign.status).toBe(403);

    // 5. Sync account metadata: 200 with updated data (the counts changed at Instagram).
    emu.state.updateAccount('metricsaurus', { followersCount: 4321, mediaCount: 77 });
    const before = await t.db.one('SELECT updated_at FROM client_accounts WHERE id = $1', [
      accountId,
    ]);
    const synced = await call('POST', `/instagram/accounts/${accountId}/sync`, {
      token: owner.token,
    });
    expect(synced.status).toBe(200);
    expect(synced.body).toMatchObject({
      id: accountId,
      followerCount: 4321,
      mediaCount: 77,
      status: 'active',
    });
    expect(synced.body.lastSyncAt).toEqual(expect.any(String));

    // 6. Refresh account status: 200 with "active" (or "token_expired").
    const status = await call('POST', `/instagram/accounts/${accountId}/refresh-status`, {
      token: owner.token,
    });
    expect(status.status).toBe(200);
    expect(status.body).toEqual({ status: 'active' });

    // 7. Update account: 200 with the updated account.
    const patched = await call('PATCH', `/instagram/accounts/${accountId}`, {
      token: owner.token,
      body: { displayName: 'Updated Name' },
    });
    expect(patched.status).toBe(200);
    expect(patched.body.displayName).toBe('Updated Name');
    // updated_at is moved by the trigger.
    const after = await t.db.one('SELECT updated_at FROM client_accounts WHERE id = $1', [
      accountId,
    ]);
    expect(after.updated_at.getTime()).toBeGreaterThan(before.updated_at.getTime());

    // 8. Disconnect account: 204 No Content.
    const deleted = await call('DELETE', `/instagram/accounts/${accountId}`, {
      token: owner.token,
    });
    expect(deleted.status).toBe(204);
    expect(
      await t.db.oneOrNone('SELECT 1 FROM account_tokens WHERE account_id = $1', [accountId]),
    ).toBeNull();

    // 9. Verify account deleted: 404 Not Found.
    expect(
      (await call('GET', `/instagram/accounts/${accountId}`, { token: owner.token })).status,
    ).toBe(404);

    // 10. Check the database directly.
    const rows = await t.db.manyOrNone(
      'SELECT id, user_id, platform_account_id FROM client_accounts',
    );
    expect(rows.map((r) => r.id)).toEqual([otherAccountId]);

    // 11. Database constraints: a duplicate (platform, platform_account_id) is refused.
    const existing = await t.db.one(
      'SELECT platform, platform_account_id FROM client_accounts WHERE id = $1',
      [otherAccountId],
    );
    await expect(
      t.db.none(
        `INSERT INTO client_accounts (user_id, platform, platform_account_id, username) VALUES ($1, $2, $3, 'dup')`,
        [owner.userId, existing.platform, existing.platform_account_id],
      ),
    ).rejects.toMatchObject({ code: '23505', constraint: 'unique_platform_account' });

    // 12. Cascade delete: deleting the user deletes their accounts (and their tokens).
    await t.db.none('DELETE FROM users WHERE id = $1', [other.userId]);
    expect(
      await t.db.oneOrNone('SELECT 1 FROM client_accounts WHERE id = $1', [otherAccountId]),
    ).toBeNull();
    expect(
      await t.db.oneOrNone('SELECT 1 FROM account_tokens WHERE account_id = $1', [otherAccountId]),
    ).toBeNull();

    // And the indexes the spec asks for exist.
    const indexes = (
      await t.db.many("SELECT indexname FROM pg_indexes WHERE tablename = 'client_accounts'")
    ).map((r) => r.indexname);
    expect(indexes).toEqual(
      expect.arrayContaining([
        'idx_client_accounts_user_id',
        'idx_client_accounts_platform',
        'idx_client_accounts_status',
        'idx_client_accounts_token_expires',
        'unique_platform_account',
      ]),
    );
  });

  it('no response and no log line carries a token or code the emulator issued', () => {
    const issued = [...emu.state.tokens.keys()];
    expect(issued.length).toBeGreaterThanOrEqual(4);
    const haystack = [...responses, ...t.logs].join('\n');
    for (const secret of [...issued, ...codes]) expect(haystack).not.toContain(secret);
    expect(haystack).not.toContain(emu.appSecret);
  });
});
