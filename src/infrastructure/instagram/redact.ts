export const REDACTED = '[REDACTED]';

/** Query parameters that carry credentials in Meta's APIs. */
const SECRET_PARAMS = new Set([
  'access_token',
  'client_secret',
  'code',
  'appsecret_proof',
  'input_token',
  'fb_exchange_token',
]);

// Meta's token and code formats (IGAA…, IGQV…, EAA…, AQ…) and, as a catch-all, any long run of
// base64url-ish characters: nothing a person needs to read in an error message looks like that.
const TOKEN_LIKE = /\b(?:IG[A-Za-z0-9_-]{16,}|EAA[A-Za-z0-9_-]{16,}|[A-Za-z0-9_-]{40,})/g;

const MAX_MESSAGE_LENGTH = 500;

/** The URL with every credential-bearing query value replaced; safe to log. */
export function redactUrl(url: string | URL): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return REDACTED;
  }
  for (const key of [...parsed.searchParams.keys()]) {
    if (SECRET_PARAMS.has(key.toLowerCase())) parsed.searchParams.set(key, REDACTED);
  }
  parsed.username = '';
  parsed.password = '';
  return parsed.toString().replaceAll(encodeURIComponent(REDACTED), REDACTED);
}

/**
 * Makes a message from Meta (or from a transport error) fit for logs and users: known secrets and
 * token-shaped substrings removed, control characters flattened, length bounded.
 */
export function scrubMessage(message: string, secrets: readonly string[] = []): string {
  let result = message;
  for (const secret of secrets) {
    if (secret.length >= 4) result = result.split(secret).join(REDACTED);
  }
  result = result.replace(TOKEN_LIKE, REDACTED).replace(/\p{Cc}+/gu, ' ');
  return result.length > MAX_MESSAGE_LENGTH
    ? `${result.slice(0, MAX_MESSAGE_LENGTH - 1)}…`
    : result;
}
