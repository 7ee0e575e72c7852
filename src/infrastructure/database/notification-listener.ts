import { parseIntoClientConfig } from 'pg-connection-string';
import pg from 'pg';

export interface NotificationListenerOptions {
  url: string;
  channel: string;
  /** `application_name` of the listening connection. */
  name: string;
  onNotification(payload: string): void;
  /**
   * After every (re)connect, once LISTEN is in place: catch up on what was missed while not
   * listening. Notifications that arrive meanwhile are delivered too (they may overlap).
   */
  onListening(): Promise<void>;
  /** The connection failed or could not be made (once per failure streak, not per attempt). */
  onDisconnect(error: unknown): void;
  /** Listening again after a failure. */
  onReconnect(): void;
  connectTimeoutMs?: number;
}

/** Waits between reconnect attempts; the last one repeats. */
const BACKOFF_MS = [250, 500, 1000, 2000, 5000];

/**
 * One dedicated connection that LISTENs on a channel (a pooled connection cannot: it is handed to
 * other callers between queries), and comes back by itself when the connection is lost.
 */
export class NotificationListener {
  private client: pg.Client | undefined;
  private closed = false;
  private failures = 0;
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: NotificationListenerOptions) {}

  /** Resolves once listening the first time; rejects if that first attempt fails. */
  async start(): Promise<void> {
    await this.connect();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({
      ...parseIntoClientConfig(this.options.url),
      application_name: this.options.name,
      connectionTimeoutMillis: this.options.connectTimeoutMs ?? 2000,
      // A peer that vanished without a reset (a dropped network) is noticed by the kernel.
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
    });
    let lost = false;
    const onLost = (error: unknown) => {
      if (lost) return;
      lost = true;
      if (this.client === client) this.client = undefined;
      client.removeAllListeners('notification');
      void client.end().catch(() => undefined);
      if (!this.closed) this.scheduleReconnect(error);
    };
    client.on('error', onLost);
    client.on('end', () => onLost(new Error('Connection terminated')));
    client.on('notification', (message) => {
      if (message.channel === this.options.channel && message.payload !== undefined) {
        this.options.onNotification(message.payload);
      }
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${pg.escapeIdentifier(this.options.channel)}`);
      this.client = client;
      await this.options.onListening();
    } catch (error) {
      // This attempt's failure is reported by whoever awaits it, not by the 'end' it causes.
      lost = true;
      if (this.client === client) this.client = undefined;
      await client.end().catch(() => undefined);
      throw error;
    }
    if (this.failures > 0) this.options.onReconnect();
    this.failures = 0;
  }

  private scheduleReconnect(error: unknown): void {
    if (this.failures === 0) this.options.onDisconnect(error);
    const delay = BACKOFF_MS[Math.min(this.failures, BACKOFF_MS.length - 1)]!;
    this.failures += 1;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this.closed) return;
      this.connect().catch((failure: unknown) => this.scheduleReconnect(failure));
    }, delay);
    this.retryTimer.unref();
  }
}
