/** The service's JSON API, same origin, authenticated by the HttpOnly session cookie. */

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** Seconds from `Retry-After`, when the service sent one. */
    readonly retryAfterSeconds: number | undefined,
  ) {
    super(message);
  }

  /**
   * The service has no such route (Nest's own 404, "Cannot GET /x"): a feature this server does
   * not have yet, as opposed to a 404 about a resource.
   */
  get routeMissing(): boolean {
    return this.status === 404 && /^Cannot [A-Z]+ \//.test(this.message);
  }
}

let onSessionLost: (() => void) | undefined;

/** Called when any call outside /auth answers 401: the session ended (sign-out elsewhere, expiry). */
export function handleSessionLost(handler: (() => void) | undefined): void {
  onSessionLost = handler;
}

function retryAfter(res: Response): number | undefined {
  const value = res.headers.get('retry-after');
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, Math.round((date - Date.now()) / 1000));
}

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      credentials: 'same-origin',
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, 'The service could not be reached. Check your connection.', undefined);
  }
  const text = await res.text();
  let data: unknown;
  try {
    data = text ? JSON.parse(text) : undefined;
  } catch {
    data = undefined;
  }
  if (!res.ok) {
    const message =
      typeof data === 'object' &&
      data !== null &&
      typeof (data as { message?: unknown }).message === 'string'
        ? (data as { message: string }).message
        : `The service answered ${res.status}.`;
    if (res.status === 401 && !path.startsWith('/auth/')) onSessionLost?.();
    throw new ApiError(res.status, message, retryAfter(res));
  }
  return data as T;
}

export const errorMessage = (error: unknown): string =>
  error instanceof Error ? error.message : 'Something went wrong.';
