import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { Test } from '@nestjs/testing';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runRotation } from '../scripts/rotate-tokens';
import { loadConfig } from '../src/config/config';
import { ConfigModule } from '../src/config/config.module';
import { CryptoModule } from '../src/infrastructure/crypto/crypto.module';
import { generateKeyringEntry } from '../src/config/keyring';
import { TokenCipher, TokenDecryptionError } from '../src/infrastructure/crypto/token-cipher';
import { TokenRotation, type RotationProgress } from '../src/infrastructure/crypto/token-rotation';
import {
  TokenKeyError,
  TokenVault,
  type StoreTokenInput,
} from '../src/infrastructure/crypto/token-vault';
import {
  createDatabase,
  type DatabaseHandle,
  type Db,
} from '../src/infrastructure/database/database';
import { DatabaseModule } from '../src/infrastructure/database/database.module';
import { createTestDatabase, type TestDatabase } from './helpers/database';

const k1 = generateKeyringEntry(1);
const k2 = generateKeyringEntry(2);
const k3 = generateKeyringEntry(3);

let database: TestDatabase;
let handle: DatabaseHandle;
let db: Db;
let userId: string;
let dataDir: string;

const vaultWith = (keys: string) => new TokenVault(db, TokenCipher.fromKeyString(keys));
const rotationWith = (keys: string) => new TokenRotation(db, TokenCipher.fromKeyString(keys));

function configWith(keys: string) {
  return loadConfig({
    NODE_ENV: 'test',
    DATA_DIR: dataDir,
    DATABASE_URL: database.url,
    JWT_SECRET: 'test-secret-test-secret-test-secret-0123456789',
    TOKEN_ENCRYPTION_KEY: keys,
    JOBS_ENABLED: 'false',
  });
}

async function newAccount(): Promise<string> {
  const row = await db.one<{ id: string }>(
    `INSERT INTO client_accounts (user_id, platform, platform_account_id, username)
     VALUES ($1, 'instagram', $2, $3) RETURNING id`,
    [
      userId,
      `1784${Date.now()}${Math.floor(Math.random() * 1e9)}`,
      `seller_${randomUUID().slice(0, 8)}`,
    ],
  );
  return row.id;
}

function tokenInput(overrides: Partial<StoreTokenInput> = {}): StoreTokenInput {
  return {
    accessToken: `IGAA${randomUUID().replaceAll('-', '')}secret`,
    tokenType: 'long_lived',
    issuedAt: new Date('2030-01-01T00:00:00.000Z'),
    expiresAt: new Date('2030-03-02T00:00:00.000Z'),
    scopes: ['instagram_business_basic', 'instagram_business_manage_messages'],
    ...overrides,
  };
}

/** `count` accounts with a token stored under `keys`; returns account id → plaintext token. */
async function seed(count: number, keys: string): Promise<Map<string, string>> {
  const vault = vaultWith(keys);
  const tokens = new Map<string, string>();
  for (let i = 0; i < count; i++) {
    const accountId = await newAccount();
    const input = tokenInput();
    await vault.store(accountId, input);
    tokens.set(accountId, input.accessToken);
  }
  return tokens;
}

async function keyVersions(): Promise<number[]> {
  const rows = await db.any<{ key_version: number }>(
    'SELECT key_version FROM account_tokens ORDER BY key_version',
  );
  return rows.map((r) => r.key_version);
}

async function expectAllDecrypt(keys: string, tokens: Map<string, string>): Promise<void> {
  const vault = vaultWith(keys);
  for (const [accountId, accessToken] of tokens) {
    expect((await vault.read(accountId))?.accessToken).toBe(accessToken);
  }
}

beforeAll(async () => {
  database = await createTestDatabase();
  handle = createDatabase(database.url, 4, () => undefined);
  db = handle.db;
  dataDir = mkdtempSync(join(tmpdir(), 'ssell-token-vault-'));
  const user = await db.one<{ id: string }>(
    `INSERT INTO users (email, password_hash) VALUES ($1, 'scrypt$fixture') RETURNING id`,
    [`vault-${randomUUID()}@example.com`],
  );
  userId = user.id;
});

