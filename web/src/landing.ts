/** What the OAuth callback said when it sent the person back here (`/?connected=` or `/?error=`). */
export interface Landing {
  connectedId?: string;
  error?: string;
  errorDescription?: string;
  /** The account a Reconnect button was pressed for, remembered across Instagram's pages. */
  reconnecting?: { id: string; username: string };
}

const RECONNECTING_KEY = 'ssell.reconnecting';

export function rememberReconnect(id: string, username: string): void {
  sessionStorage.setItem(RECONNECTING_KEY, JSON.stringify({ id, username }));
}

export function forgetReconnect(): void {
  sessionStorage.removeItem(RECONNECTING_KEY);
}

function readReconnecting(): Landing['reconnecting'] {
  try {
    const value: unknown = JSON.parse(sessionStorage.getItem(RECONNECTING_KEY) ?? 'null');
    if (
      typeof value === 'object' &&
      value !== null &&
      typeof (value as { id?: unknown }).id === 'string' &&
      typeof (value as { username?: unknown }).username === 'string'
    ) {
      return value as { id: string; username: string };
    }
  } catch {
    /* not JSON: nothing remembered */
  }
  return undefined;
}

/** Reads the callback's parameters once and takes them out of the address bar. */
export function readLanding(): Landing {
  const params = new URLSearchParams(location.search);
  const landing: Landing = {};
  const connected = params.get('connected');
  const error = params.get('error');
  if (connected) landing.connectedId = connected;
  if (error) {
    landing.error = error;
    const description = params.get('error_description');
    if (description) landing.errorDescription = description;
  }
  if (connected || error) {
    const reconnecting = readReconnecting();
    if (reconnecting) landing.reconnecting = reconnecting;
    forgetReconnect();
    history.replaceState(null, '', location.pathname + location.hash);
  }
  return landing;
}
