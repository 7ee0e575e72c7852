import { api, ApiError } from './api';
import { rememberReconnect } from './landing';
import type { Account } from './types';

/**
 * Sends the browser to Instagram's consent page. With an account, the service binds the attempt
 * to it (a different Instagram account is refused); a server without targeted reconnects (400 on
 * the unknown parameter) gets a plain connect, which re-activates the account when it comes back.
 */
export async function goToInstagram(account?: Account): Promise<void> {
  let url: string;
  if (account) {
    try {
      ({ url } = await api<{ url: string }>(
        'GET',
        `/instagram/oauth/authorize?accountId=${encodeURIComponent(account.id)}&format=json`,
      ));
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 400) throw error;
      ({ url } = await api<{ url: string }>('GET', '/instagram/oauth/authorize?format=json'));
    }
    rememberReconnect(account.id, account.username);
  } else {
    ({ url } = await api<{ url: string }>('GET', '/instagram/oauth/authorize?format=json'));
  }
  location.assign(url);
}
