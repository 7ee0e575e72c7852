export interface HttpResult<T = any> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

export interface RequestOptions {
  body?: unknown;
  /** Sent as is, with `contentType` (default application/json). */
  rawBody?: string | Buffer;
  contentType?: string;
  token?: string;
  cookie?: string;
  headers?: Record<string, string>;
  redirect?: 'manual' | 'follow';
}

/** A real HTTP request over a socket to the service under test. */
export async function http<T = any>(
  baseUrl: string,
  method: string,
  path: string,
  options: RequestOptions = {},
): Promise<HttpResult<T>> {
  const headers: Record<string, string> = { ...options.headers };
  let body: string | Buffer | undefined;
  if (options.rawBody !== undefined) {
    body = options.rawBody;
    headers['content-type'] = options.contentType ?? 'application/json';
  } else if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers['content-type'] = 'application/json';
  }
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.cookie) headers.cookie = options.cookie;
  const response = await fetch(`${baseUrl}${path}`, {
    method,
    headers,
    body: body as RequestInit['body'],
    redirect: options.redirect ?? 'manual',
  });
  const text = await response.text();
  let parsed: unknown = undefined;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  return { status: response.status, headers: response.headers, body: parsed as T, text };
}

/** The `name=value` pair of a Set-Cookie header, ready for a Cookie header. */
export function cookieFrom(headers: Headers, name: string): string | undefined {
  for (const value of headers.getSetCookie()) {
    const pair = value.split(';')[0]!;
    if (pair.startsWith(`${name}=`)) return pair;
  }
  return undefined;
}

let counter = 0;
export function uniqueEmail(prefix = 'user'): string {
  counter += 1;
  return `${prefix}.${process.pid}.${Date.now().toString(36)}.${counter}@example.com`;
}

/** A user signed up through POST /auth/register: their bearer token and session cookie. */
export interface RegisteredUser {
  userId: string;
  email: string;
  password: string;
  token: string;
  /** The session as a Cookie header pair, `ssell_session=<jwt>`. */
  cookie: string;
}

export async function registerUser(
  baseUrl: string,
  overrides: { email?: string; password?: string; name?: string } = {},
): Promise<RegisteredUser> {
  const email = overrides.email ?? uniqueEmail();
  const password = overrides.password ?? 'correct horse battery staple';
  const res = await http(baseUrl, 'POST', '/auth/register', {
    body: { email, password, ...(overrides.name ? { name: overrides.name } : {}) },
  });
  if (res.status !== 201) throw new Error(`register failed: ${res.status} ${res.text}`);
  return {
    userId: res.body.user.id,
    email,
    password,
    token: res.body.accessToken,
    cookie: cookieFrom(res.headers, 'ssell_session')!,
  };
}
