import { api } from './api';
import { rememberReconnect } from './landing';
import type { Account } from './types';

/**
 * Sends the browser to Instagram's consent page. With an account it is a reconnect of that
 * account: the service binds the attempt to it and refuses a different Instagram account
 * (`error=wrong_account`) instead of adding it.
 */
export async function goToInstagram(account?: Account): Promise<void> {
  const query = account ? `&accountId=${encodeURIComponent(account.id)}` : '';
  const { url } = await api<{ url: string }>(
    'GET',
    `/instagram/oauth/authorize?format=json${query}`,
  );
  if (account) rememberReconnect(account.id, account.username);
  location.assign(url);
}
