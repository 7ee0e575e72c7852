import type { ConnectLinkClaim } from '../../../domain/repositories/connect-link.repository.interface';
import type { ConnectFailure } from './connect-failures';

/** The public page a link-started connect ends on: the client has no ssell session. */
export const CONNECT_DONE_PATH = '/connect/done';

/** Why a link-started connect did not connect, as `/connect/done?error=` says it. */
export type ConnectDoneError =
  | ConnectFailure
  | 'wrong_account'
  | 'invalid_state'
  | 'state_expired'
  | 'other_browser'
  | 'link_used'
  | 'link_expired'
  | 'link_revoked'
  | 'link_busy'
  | 'link_unknown';

/**
 * The done page's address. It carries codes and usernames only, never a sentence: the page
 * writes its own text, so nobody can make it say something else through a crafted link.
 */
export function connectDoneUrl(
  publicUrl: string,
  params: { connected: string } | { error: ConnectDoneError; expected?: string; approved?: string },
): string {
  return `${publicUrl}${CONNECT_DONE_PATH}?${new URLSearchParams(params).toString()}`;
}

/** A claim that did not go through, as the done page names it. */
export function closedLinkError(claim: Exclude<ConnectLinkClaim, 'claimed'>): ConnectDoneError {
  switch (claim) {
    case 'used':
      return 'link_used';
    case 'expired':
      return 'link_expired';
    case 'revoked':
      return 'link_revoked';
    case 'busy':
      return 'link_busy';
    case 'gone':
      return 'link_unknown';
  }
}
