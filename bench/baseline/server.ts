/**
 * The yardstick of `npm run bench`: a bare `node:http` + `pg` server doing the work of
 * `GET /instagram/accounts` and `GET /instagram/accounts/:id` on the same database, in the same
 * JSON shape, with none of the framework: the JWT checked with `node:crypto` (HS256, timing-safe),
 * the page, the count and the caller's current account queried at once with named prepared
 * statements on a pool of 10, snake_case rows mapped to camelCase by hand, `JSON.stringify`, no
 * per-request logging. It is what the service is measured against, not a product: no security
 * headers, no request ids, no error envelope beyond a status code.
 *
 * BASELINE_STATEMENTS=joined runs the service's own statements instead (the list's page, total and
 * current account in one, the account and the current account in one): the framework's cost
 * alone, with the SQL held equal; the default is the yardstick (two or three at once).
 *
 * Environment: PORT, DATABASE_URL, JWT_SECRET. It imports nothing from the service.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import pg from 'pg';

const PORT = Number(process.env.PORT ?? 4100);
const SECRET = process.env.JWT_SECRET ?? '';
if (!process.env.DATABASE_URL || SECRET.length < 32) {
  process.stderr.write('baseline: DATABASE_URL and JWT_SECRET (32+ characters) are required\n');
  process.exit(1);
}

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10 });

// The service's column list and queries (postgres-client-account.repository.ts,
// postgres-current-account.repository.ts), so both read the same rows the same way.
const COLUMNS = `id, user_id, platform, platform_account_id, username, display_name,
  profile_picture_url, follower_count, following_count, media_count, biography, website, status,
  account_type, metadata, permissions, created_at, updated_at, last_sync_at, token_expires_at`;
const CURSOR_COLUMN = `to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS cursor_created_at`;
/** A page of the user's accounts, newest first; `after` narrows it to those past a cursor. */
const PAGE = (after: string) => `SELECT ${COLUMNS}, ${CURSOR_COLUMN} FROM client_accounts
  WHERE user_id = $1 ${after} ORDER BY created_at DESC, id DESC LIMIT $2`;
const AFTER_CURSOR = 'AND (created_at, id) < ($3::timestamptz, $4::uuid)';
const FIRST_PAGE = PAGE('');
const NEXT_PAGE = PAGE(AFTER_CURSOR);
const COUNT = 'SELECT count(*)::int AS count FROM client_accounts WHERE user_id = $1';
const BY_ID = `SELECT ${COLUMNS} FROM client_accounts WHERE id = $1`;
/** The user's current account id, the user being parameter `n`. */
const CURRENT_OF = (n: number) => `COALESCE(
    (SELECT account_id FROM user_current_accounts WHERE user_id = $${n}),
    (SELECT id FROM client_accounts WHERE user_id = $${n} AND status <> 'disconnected'
      ORDER BY created_at DESC, id DESC LIMIT 1))`;
const CURRENT_ID = `SELECT ${CURRENT_OF(1)} AS account_id`;

const JOINED = process.env.BASELINE_STATEMENTS === 'joined';
// The service's joined statements (postgres-client-account.repository.ts), written out again.
const TOTAL_AND_PAGE = (after: string) => `SELECT t.total, t.current_id, p.* FROM
    (SELECT count(*)::int AS total, ${CURRENT_OF(1)} AS current_id
       FROM client_accounts WHERE user_id = $1) t
  LEFT JOIN LATERAL (${PAGE(after)}) p ON true`;
const FIRST_JOINED = TOTAL_AND_PAGE('');
const NEXT_JOINED = TOTAL_AND_PAGE(AFTER_CURSOR);
const BY_ID_JOINED = `SELECT ${COLUMNS}, ${CURRENT_OF(2)} AS current_id FROM client_accounts WHERE id = $1`;

interface Row {
  id: string;
  user_id: string;
  platform: string;
  username: string;
  display_name: string | null;
  profile_picture_url: string | null;
  follower_count: number | null;
  following_count: number | null;
  media_count: number | null;
  biography: string | null;
  website: string | null;
  status: string;
  account_type: string;
  metadata: { picture?: unknown };
  permissions: string[];
  created_at: Date;
  updated_at: Date;
  last_sync_at: Date | null;
  token_expires_at: Date | null;
  cursor_created_at?: string;
}

const query = <T extends pg.QueryResultRow>(name: string, text: string, values: unknown[]) =>
  pool.query<T>({ name, text, values }).then((r) => r.rows);

const currentId = (userId: string) =>
  query<{ account_id: string | null }>('b-current', CURRENT_ID, [userId]).then(
    (rows) => rows[0]?.account_id ?? null,
  );

const iso = (d: Date | null) => (d ? d.toISOString() : null);

/**
 * The service's account shape, field for field. The seeded accounts are active with no refresh
 * history, so the status sentence, the rate-limit time and the refresh fields take their plain
 * values; the benchmark checks both servers' bodies for equality before it measures.
 */
