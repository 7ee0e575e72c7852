/**
 * Property-based requests over every route of the committed OpenAPI document (docs/openapi.json):
 * generated paths, queries, bodies, content types, origins and credentials (none, a user's Bearer
 * token or cookie, another user's, forged ones), sent one at a time over a socket to the real
 * service. Whatever arrives: never a 5xx; never a stack trace, SQL text, a token or a secret in a
 * reply; every error in the envelope; and when a request is refused (4xx) the database is exactly
 * as it was.
 *
 * FUZZ_RUNS (default 2,000) sets how many requests; FUZZ_SEED replays a run (the seed is printed).
 * The long variant: `FUZZ_RUNS=20000 npx vitest run test/fuzz.test.ts`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { projectRoot } from '../src/common/project-root';
import type { TestApp } from './helpers/app';
import { hashSessionToken, newSessionToken } from '../src/common/auth/session-token';
import { http, registerUser, uniqueEmail, type RegisteredUser } from './helpers/http';
import {
  connectAccount,
  issuedTokens,
  startInstagramTestApp,
  type InstagramTestApp,
} from './helpers/instagram-fixtures';
import { craftJwt } from './helpers/jwt';

const RUNS = Number(process.env.FUZZ_RUNS ?? 2000);
const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : Date.now() % 2_147_483_647;
const PUBLIC_URL = 'http://ssell.fuzz';

interface Operation {
  method: string;
  path: string;
  params: Array<{ name: string; in: 'path' | 'query'; schema: Record<string, unknown> }>;
  body?: { contentTypes: string[]; schema: Schema };
}
interface Schema {
  properties?: Record<string, Record<string, unknown>>;
  required?: string[];
}

const document = JSON.parse(readFileSync(join(projectRoot(), 'docs', 'openapi.json'), 'utf8')) as {
  paths: Record<string, Record<string, any>>;
  components: { schemas: Record<string, Schema> };
};
const operations: Operation[] = Object.entries(document.paths).flatMap(([path, methods]) =>
  Object.entries(methods).map(([method, op]) => {
    const content = op.requestBody?.content as
      Record<string, { schema: { $ref: string } }> | undefined;
    const ref = content ? Object.values(content)[0]!.schema.$ref.split('/').pop()! : undefined;
    return {
      method: method.toUpperCase(),
      path,
      params: (op.parameters ?? []) as Operation['params'],
      ...(content && ref
        ? {
            body: { contentTypes: Object.keys(content), schema: document.components.schemas[ref]! },
          }
        : {}),
    };
  }),
);

let app: InstagramTestApp;
let t: TestApp;
let owner: RegisteredUser;
let other: RegisteredUser;
let othersAccount: string;
/** What no reply may contain. */
let secrets: string[];

beforeAll(async () => {
  app = await startInstagramTestApp({ PUBLIC_URL, CORS_ORIGINS: 'https://partner.fuzz' });
  t = app.t;
  owner = await registerUser(t.url);
  other = await registerUser(t.url);
  for (let i = 0; i < 3; i++)
    accountPool.push((await connectAccount(app, owner.userId)).account.id);
  othersAccount = (await connectAccount(app, other.userId)).account.id;
});
afterAll(async () => {
  await app?.close();
});

/** Every application table, hashed in one statement: equal before and after a refused request. */
const FINGERPRINT = `SELECT md5(coalesce(string_agg(r, '|' ORDER BY r), '')) AS f FROM (
  SELECT 'u' || u::text AS r FROM users u UNION ALL
  SELECT 's' || s::text FROM sessions s UNION ALL
  SELECT 'a' || a::text FROM client_accounts a UNION ALL
  SELECT 't' || k::text FROM account_tokens k UNION ALL
  SELECT 'e' || e::text FROM account_events e UNION ALL
  SELECT 'm' || m::text FROM account_metric_snapshots m UNION ALL
  SELECT 'o' || o::text FROM oauth_states o UNION ALL
  SELECT 'd' || d::text FROM data_deletion_requests d UNION ALL
  SELECT 'r' || r::text FROM session_revocations r) rows`;
