/** Turning the service's states and history into sentences people read (never raw codes). */
import { count, fullDateTime } from './format';
import type { Account, AccountEvent, AccountStatus } from './types';

/** Below this many days left, the page warns that the access to Instagram is ending. */
export const EXPIRY_WARNING_DAYS = 7;

export const STATUS_WORDS: Record<AccountStatus, string> = {
  active: 'Active',
  token_expired: 'Reconnect needed',
  rate_limited: 'Rate limited',
  error: 'Sync failed',
  disconnected: 'Disconnected',
};

/**
 * Whether the way forward is connecting again: an expired or revoked token, a removed app, a
 * paused account, or a permission Instagram refused (the service says so in `statusDetail`).
 */
export function needsReconnect(account: Account): boolean {
  if (account.status === 'token_expired' || account.status === 'disconnected') return true;
  return account.status === 'error' && /reconnect/i.test(account.statusDetail ?? '');
}

/** The service's sentence without the Graph error codes in brackets ("(190/460)"). */
export function statusSentence(account: Account): string | null {
  const detail = account.statusDetail;
  if (!detail) return null;
  return detail
    .replace(/\s*\((?:code )?\d+(?:\/\d+)?(?::[^)]*)?\)/g, '')
    .replace(/ with error \d+(?:\/\d+)?/g, '')
    .replace(/\s{2,}/g, ' ')
    .trim();
}

const FIELD_WORDS: Record<string, string> = {
  username: 'username',
  displayName: 'name',
  profilePictureUrl: 'picture',
  followerCount: 'followers',
  followingCount: 'following',
  mediaCount: 'posts',
  biography: 'bio',
  website: 'website',
  accountType: 'account type',
};

function describeChanges(changed: unknown): string {
  if (typeof changed !== 'object' || changed === null) return 'nothing changed';
  const parts = Object.entries(changed as Record<string, { from?: unknown; to?: unknown }>).map(
    ([field, change]) => {
      const name = FIELD_WORDS[field] ?? 'profile';
      return typeof change.to === 'number'
        ? `${name} ${count(typeof change.from === 'number' ? change.from : null)} → ${count(change.to)}`
        : `${name} changed`;
    },
  );
  return parts.length > 0 ? parts.join(', ') : 'nothing changed';
}

const SYNC_REASONS: Record<string, string> = {
  manual: 'Synced on request',
  periodic: 'Synced automatically',
  connect: 'First sync after connecting',
  reconnect: 'Synced after reconnecting',
};

/** Why an account changed status, in words. Unknown reasons are left out, not shown raw. */
const STATUS_REASONS: Record<string, string> = {
  reconnected: 'after reconnecting',
  sync_succeeded: 'after a successful sync',
  status_check_succeeded: 'after a status check',
  password_changed: 'the Instagram password was changed',
  expired: 'the access to Instagram expired',
  token_expired_by_date: 'the access to Instagram expired',
  app_not_installed: 'the app was removed from the Instagram account',
  checkpointed: 'Instagram wants the owner to log in and confirm the account',
  unconfirmed_user: 'the Instagram user is not confirmed',
  invalid: 'Instagram no longer accepts the access',
  no_page_role: 'the person no longer has a role on the Facebook Page',
  inactive: 'the account was inactive for too long',
  no_token: 'no access to Instagram is stored',
  unknown: 'Instagram no longer accepts the access',
  rate_limited_app: "the app's hourly limit was reached",
  rate_limited_user: "the account's limit was reached",
  rate_limited_business_use_case: "the account's daily limit was reached",
  rate_limited_page: "the account's limit was reached",
  rate_limited_http: 'Instagram asked to slow down',
  transient: 'Instagram had a temporary problem',
  network: 'Instagram could not be reached',
  timeout: 'Instagram did not answer in time',
  permission: 'Instagram refused a permission the account needs',
  bad_request: 'Instagram refused the request',
  not_found: 'Instagram could not find the account',
  paused_by_user: 'paused by you',
  deauthorized: 'the app was removed in Instagram',
  disconnected: 'the app was removed in Instagram',
};

const STATUS_HEADLINES: Record<AccountStatus, string> = {
  active: 'Back to active',
  token_expired: 'Needs reconnecting',
  rate_limited: 'Rate limited by Instagram',
  error: 'Sync failed',
  disconnected: 'Disconnected',
};

const isStatus = (value: unknown): value is AccountStatus =>
  typeof value === 'string' && value in STATUS_HEADLINES;

/** One history entry as a sentence. */
export function describeEvent(event: AccountEvent): string {
  const d = event.data;
  switch (event.type) {
    case 'connected':
      return 'Connected to ssell';
    case 'reconnected': {
      const before = d.previousStatus;
      return isStatus(before) && before !== 'active'
        ? `Reconnected (it was “${STATUS_WORDS[before]}”)`
        : 'Reconnected';
    }
    case 'synced': {
      const reason = typeof d.reason === 'string' ? SYNC_REASONS[d.reason] : undefined;
      return `${reason ?? 'Synced'}: ${describeChanges(d.changed)}`;
    }
    case 'updated':
      return `Edited in ssell: ${describeChanges(d.changed)}`;
    case 'status_changed': {
      const headline = isStatus(d.to) ? STATUS_HEADLINES[d.to] : 'Status changed';
      const reason = typeof d.reason === 'string' ? STATUS_REASONS[d.reason] : undefined;
      if (!reason) return headline;
      return reason.startsWith('after ') ? `${headline} ${reason}` : `${headline}: ${reason}`;
    }
    case 'token_refreshed':
      return typeof d.expiresAt === 'string'
        ? `Access to Instagram renewed, valid until ${fullDateTime(d.expiresAt)}`
        : 'Access to Instagram renewed';
    case 'disconnected':
      return d.by === 'user' ? 'Disconnected by you' : 'Disconnected';
    case 'token_expiring': {
      const days = typeof d.daysLeft === 'number' ? d.daysLeft : null;
      return days === null
        ? 'Access to Instagram ends soon and could not be renewed: reconnect to keep it'
        : `Access to Instagram ends in ${days === 1 ? '1 day' : `${days} days`} and could not be renewed: reconnect to keep it`;
    }
    case 'needs_reconnect':
      return 'Needs reconnecting: Instagram no longer accepts its access';
    case 'recovered':
      return isStatus(d.from) && d.from !== 'active'
        ? `Working again (it was “${STATUS_WORDS[d.from]}”)`
        : 'Working again';
    default:
      return 'Account updated';
  }
}

export const WEBHOOK_EVENTS: Array<{ name: string; words: string }> = [
  { name: 'account.connected', words: 'An account is connected' },
  { name: 'account.reconnected', words: 'An account is reconnected' },
  { name: 'account.status_changed', words: 'An account changes status' },
  { name: 'account.needs_reconnect', words: 'An account needs reconnecting' },
  { name: 'account.recovered', words: 'An account is working again' },
  { name: 'account.token_expiring', words: "An account's access is about to end" },
  { name: 'account.token_refreshed', words: "An account's access is renewed" },
  { name: 'account.disconnected', words: 'An account is disconnected' },
];

export function webhookEventWords(name: string): string {
  if (name === '*') return 'All events';
  if (name === 'ping') return 'Test event';
  return WEBHOOK_EVENTS.find((e) => e.name === name)?.words ?? 'Other event';
}
