/** Query parameters that carry credentials somewhere in this service or at Meta. */
const SECRET_PARAMS = new Set([
  'access_token',
  'client_secret',
  'code',
  'state',
  'appsecret_proof',
  'input_token',
  'fb_exchange_token',
  'signed_request',
  'token',
  'password',
]);

/**
 * A connect link's path holds its token (`/connect/<token>`, `/connect/<token>/authorize`): the
 * token opens the link, so it is a credential too. `/connect/done` carries none.
 */
const CONNECT_LINK_PATH =
  /^((?:[a-z][a-z0-9+.-]*:\/\/[^/]+)?\/connect\/)(?!done(?=[/?#]|$))[^/?#]+/i;

/**
 * A URL (absolute or a request path) with the values of credential parameters, and a connect
 * link's token, replaced.
 */
export function redactUrl(input: string): string {
  const url = input.replace(CONNECT_LINK_PATH, '$1[REDACTED]');
  const q = url.indexOf('?');
  if (q === -1) return url;
  const hash = url.indexOf('#', q);
  const query = url.slice(q + 1, hash === -1 ? undefined : hash);
  const redacted = query
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      const name = decodeURIComponentSafe(eq === -1 ? pair : pair.slice(0, eq)).toLowerCase();
      return SECRET_PARAMS.has(name) && eq !== -1 ? `${pair.slice(0, eq)}=[REDACTED]` : pair;
    })
    .join('&');
  return `${url.slice(0, q)}?${redacted}${hash === -1 ? '' : url.slice(hash)}`;
}

function decodeURIComponentSafe(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/** pino `redact` paths: credentials in headers and in any logged object. */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-hub-signature-256"]',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
  '*.password',
  '*.accessToken',
  '*.access_token',
  '*.refreshToken',
  '*.token',
  '*.client_secret',
  '*.appSecret',
  '*.appsecret_proof',
  '*.signed_request',
  'password',
  'accessToken',
  'access_token',
  'token',
];