const fingerprint = async () => (await t.db.one<{ f: string }>(FINGERPRINT)).f;

// ---- generators -------------------------------------------------------------------------------

const nul = fc.string({ maxLength: 10 }).map((s) => `${s}\u0000${s}`);
const hostileString = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  { weight: 3, arbitrary: nul },
  fc.constantFrom(
    "' OR '1'='1",
    '"; DROP TABLE users; --',
    '${7*7}',
    '../../etc/passwd',
    '<script>alert(1)</script>',
    '%00',
    '\u202e',
    'null',
    '-1',
    '1e309',
    ' ',
  ),
  fc.string({ minLength: 300, maxLength: 3000 }),
);
const anyJson: fc.Arbitrary<unknown> = fc.oneof(
  hostileString,
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.string({ maxLength: 5 }), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 }), { maxKeys: 3 }),
  fc.constant({ __proto__: { admin: true } }),
);

/** A value the field's validation accepts, so the request reaches the handler. */
function validValue(name: string): fc.Arbitrary<unknown> {
  switch (name) {
    case 'email':
      return fc.oneof(
        fc.constant(owner.email),
        fc.stringMatching(/^[a-z0-9]{1,12}$/).map((local) => `${local}@fuzz.example.com`),
      );
    case 'password':
      return fc.oneof(fc.constant(owner.password), fc.string({ minLength: 8, maxLength: 40 }));
    case 'name':
    case 'displayName':
      return fc.string({ minLength: 1, maxLength: 60 }).filter((v) => v.trim().length > 0);
    case 'username':
      return fc.stringMatching(/^[A-Za-z0-9._]{1,30}$/);
    case 'profilePictureUrl':
      return fc.webUrl({ validSchemes: ['https'] });
    case 'status':
      return fc.constant('disconnected');
    case 'signed_request':
      return fc.tuple(fc.base64String(), fc.base64String()).map(([a, b]) => `${a}.${b}`);
    default:
      return fc.string();
  }
}

const hostileValue = fc.oneof({ weight: 3, arbitrary: nul }, hostileString, anyJson);

/**
 * A JSON body for `schema`: each declared field left out, valid, or hostile, so most bodies pass
 * validation but for one field. Loose bodies also get unknown keys, or are not objects at all.
 */
function bodyFor(schema: Schema, wellFormed: boolean): fc.Arbitrary<string> {
  const fields = Object.keys(schema.properties ?? {});
  const object = fc
    .record(
      Object.fromEntries(
        fields.map((name) => [
          name,
          fc.oneof(
            { weight: 3, arbitrary: fc.constant(undefined) },
            { weight: 4, arbitrary: validValue(name) },
            { weight: 2, arbitrary: hostileValue },
          ),
        ]),
      ),
    )
    .chain((record) =>
      (wellFormed
        ? fc.constant(undefined)
        : fc.oneof(
            { weight: 3, arbitrary: fc.constant(undefined) },
            fc.dictionary(fc.string({ minLength: 1, maxLength: 12 }), anyJson, { maxKeys: 2 }),
          )
      ).map((extra) => JSON.stringify({ ...record, ...(extra ?? {}) })),
    );
  if (wellFormed) return object;
  const depth = fc.integer({ min: 30, max: 3000 });
  return fc.oneof(
    { weight: 6, arbitrary: object },
    depth.map((n) => `${'['.repeat(n)}${']'.repeat(n)}`),
    depth.map((n) => `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`),
    fc.constantFrom('', '{', '{"email":', 'null', '[]', '"text"', '{"__proto__":{"x":1}}'),
    anyJson.map((v) => JSON.stringify(v) ?? 'null'),
  );
}

/** Accounts the owner has now (a generated DELETE removes one; the run connects a new one). */
const accountPool: string[] = [];
const existingAccount = fc.nat().map((i) => accountPool[i % accountPool.length]!);

