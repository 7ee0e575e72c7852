/**
 * Why a connect failed, as the accounts page shows it (`/?error=<reason>&error_description=…`).
 * The text is always ours: nothing Meta or the query string says is reflected to the page.
 */
export const CONNECT_FAILURES = {
  access_denied: 'You did not allow ssell to access the Instagram account.',
  authorization_failed: 'Instagram did not authorize the connection. Please try again.',
  invalid_request: 'Instagram sent back an incomplete answer. Please try again.',
  code_rejected: 'The Instagram authorization expired or was already used. Please connect again.',
  rate_limited: 'Instagram is limiting requests right now. Please try again in a few minutes.',
  instagram_unavailable: 'Instagram did not answer in time. Please try again.',
  permission_denied: 'The Instagram account did not grant the permissions ssell needs.',
  instagram_error: 'Instagram answered with an error. Please try again.',
  account_in_use: 'This Instagram account is already connected to another ssell user.',
  account_removed:
    'The account you were reconnecting was removed in the meantime. Nothing was changed: connect it again if you still want it.',
  server_error: 'Something went wrong on our side while connecting. Please try again.',
} as const;
export type ConnectFailure = keyof typeof CONNECT_FAILURES;