afterAll(async () => {
  await handle?.close();
  await database?.drop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

beforeEach(async () => {
  await db.none('DELETE FROM account_tokens');
});

describe('TokenVault: store, read, metadata, destroy', () => {
  it('round-trips a token with its metadata', async () => {
    const vault = vaultWith(k1);
    const accountId = await newAccount();
    const input = tokenInput();
    const stored = await vault.store(accountId, input);
    const expected = {
      tokenType: 'long_lived',
      issuedAt: input.issuedAt,
      expiresAt: input.expiresAt,
      lastRefreshedAt: null,
      scopes: input.scopes,
      keyVersion: 1,
    };
    expect(stored).toEqual(expected);
    expect(await vault.read(accountId)).toEqual({ accessToken: input.accessToken, ...expected });
    expect(await vault.metadata(accountId)).toEqual(expected);
    // The id is bound in one canonical form: upper-case input names the same token.
    expect((await vault.read(accountId.toUpperCase()))?.accessToken).toBe(input.accessToken);
  });

  it('defaults issuedAt to now and accepts a token without expiry', async () => {
    const vault = vaultWith(k1);
    const accountId = await newAccount();
    const before = Date.now();
    await vault.store(accountId, tokenInput({ issuedAt: undefined, expiresAt: null, scopes: [] }));
    const read = await vault.read(accountId);
    expect(read?.expiresAt).toBeNull();
    expect(read?.scopes).toEqual([]);
    expect(Math.abs(read!.issuedAt.getTime() - before)).toBeLessThan(60_000);
  });

  it('returns null for an account without a token', async () => {
    const vault = vaultWith(k1);
    const accountId = await newAccount();
    expect(await vault.read(accountId)).toBeNull();
    expect(await vault.metadata(accountId)).toBeNull();
    expect(await vault.read(randomUUID())).toBeNull();
  });

  it('stores only ciphertext: the plaintext appears nowhere in the row', async () => {
    const vault = vaultWith(k1);
    const accountId = await newAccount();
    const input = tokenInput();
    await vault.store(accountId, input);
    const row = await db.one<{ ciphertext: Buffer; iv: Buffer; auth_tag: Buffer; text: string }>(
      `SELECT ciphertext, iv, auth_tag, t::text AS text FROM account_tokens t WHERE account_id = $1`,
      [accountId],
    );
    expect(row.iv).toHaveLength(12);
    expect(row.auth_tag).toHaveLength(16);
    expect(row.ciphertext.length).toBe(Buffer.byteLength(input.accessToken));
    expect(row.ciphertext.includes(Buffer.from(input.accessToken, 'utf8'))).toBe(false);
    expect(row.ciphertext.includes(Buffer.from(input.accessToken.slice(4, 20), 'utf8'))).toBe(
      false,
    );
    expect(row.text).not.toContain(input.accessToken);
    expect(row.text).not.toContain(Buffer.from(input.accessToken).toString('hex'));
  });

  it('upserts: a second store replaces the token and sets lastRefreshedAt', async () => {
    const vault = vaultWith(k1);
    const accountId = await newAccount();
    await vault.store(accountId, tokenInput({ tokenType: 'short_lived' }));
    const first = await db.one<{ iv: Buffer }>(
      'SELECT iv FROM account_tokens WHERE account_id = $1',
      [accountId],
    );
    const replacement = tokenInput({ scopes: ['instagram_business_basic'], expiresAt: null });
    const stored = await vault.store(accountId, replacement);
    expect(stored.lastRefreshedAt).toBeInstanceOf(Date);
    const read = await vault.read(accountId);
    expect(read).toMatchObject({
      accessToken: replacement.accessToken,
      tokenType: 'long_lived',
      expiresAt: null,
      scopes: ['instagram_business_basic'],
      lastRefreshedAt: stored.lastRefreshedAt,
    });
    const rows = await db.any<{ iv: Buffer }>(
      'SELECT iv FROM account_tokens WHERE account_id = $1',
      [accountId],
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]!.iv.equals(first.iv)).toBe(false);
  });

  it('refuses a ciphertext copied onto another account', async () => {
    const vault = vaultWith(k1);
    const [victim, attacker] = [await newAccount(), await newAccount()];
    const victimInput = tokenInput();
    await vault.store(victim, victimInput);
    await vault.store(attacker, tokenInput());
    await db.none(
      `UPDATE account_tokens AS a
       SET ciphertext = v.ciphertext, iv = v.iv, auth_tag = v.auth_tag, key_version = v.key_version
       FROM account_tokens AS v
       WHERE a.account_id = $1 AND v.account_id = $2`,
      [attacker, victim],
    );
    const error = await vault.read(attacker).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TokenDecryptionError);
    expect((error as TokenDecryptionError).message).toContain(attacker);
    expect((error as TokenDecryptionError).message).not.toContain(victimInput.accessToken);
    expect((await vault.read(victim))?.accessToken).toBe(victimInput.accessToken);
  });

  it('destroy deletes the token and says whether there was one', async () => {
    const vault = vaultWith(k1);
    const accountId = await newAccount();
    await vault.store(accountId, tokenInput());
    expect(await vault.destroy(accountId)).toBe(true);
    expect(await vault.read(accountId)).toBeNull();
    expect(await vault.destroy(accountId)).toBe(false);
  });

  it('loses the token with its account (ON DELETE CASCADE)', async () => {
    const vault = vaultWith(k1);
    const accountId = await newAccount();
    await vault.store(accountId, tokenInput());
    await db.none('DELETE FROM client_accounts WHERE id = $1', [accountId]);
    const { n } = await db.one<{ n: number }>(
      'SELECT count(*)::int AS n FROM account_tokens WHERE account_id = $1',
      [accountId],
    );
    expect(n).toBe(0);
  });

  it("takes part in the caller's transaction", async () => {
    const vault = vaultWith(k1);
    const accountId = await newAccount();
    const input = tokenInput();
    await expect(
      db.tx(async (t) => {
        await vault.store(accountId, input, t);
        expect((await vault.read(accountId, t))?.accessToken).toBe(input.accessToken);
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    expect(await vault.read(accountId)).toBeNull();
    await db.tx(async (t) => {
      await vault.store(accountId, input, t);
      expect(await vault.destroy(accountId, t)).toBe(true);
    });
    expect(await vault.read(accountId)).toBeNull();
  });

  it('fails a write for an unknown account with no sealed values on the error', async () => {
    const error = await vaultWith(k1)
      .store(randomUUID(), tokenInput())
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: '23503', query: 'account-tokens-upsert' });
    expect(inspect(error, { depth: 10 })).not.toMatch(/<Buffer/);
    expect(JSON.stringify(error)).not.toMatch(/"type":"Buffer"/);
  });

  it('rejects bad input without echoing the token', async () => {
    const vault = vaultWith(k1);
    const accountId = await newAccount();
    await expect(vault.store('not-a-uuid', tokenInput())).rejects.toThrow(TypeError);
    await expect(vault.store(accountId, tokenInput({ accessToken: '' }))).rejects.toThrow(
      /accessToken/,
    );
    const input = tokenInput({ tokenType: 'forever' as never });
    const error = await vault.store(accountId, input).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).toMatch(/tokenType/);
    expect((error as Error).message).not.toContain(input.accessToken);
    await expect(vault.store(accountId, tokenInput({ expiresAt: new Date(NaN) }))).rejects.toThrow(
      /expiresAt/,
    );
  });
});