function pathValue(name: string, wellFormed: boolean): fc.Arbitrary<string> {
  const known =
    name === 'id'
      ? existingAccount
      : name === 'code'
        ? fc.stringMatching(/^[A-Za-z0-9]{16,64}$/)
        : fc.string({ minLength: 1 });
  if (wellFormed) return known;
  const others: fc.Arbitrary<string>[] = [fc.uuid(), hostileString, fc.constant('x'.repeat(150))];
  if (name === 'id') others.push(fc.constant(othersAccount), fc.constant('current'));
  return fc.oneof({ weight: 4, arbitrary: known }, ...others);
}

function queryValue(param: Operation['params'][number]): fc.Arbitrary<string | undefined> {
  const schema = param.schema ?? {};
  const values: fc.Arbitrary<string>[] = [hostileString];
  if (schema.type === 'number') {
    values.push(
      fc.integer({ min: -5, max: 150 }).map(String),
      fc.constantFrom('1.5', 'NaN', '1e3'),
    );
  }
  if (Array.isArray(schema.enum)) values.push(fc.constantFrom(...(schema.enum as string[])));
  if (param.name === 'cursor') values.push(fc.base64String({ maxLength: 80 }));
  return fc.option(fc.oneof(...values), { freq: 3 }).map((v) => v ?? undefined);
}

type Credential = 'none' | 'bearer' | 'cookie' | 'other' | 'forged' | 'garbage';
const anyCredential = fc.constantFrom<Credential>(
  'none',
  'bearer',
  'cookie',
  'other',
  'forged',
  'garbage',
);
const anyContentType = fc.constantFrom(
  'application/json',
  'application/json; charset=utf-8',
  'application/x-www-form-urlencoded',
  'text/plain',
  'multipart/form-data; boundary=x',
  undefined,
);
const anyOrigin = fc.constantFrom<Record<string, string>>(
  {},
  { origin: PUBLIC_URL, 'sec-fetch-site': 'same-origin' },
  { origin: 'https://partner.fuzz' },
  { origin: 'https://evil.fuzz', 'sec-fetch-site': 'cross-site' },
  { 'sec-fetch-site': 'cross-site' },
  { origin: 'null' },
);

interface Generated {
  op: Operation;
  wellFormed: boolean;
  path: string;
  body: string | undefined;
  contentType: string | undefined;
  credential: Credential;
  headers: Record<string, string>;
}

/**
 * Half the requests are well-formed around one hostile part (the owner's credentials, JSON, an
 * existing id, a body valid but for a field), so they reach the handlers and the database; the
 * other half are loose in every part (origin, content type, credentials, ids, body shape).
 */
const request: fc.Arbitrary<Generated> = fc
  .tuple(fc.constantFrom(...operations), fc.boolean())
  .chain(([op, wellFormed]) =>
    fc.record({
      op: fc.constant(op),
      wellFormed: fc.constant(wellFormed),
      pathParams: fc.tuple(
        ...op.params.filter((p) => p.in === 'path').map((p) => pathValue(p.name, wellFormed)),
      ),
      query: fc.tuple(...op.params.filter((p) => p.in === 'query').map((p) => queryValue(p))),
      extraQuery: wellFormed
        ? fc.constant(null)
        : fc.option(fc.tuple(fc.string({ minLength: 1, maxLength: 8 }), hostileString), {
            freq: 3,
          }),
      body: op.body
        ? fc.option(bodyFor(op.body.schema, wellFormed), { freq: wellFormed ? 1000 : 8 })
        : wellFormed
          ? fc.constant(null)
          : fc.option(bodyFor({}, false), { freq: 2 }),
      contentType: wellFormed
        ? fc.constantFrom<string | undefined>(...(op.body?.contentTypes ?? ['application/json']))
        : anyContentType,
      credential: wellFormed
        ? fc.constantFrom<Credential>('bearer', 'bearer', 'cookie')
        : anyCredential,
      headers: wellFormed
        ? fc.constantFrom<Record<string, string>>({}, { origin: PUBLIC_URL })
        : anyOrigin,
    }),
  )
  .map(
    ({ op, wellFormed, pathParams, query, extraQuery, body, contentType, credential, headers }) => {
      const pathNames = op.params.filter((p) => p.in === 'path');
      let path = op.path;
      pathNames.forEach((p, i) => {
        path = path.replace(`{${p.name}}`, encodeURIComponent(pathParams[i] as string));
      });
      const search = new URLSearchParams();
      op.params
        .filter((p) => p.in === 'query')
        .forEach((p, i) => {
          const value = query[i];
          if (value !== undefined) search.set(p.name, value);
        });
      if (extraQuery) search.set(extraQuery[0], extraQuery[1]);
      const qs = search.toString();
      // fetch sends no body with a GET.
      const sentBody = op.method === 'GET' || body === null ? undefined : body;
      let type = sentBody === undefined ? contentType : (contentType ?? 'application/json');
      // A form-encoded Meta callback carries its fields as a form.
      if (sentBody !== undefined && type === 'application/x-www-form-urlencoded' && wellFormed) {
        const fields = JSON.parse(sentBody) as Record<string, unknown>;
        return {
          op,
          wellFormed,
          path: qs ? `${path}?${qs}` : path,
          body: new URLSearchParams(
            Object.entries(fields).map(([k, v]): [string, string] => [
              k,
              typeof v === 'string' ? v : JSON.stringify(v),
            ]),
          ).toString(),
          contentType: type,
          credential,
          headers,
        };
      }
      if (sentBody === undefined && wellFormed) type = undefined;
      return {
        op,
        wellFormed,
        path: qs ? `${path}?${qs}` : path,
        body: sentBody,
        contentType: type,
        credential,
        headers,
      };
    },
  );

