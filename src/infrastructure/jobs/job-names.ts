/** Every job this service runs, with its payload. Handlers are idempotent: a job may run twice. */
export interface JobPayloads {
  /** Fetch the profile and update the account (after connect, periodically, on demand). */
  /** `operator`: `npm run accounts -- sync`. */
  'account.sync': {
    accountId: string;
    reason: 'connect' | 'reconnect' | 'periodic' | 'manual' | 'operator';
  };
  /** Exchange the account's long-lived token for a fresh 60-day one. */
  'account.refresh-token': { accountId: string };
  /** Find tokens that expire soon and queue a refresh for each. */
  'tokens.refresh-sweep': Record<string, never>;
  /** Queue a sync for accounts not synced recently. */
  'accounts.sync-sweep': Record<string, never>;
  /**
   * Deliver, in order, the pending webhook deliveries of one endpoint for one account (`null`:
   * the endpoint's pings). The rows in webhook_deliveries are the truth; this only says "look".
   */
  'webhook.deliver': { endpointId: string; accountId: string | null };
  /**
   * Deliver what is due for every pair of one endpoint, many pairs at once and each in order:
   * what a change's fan-out asks for, so a busy endpoint has one job, not one per account.
   */
  'webhook.deliver-endpoint': { endpointId: string };
  /** Wake the pairs whose next delivery is due but that no job is looking after (lost, killed). */
  'webhooks.sweep': Record<string, never>;
}

export type JobName = keyof JobPayloads;

export const JOB_NAMES: readonly JobName[] = [
  'account.sync',
  'account.refresh-token',
  'tokens.refresh-sweep',
  'accounts.sync-sweep',
  'webhook.deliver',
  'webhook.deliver-endpoint',
  'webhooks.sweep',
];

/**
 * The jobs about one account, one Instagram call each: their lease follows the Instagram
 * client's deadline. The others (the sweeps) only read the database and queue jobs.
 */
export const PER_ACCOUNT_JOBS: ReadonlySet<JobName> = new Set<JobName>([
  'account.sync',
  'account.refresh-token',
]);
