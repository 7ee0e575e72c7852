import { Agent, errors as undiciErrors, request } from 'undici';
import { guardedLookup, parseTargetUrl, type Resolver, TargetRefusedError } from './target-address';

export interface WebhookClientOptions {
  /** The whole exchange, connect to the last byte of the answer. */
  timeoutMs: number;
  allowPrivateTargets: boolean;
  /** Sockets kept per receiver origin: deliveries to one receiver reuse them. */
  connectionsPerOrigin?: number;
  /** For tests: the resolver connections use. Default `dns.lookup`. */
  lookup?: Resolver;
}

export type WebhookFailure =
  /** The receiver answered, but not 2xx (a redirect included: they are not followed). */
  | 'http_status'
  | 'timeout'
  | 'network'
  /** The URL or what its host resolves to is not a target (see target-address.ts). */
  | 'refused';

export type WebhookSendResult =
  | { ok: true; statusCode: number; durationMs: number }
  | {
      ok: false;
      reason: WebhookFailure;
      statusCode: number | null;
      /** For the delivery log: no body, no header, nothing the receiver chose beyond a status. */
      error: string;
      durationMs: number;
    };

/** Answers beyond this are not read: a receiver has no reason to send more than a few bytes. */
const MAX_ANSWER_BYTES = 64 * 1024;

/**
 * The one HTTP client for webhook deliveries: POST only, a deadline over the whole exchange,
 * redirects never followed, and no connection to an address the SSRF policy refuses, checked
 * again at every new connection after DNS resolution (the checked address is the one connected
 * to). Never throws for the receiver's behaviour: every outcome is a result.
 */
export class WebhookClient {
  private readonly agent: Agent;

  constructor(private readonly options: WebhookClientOptions) {
    this.agent = new Agent({
      connect: {
        timeout: options.timeoutMs,
        lookup: guardedLookup(options.allowPrivateTargets, options.lookup),
      },
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      connections: options.connectionsPerOrigin ?? 16,
      keepAliveTimeout: 10_000,
    });
  }

  async post(
    rawUrl: string,
    body: string,
    headers: Record<string, string>,
  ): Promise<WebhookSendResult> {
    const started = Date.now();
    const elapsed = () => Date.now() - started;
    let url: URL;
    try {
      url = parseTargetUrl(rawUrl, this.options.allowPrivateTargets);
    } catch (error) {
      return this.failure(error, undefined, elapsed());
    }
    const signal = AbortSignal.timeout(this.options.timeoutMs);
    try {
      const response = await request(url, {
        method: 'POST',
        dispatcher: this.agent,
        signal,
        headers: {
          ...headers,
          'content-type': 'application/json',
          'user-agent': 'ssell-webhooks/1',
        },
        body,
      });
      // Read (a little) and drop the answer, so the socket goes back to the pool.
      await response.body.dump({ limit: MAX_ANSWER_BYTES }).catch(() => undefined);
      const { statusCode } = response;
      if (statusCode >= 200 && statusCode < 300) {
        return { ok: true, statusCode, durationMs: elapsed() };
      }
      const redirect = statusCode >= 300 && statusCode < 400;
      return {
        ok: false,
        reason: 'http_status',
        statusCode,
        error: redirect
          ? `HTTP ${statusCode}: a redirect (not followed)`
          : `HTTP ${statusCode} from the receiver`,
        durationMs: elapsed(),
      };
    } catch (error) {
      return this.failure(error, signal, elapsed());
    }
  }

  async close(): Promise<void> {
    await this.agent.close();
  }

  private failure(
    error: unknown,
    signal: AbortSignal | undefined,
    durationMs: number,
  ): WebhookSendResult {
    // The guarded lookup's refusal arrives as the connect error (or its cause).
    const cause = (error as { cause?: unknown }).cause;
    const refusal =
      error instanceof TargetRefusedError
        ? error
        : cause instanceof TargetRefusedError
          ? cause
          : undefined;
    if (refusal) {
      return { ok: false, reason: 'refused', statusCode: null, error: refusal.message, durationMs };
    }
    if (
      signal?.aborted ||
      error instanceof undiciErrors.HeadersTimeoutError ||
      error instanceof undiciErrors.BodyTimeoutError ||
      error instanceof undiciErrors.ConnectTimeoutError
    ) {
      return {
        ok: false,
        reason: 'timeout',
        statusCode: null,
        error: `no answer within ${this.options.timeoutMs} ms`,
        durationMs,
      };
    }
    const code = (error as { code?: unknown }).code;
    return {
      ok: false,
      reason: 'network',
      statusCode: null,
      error: `the receiver could not be reached${typeof code === 'string' ? ` (${code})` : ''}`,
      durationMs,
    };
  }
}