/** A session made the way login makes one, without paying for scrypt on every generated logout. */
async function newSession(userId: string): Promise<{ token: string; cookie: string }> {
  const sessionToken = newSessionToken();
  const { id } = await t.db.one<{ id: string }>(
    `INSERT INTO sessions (user_id, token_hash, expires_at)
     VALUES ($1, $2, now() + interval '1 day') RETURNING id`,
    [userId, hashSessionToken(sessionToken)],
  );
  const now = Math.floor(Date.now() / 1000);
  return {
    token: craftJwt(
      { sub: userId, sid: id, iat: now, exp: now + 900 },
      {
        secret: t.config.auth.jwtSecret,
      },
    ),
    cookie: `ssell_session=${sessionToken}`,
  };
}

// ---- the property -----------------------------------------------------------------------------

const STACK = /\bat [^\n]+\.(ts|js|mjs):\d+|\n\s+at |node_modules/;
const SQL =
  /\b(SELECT [\w*]+ FROM|INSERT INTO|UPDATE \w+ SET|DELETE FROM)\b|syntax error at|violates [\w ]*constraint|relation "|column "/i;

function credentials(kind: Credential): {
  token?: string;
  cookie?: string;
  headers?: Record<string, string>;
} {
  const now = Math.floor(Date.now() / 1000);
  switch (kind) {
    case 'none':
      return {};
    case 'bearer':
      return { token: owner.token };
    case 'cookie':
      return { cookie: owner.cookie };
    case 'other':
      return { token: other.token };
    case 'forged':
      return {
        token: craftJwt(
          { sub: owner.userId, iat: now, exp: now + 600 },
          { secret: 'not-the-secret' },
        ),
      };
    case 'garbage':
      return { headers: { authorization: 'Bearer a.b.c' }, cookie: 'ssell_session=AAAA' };
  }
}