function toAccount(row: Row, current: string | null) {
  return {
    id: row.id,
    platform: row.platform,
    username: row.username,
    displayName: row.display_name,
    profilePictureUrl: row.profile_picture_url,
    avatarUrl: row.metadata.picture ? `/instagram/accounts/${row.id}/avatar` : null,
    isCurrent: row.id === current,
    followerCount: row.follower_count,
    followingCount: row.following_count,
    mediaCount: row.media_count,
    biography: row.biography,
    website: row.website,
    status: row.status,
    statusDetail: null,
    rateLimitedUntil: null,
    accountType: row.account_type,
    permissions: row.permissions,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
    lastSyncAt: iso(row.last_sync_at),
    tokenExpiresAt: iso(row.token_expires_at),
    lastRefreshAt: null,
    lastRefreshError: null,
    refreshAttempts: 0,
  };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const KEY = Buffer.from(SECRET);

/** HS256 only; `sub` and `sid` UUIDs, `exp` in the future. The user id, or null. */
function verify(header: string | undefined): string | null {
  if (!header?.startsWith('Bearer ')) return null;
  const token = header.slice(7);
  const dot1 = token.indexOf('.');
  const dot2 = token.indexOf('.', dot1 + 1);
  if (dot1 < 0 || dot2 < 0) return null;
  const expected = createHmac('sha256', KEY).update(token.slice(0, dot2)).digest();
  const given = Buffer.from(token.slice(dot2 + 1), 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
  try {
    const head = JSON.parse(Buffer.from(token.slice(0, dot1), 'base64url').toString()) as {
      alg?: unknown;
    };
    if (head.alg !== 'HS256') return null;
    const claims = JSON.parse(Buffer.from(token.slice(dot1 + 1, dot2), 'base64url').toString()) as {
      sub?: unknown;
      sid?: unknown;
      exp?: unknown;
    };
    if (typeof claims.sub !== 'string' || !UUID.test(claims.sub)) return null;
    if (typeof claims.sid !== 'string' || !UUID.test(claims.sid)) return null;
    if (typeof claims.exp !== 'number' || claims.exp * 1000 <= Date.now()) return null;
    return claims.sub;
  } catch {
    return null;
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

const CURSOR_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

async function list(res: ServerResponse, userId: string, params: URLSearchParams): Promise<void> {
  const limit = Number(params.get('limit') ?? 20);
  if (!Number.isInteger(limit) || limit < 1 || limit > 100) return send(res, 400, {});
  const raw = params.get('cursor');
  let after: { createdAt: string; id: string } | null = null;
  if (raw !== null) {
    try {
      const parsed = JSON.parse(Buffer.from(raw, 'base64url').toString()) as {
        createdAt: string;
        id: string;
      };
      if (!CURSOR_TIME.test(parsed.createdAt) || !UUID.test(parsed.id)) return send(res, 400, {});
      after = parsed;
    } catch {
      return send(res, 400, {});
    }
  }
  let rows: Row[];
  let total: number;
  let current: string | null;
  if (JOINED) {
    type Joined = Row & { total: number; current_id: string | null };
    const joined = after
      ? await query<Joined>('b-next-joined', NEXT_JOINED, [
          userId,
          limit + 1,
          after.createdAt,
          after.id,
        ])
      : await query<Joined>('b-first-joined', FIRST_JOINED, [userId, limit + 1]);
    total = joined[0]!.total;
    current = joined[0]!.current_id;
    // An empty page is one row of nulls beside the total.
    rows = (joined[0]!.id as string | null) === null ? [] : joined;
  } else {
    const [page, counted, currentAccount] = await Promise.all([
      after
        ? query<Row>('b-next', NEXT_PAGE, [userId, limit + 1, after.createdAt, after.id])
        : query<Row>('b-first', FIRST_PAGE, [userId, limit + 1]),
      query<{ count: number }>('b-count', COUNT, [userId]),
      currentId(userId),
    ]);
    rows = page;
    total = counted[0]!.count;
    current = currentAccount;
  }
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  const nextCursor =
    rows.length > limit && last
      ? Buffer.from(JSON.stringify({ createdAt: last.cursor_created_at, id: last.id })).toString(
          'base64url',
        )
      : null;
  send(res, 200, {
    accounts: page.map((row) => toAccount(row, current)),
    total,
    nextCursor,
  });
}

async function one(res: ServerResponse, userId: string, id: string): Promise<void> {
  if (!UUID.test(id)) return send(res, 400, {});
  let row: Row | undefined;
  let current: string | null;
  if (JOINED) {
    const [joined] = await query<Row & { current_id: string | null }>(
      'b-by-id-joined',
      BY_ID_JOINED,
      [id, userId],
    );
    row = joined;
    current = joined?.current_id ?? null;
  } else {
    const [rows, currentAccount] = await Promise.all([
      query<Row>('b-by-id', BY_ID, [id]),
      currentId(userId),
    ]);
    row = rows[0];
    current = currentAccount;
  }
  if (!row) return send(res, 404, {});
  if (row.user_id !== userId) return send(res, 403, {});
  send(res, 200, toAccount(row, current));
}

const PREFIX = '/instagram/accounts';

function handle(req: IncomingMessage, res: ServerResponse): Promise<void> | void {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  if (req.method !== 'GET' || !path.startsWith(PREFIX)) return send(res, 404, {});
  const userId = verify(req.headers.authorization);
  if (!userId) return send(res, 401, {});
  if (path === PREFIX) return list(res, userId, new URLSearchParams(q < 0 ? '' : url.slice(q)));
  if (path[PREFIX.length] === '/') return one(res, userId, path.slice(PREFIX.length + 1));
  return send(res, 404, {});
}

const server = createServer((req, res) => {
  const done = handle(req, res);
  if (done) {
    done.catch(() => {
      if (!res.headersSent) send(res, 500, {});
    });
  }
});
server.keepAliveTimeout = 60_000;
server.listen(PORT, '127.0.0.1', () => {
  process.stdout.write(`baseline listening on ${PORT}\n`);
});
const stop = () => {
  server.close();
  server.closeAllConnections();
  // A yardstick needs no graceful drain: give the pool a moment, then go.
  setTimeout(() => process.exit(0), 500).unref();
  pool.end().then(
    () => process.exit(0),
    () => process.exit(0),
  );
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
