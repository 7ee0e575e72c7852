/** The service's JSON shapes (README "HTTP contract"); fields still being built are optional. */

export type AccountStatus = 'active' | 'token_expired' | 'rate_limited' | 'error' | 'disconnected';
export type AccountType = 'business' | 'creator' | 'personal';

export interface User {
  id: string;
  email: string;
  name: string | null;
}

export interface Account {
  id: string;
  username: string;
  displayName: string | null;
  profilePictureUrl: string | null;
  /** The picture the service keeps (`/instagram/accounts/:id/avatar`), or null. */
  avatarUrl?: string | null;
  followerCount: number | null;
  followingCount: number | null;
  mediaCount: number | null;
  status: AccountStatus;
  statusDetail: string | null;
  rateLimitedUntil: string | null;
  accountType: AccountType;
  createdAt: string;
  updatedAt: string;
  lastSyncAt: string | null;
  tokenExpiresAt: string | null;
  isCurrent?: boolean;
}

export interface AccountPage {
  accounts: Account[];
  total: number;
  nextCursor: string | null;
}

export interface AccountEvent {
  id: string;
  type: string;
  data: Record<string, unknown>;
  createdAt: string;
}

export interface MetricPoint {
  at: string;
  followerCount: number | null;
  followingCount: number | null;
  mediaCount: number | null;
}

export interface Metrics {
  accountId: string;
  interval: 'day' | 'week';
  points: MetricPoint[];
  change: {
    followerCount: number | null;
    followingCount: number | null;
    mediaCount: number | null;
  };
}

export interface WebhookEndpoint {
  id: string;
  url: string;
  events: string[];
  description: string | null;
  createdAt: string;
  /** Only in the answer that creates the endpoint or rotates its secret. */
  secret?: string;
}

export interface WebhookDelivery {
  id: string;
  event: string;
  status: 'pending' | 'delivered' | 'failed';
  attempts: number;
  lastStatusCode: number | null;
  createdAt: string;
  deliveredAt: string | null;
}

export interface ConnectLink {
  id: string;
  /** Only in the answer that creates the link: the service keeps a hash of the token. */
  url?: string;
  label: string | null;
  expiresAt: string;
  createdAt?: string;
  usedAt?: string | null;
  revokedAt?: string | null;
  accountId?: string | null;
  username?: string | null;
}