it(`never answers a 5xx or leaks, and a refused request changes nothing (${RUNS} requests)`, async () => {
  console.log(`fuzz: ${RUNS} generated requests, seed ${SEED} (replay with FUZZ_SEED=${SEED})`);
  secrets = [
    owner.token,
    other.token,
    owner.cookie.split('=')[1]!,
    other.cookie.split('=')[1]!,
    t.config.auth.jwtSecret,
    t.config.tokenEncryptionKey.replace(/^v\d+:/, ''),
    app.emu.appSecret,
  ];
  const perOperation = new Map<string, number>();
  const statuses = new Map<number, number>();
  let authenticated = 0;
  let wellFormed = 0;
  let sent = 0;
  let known: string | undefined;

  await fc.assert(
    fc.asyncProperty(request, async (generated) => {
      const auth = credentials(generated.credential);
      // The state after the last refused request is the state before this one (nothing else
      // writes: jobs are off); after a success or a fixture change it is read again.
      const before = known ?? (await fingerprint());
      known = undefined;
      const res = await http(t.url, generated.op.method, generated.path, {
        ...(generated.body !== undefined
          ? { rawBody: generated.body, contentType: generated.contentType ?? 'application/json' }
          : {}),
        ...(auth.token ? { token: auth.token } : {}),
        ...(auth.cookie ? { cookie: auth.cookie } : {}),
        headers: {
          ...generated.headers,
          ...auth.headers,
          ...(generated.body === undefined && generated.contentType
            ? { 'content-type': generated.contentType }
            : {}),
        },
      });
      sent += 1;
      const key = `${generated.op.method} ${generated.op.path}`;
      perOperation.set(key, (perOperation.get(key) ?? 0) + 1);
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      if (generated.credential === 'bearer' || generated.credential === 'cookie')
        authenticated += 1;
      if (generated.wellFormed) wellFormed += 1;

      const where = `${generated.op.method} ${generated.path.slice(0, 200)} → ${res.status} ${res.text.slice(0, 300)}`;
      expect(res.status, where).toBeLessThan(500);
      expect(STACK.test(res.text), where).toBe(false);
      expect(SQL.test(res.text), where).toBe(false);
      const headerText = JSON.stringify([...res.headers]);
      const leaked = [...secrets, ...issuedTokens(app.emu)].find(
        (secret) => res.text.includes(secret) || headerText.includes(secret),
      );
      expect(leaked, where).toBeUndefined();
      if (
        res.status >= 400 &&
        generated.path.startsWith('/connect/') &&
        /^text\/html/.test(res.headers.get('content-type') ?? '')
      ) {
        // The public connect-link pages are for a client's browser: their refusals are pages.
        expect(res.headers.get('x-request-id'), where).toBeTruthy();
        const after = await fingerprint();
        expect(after, `the database changed: ${where}`).toBe(before);
        known = after;
      } else if (res.status >= 400) {
        expect(res.body, where).toEqual({
          statusCode: res.status,
          error: expect.any(String),
          message: expect.any(String),
          requestId: res.headers.get('x-request-id'),
        });
        const after = await fingerprint();
        expect(after, `the database changed: ${where}`).toBe(before);
        known = after;
      }
      // A generated DELETE took one of the owner's accounts: connect another in its place.
      if (generated.op.method === 'DELETE' && res.status === 204) {
        const gone = accountPool.findIndex((id) => generated.path.includes(id));
        if (gone >= 0) accountPool.splice(gone, 1);
        accountPool.push((await connectAccount(app, owner.userId)).account.id);
        known = undefined;
      }
      // A generated logout ended the owner's session: sign in again, as the person would.
      if (generated.op.path === '/auth/logout' && res.status === 204) {
        Object.assign(owner, await newSession(owner.userId));
        secrets.push(owner.token, owner.cookie.split('=')[1]!);
        known = undefined;
      }
    }),
    { numRuns: RUNS, seed: SEED, endOnFailure: true },
  );

  console.log(
    `fuzz: ${sent} requests (${authenticated} with the owner's credentials, ${wellFormed} well-formed), statuses ${JSON.stringify(Object.fromEntries([...statuses].sort((x, y) => x[0] - y[0])))}`,
  );
  expect(sent).toBe(RUNS);
  expect([...perOperation.keys()].sort()).toEqual(
    operations.map((o) => `${o.method} ${o.path}`).sort(),
  );
  for (const [key, n] of perOperation)
    expect(n, key).toBeGreaterThanOrEqual(Math.floor(RUNS / 100));
  expect(authenticated).toBeGreaterThan(RUNS / 5);
  expect(sent - authenticated).toBeGreaterThan(RUNS / 5);
}, 600_000);

it('a sign-in with a generated valid body still works after the run (the service is healthy)', async () => {
  const res = await http(t.url, 'POST', '/auth/register', {
    body: { email: uniqueEmail('after.fuzz'), password: 'correct horse battery staple' },
  });
  expect(res.status).toBe(201);
});