describe('TokenVault.verifyKeys', () => {
  it('passes on an empty table and with the right keyring', async () => {
    await expect(vaultWith(k1).verifyKeys()).resolves.toBeUndefined();
    await seed(2, k1);
    await seed(1, `${k2},${k1}`);
    await expect(vaultWith(`${k2},${k1}`).verifyKeys()).resolves.toBeUndefined();
    await expect(vaultWith(`${k3},${k2},${k1}`).verifyKeys()).resolves.toBeUndefined();
  });

  it('fails clearly when the keyring lacks a stored version', async () => {
    await seed(2, k1);
    await expect(vaultWith(k2).verifyKeys()).rejects.toThrow(TokenKeyError);
    await expect(vaultWith(k2).verifyKeys()).rejects.toThrow(
      'account_tokens holds tokens encrypted with key v1, which TOKEN_ENCRYPTION_KEY does not contain',
    );
    await seed(1, k2);
    await expect(vaultWith(k3).verifyKeys()).rejects.toThrow(
      /encrypted with keys v1 and v2, which TOKEN_ENCRYPTION_KEY does not contain/,
    );
  });

  it('fails clearly with a wrong key of the same version', async () => {
    await seed(2, k1);
    const wrong = generateKeyringEntry(1);
    const error = await vaultWith(wrong)
      .verifyKeys()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TokenKeyError);
    expect((error as Error).message).toBe(
      "TOKEN_ENCRYPTION_KEY's key v1 does not decrypt stored tokens: wrong key?",
    );
  });

  it('runs at boot through CryptoModule, and a wrong key stops the boot', async () => {
    await seed(1, k1);
    const boot = async (keys: string) => {
      const moduleHandle = createDatabase(database.url, 1, () => undefined);
      const moduleRef = await Test.createTestingModule({
        imports: [
          ConfigModule.forRoot(configWith(keys)),
          DatabaseModule.forRoot(moduleHandle),
          CryptoModule,
        ],
      }).compile();
      try {
        await moduleRef.init();
        return moduleRef.get(TokenVault);
      } finally {
        // A boot that failed may fail to close too; the pool must go either way, or the next
        // boot opens a second pool for the same connection.
        await moduleRef.close().finally(() => moduleHandle.close());
      }
    };
    expect(await boot(`${k2},${k1}`)).toBeInstanceOf(TokenVault);
    await expect(boot(k2)).rejects.toThrow(TokenKeyError);
    await expect(boot(generateKeyringEntry(1))).rejects.toThrow(/wrong key\?/);
  });
});

