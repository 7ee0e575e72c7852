import { unavailableReason } from './database-errors';

export interface DatabaseHealthLog {
  error(details: Record<string, unknown>, message: string): void;
  info(details: Record<string, unknown>, message: string): void;
}

/**
 * Whether PostgreSQL answers, as seen by one pool. An outage is logged once when it begins and
 * once when it ends (with how many requests were refused meanwhile), never once per request: a
 * stopped database under load would otherwise write a line, and a stack, for every request.
 * While it is down a probe asks every `probeIntervalMs`, so the end is noticed (and logged) even
 * when no request comes.
 */
export class DatabaseHealth {
  private downSince: number | undefined;
  private refused = 0;
  private probeTimer: NodeJS.Timeout | undefined;
  private probing = false;
  private log: DatabaseHealthLog | undefined;

  constructor(
    private readonly probe: () => Promise<unknown>,
    private readonly probeIntervalMs = 1000,
  ) {}

  /** Where outages are reported; without one they are only counted. */
  reportTo(log: DatabaseHealthLog): void {
    this.log = log;
  }

  get isDown(): boolean {
    return this.downSince !== undefined;
  }

  /** A query or connection failed because the server is unavailable. */
  failed(error: unknown): void {
    if (this.downSince !== undefined) return;
    this.downSince = Date.now();
    this.refused = 0;
    this.log?.error(
      { reason: unavailableReason(error) },
      'PostgreSQL is not answering: requests that need it answer 503 until it is back',
    );
    this.probeTimer = setInterval(() => void this.runProbe(), this.probeIntervalMs);
    this.probeTimer.unref();
  }

  /** A request was answered 503 because of the outage (counted for the closing line). */
  refusedRequest(): void {
    this.refused += 1;
  }

  /** A query succeeded: if an outage was on, it is over. */
  succeeded(): void {
    if (this.downSince === undefined) return;
    const downMs = Date.now() - this.downSince;
    this.log?.info(
      { downMs, refusedRequests: this.refused },
      `PostgreSQL answers again after ${(downMs / 1000).toFixed(1)} s; ${this.refused} requests were answered 503 meanwhile`,
    );
    this.downSince = undefined;
    this.stopProbe();
  }

  close(): void {
    this.stopProbe();
  }

  private stopProbe(): void {
    if (this.probeTimer) clearInterval(this.probeTimer);
    this.probeTimer = undefined;
  }

  private async runProbe(): Promise<void> {
    if (this.probing) return;
    this.probing = true;
    try {
      await this.probe();
      this.succeeded();
    } catch {
      // Still down: the opening line said so already.
    } finally {
      this.probing = false;
    }
  }
}