describe('TokenRotation.rotate', () => {
  it('moves 7 rows from v1 to v2 in batches of 3, then has nothing left to do', async () => {
    const tokens = await seed(7, k1);
    const progress: RotationProgress[] = [];
    const result = await rotationWith(`${k2},${k1}`).rotate({
      batchSize: 3,
      onProgress: (p) => progress.push(p),
    });
    expect(result).toEqual({ total: 7, rotated: 7, remaining: 0, failed: 0, failures: [] });
    expect(progress.map((p) => p.processed)).toEqual([0, 3, 6, 7]);
    expect(progress.at(-1)).toEqual({ total: 7, processed: 7, rotated: 7, failed: 0 });
    expect(await keyVersions()).toEqual(Array(7).fill(2));
    await expectAllDecrypt(`${k2},${k1}`, tokens);
    await expectAllDecrypt(k2, tokens);

    const again = await rotationWith(`${k2},${k1}`).rotate({ batchSize: 3 });
    expect(again).toEqual({ total: 0, rotated: 0, remaining: 0, failed: 0, failures: [] });
  });

  it('keeps metadata and lastRefreshedAt as they were', async () => {
    const tokens = await seed(1, k1);
    const [accountId] = [...tokens.keys()];
    const before = await vaultWith(k1).metadata(accountId!);
    await rotationWith(`${k2},${k1}`).rotate({ batchSize: 10 });
    expect(await vaultWith(k2).metadata(accountId!)).toEqual({ ...before, keyVersion: 2 });
  });

  it('resumes after an interruption', async () => {
    const tokens = await seed(7, k1);
    const rotation = rotationWith(`${k2},${k1}`);
    await expect(
      rotation.rotate({
        batchSize: 3,
        onProgress: (p) => {
          if (p.processed === 3) throw new Error('interrupted');
        },
      }),
    ).rejects.toThrow('interrupted');
    expect((await keyVersions()).filter((v) => v === 2)).toHaveLength(3);
    const resumed = await rotation.rotate({ batchSize: 3 });
    expect(resumed).toMatchObject({ total: 4, rotated: 4, remaining: 0 });
    await expectAllDecrypt(k2, tokens);
  });

  it('rotates every old version to the current one', async () => {
    const tokens = new Map([...(await seed(3, k1)), ...(await seed(3, `${k2},${k1}`))]);
    const result = await rotationWith(`${k3},${k2},${k1}`).rotate({ batchSize: 4 });
    expect(result).toMatchObject({ total: 6, rotated: 6, remaining: 0 });
    await expectAllDecrypt(k3, tokens);
  });

  it('leaves a damaged row as it is, reports it and rotates the rest', async () => {
    const tokens = await seed(4, k1);
    const [victim, damaged] = [...tokens.keys()];
    await db.none(
      `UPDATE account_tokens AS a SET ciphertext = v.ciphertext, iv = v.iv, auth_tag = v.auth_tag
       FROM account_tokens AS v WHERE a.account_id = $1 AND v.account_id = $2`,
      [damaged, victim],
    );
    const result = await rotationWith(`${k2},${k1}`).rotate({ batchSize: 2 });
    expect(result).toEqual({
      total: 4,
      rotated: 3,
      remaining: 1,
      failed: 1,
      failures: [{ accountId: damaged, keyVersion: 1, reason: 'authentication_failed' }],
    });
  });

  it('skips rows another transaction holds, and a re-run finishes them', async () => {
    const tokens = await seed(5, k1);
    const [locked] = [...tokens.keys()];
    const rotation = rotationWith(`${k2},${k1}`);
    await db.tx(async (t) => {
      await t.one('SELECT account_id FROM account_tokens WHERE account_id = $1 FOR UPDATE', [
        locked,
      ]);
      const result = await rotation.rotate({ batchSize: 2 });
      expect(result).toMatchObject({ total: 5, rotated: 4, remaining: 1, failed: 0 });
    });
    expect(await rotation.rotate({ batchSize: 2 })).toMatchObject({
      total: 1,
      rotated: 1,
      remaining: 0,
    });
    await expectAllDecrypt(k2, tokens);
  });

  it('refuses to start with a keyring that cannot read the stored tokens', async () => {
    await seed(2, k1);
    await expect(rotationWith(k2).rotate({ batchSize: 2 })).rejects.toThrow(TokenKeyError);
    await expect(rotationWith(generateKeyringEntry(1)).rotate()).rejects.toThrow(/wrong key\?/);
    expect(await keyVersions()).toEqual([1, 1]);
  });

  it('rejects a batch size out of range', async () => {
    await expect(rotationWith(k1).rotate({ batchSize: 0 })).rejects.toThrow(RangeError);
    await expect(rotationWith(k1).rotate({ batchSize: 2.5 })).rejects.toThrow(RangeError);
  });
});

describe('tokens:rotate (runRotation)', () => {
  it('migrates, rotates with progress, and leaves every token readable with the new key alone', async () => {
    const tokens = new Map([...(await seed(4, k1)), ...(await seed(2, `${k2},${k1}`))]);
    const progress: number[] = [];
    const logs: string[] = [];
    const result = await runRotation(configWith(`${k3},${k2},${k1}`), {
      batchSize: 3,
      onProgress: (p) => progress.push(p.processed),
      log: (m) => logs.push(m),
    });
    expect(result).toEqual({ total: 6, rotated: 6, remaining: 0, failed: 0, failures: [] });
    expect(progress).toEqual([0, 3, 6]);
    expect(await keyVersions()).toEqual(Array(6).fill(3));
    await expectAllDecrypt(k3, tokens);
    for (const token of tokens.values()) expect(logs.join('\n')).not.toContain(token);

    const again = await runRotation(configWith(`${k3},${k2},${k1}`), { batchSize: 3 });
    expect(again).toMatchObject({ total: 0, rotated: 0, remaining: 0 });
  });

  it('fails with the key error when the keyring lacks a stored version', async () => {
    await seed(1, k1);
    await expect(runRotation(configWith(k2), { batchSize: 3 })).rejects.toThrow(
      /encrypted with key v1, which TOKEN_ENCRYPTION_KEY does not contain/,
    );
  });
});
