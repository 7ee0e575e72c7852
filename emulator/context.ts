import { randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { EmulatorAccount, EmulatorState, RequestLogEntry } from './state';

/** What the emulator prints: method, path, status, never a query string or body. */
export interface EmulatorLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

interface RequestInfo {
  entry?: RequestLogEntry;
  account?: EmulatorAccount;
}

/** Shared by every route module. */
export class EmulatorContext {
  private readonly info = new WeakMap<FastifyRequest, RequestInfo>();
  private readonly sleepers = new Set<() => void>();
  readonly pictureKey = randomBytes(32);

  constructor(
    readonly state: EmulatorState,
    readonly appId: string,
    readonly appSecret: string,
    readonly graphVersionPattern: RegExp,
    readonly publicUrl: string | undefined,
  ) {}

  requestInfo(request: FastifyRequest): RequestInfo {
    let info = this.info.get(request);
    if (!info) {
      info = {};
      this.info.set(request, info);
    }
    return info;
  }

  /** Notes whom a request acts for: usage headers, injections and BUC accounting use it. */
  actingFor(request: FastifyRequest, account: EmulatorAccount | undefined): void {
    if (!account) return;
    this.requestInfo(request).account = account;
    this.state.recordAccountCall(account.userId);
  }

  /** Origin for URLs the emulator hands out (profile pictures). */
  origin(request: FastifyRequest): string {
    return this.publicUrl ?? `${request.protocol}://${request.headers.host ?? '127.0.0.1'}`;
  }

  /** A delay that `close()` cuts short, so a pending hang never holds the process. */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.sleepers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.sleepers.add(done);
    });
  }

  wakeAll(): void {
    for (const wake of [...this.sleepers]) wake();
  }
}

export function fbtraceId(): string {
  return randomBytes(8).toString('base64url').slice(0, 11);
}

export interface GraphErrorSpec {
  message: string;
  code: number;
  subcode?: number;
  type?: string;
  isTransient?: boolean;
}

/** Meta's Graph error envelope. */
export function sendGraphError(
  reply: FastifyReply,
  status: number,
  spec: GraphErrorSpec,
  headers: Record<string, string> = {},
): FastifyReply {
  const traceId = fbtraceId();
  const error: Record<string, unknown> = {
    message: spec.message,
    type: spec.type ?? 'OAuthException',
    code: spec.code,
  };
  if (spec.subcode !== undefined) error.error_subcode = spec.subcode;
  if (spec.isTransient !== undefined) error.is_transient = spec.isTransient;
  error.fbtrace_id = traceId;
  if (spec.code === 190) {
    headers['www-authenticate'] =
      `OAuth "Facebook Platform" "invalid_token" "${spec.message.replaceAll('"', "'")}"`;
  }
  return reply
    .code(status)
    .headers({ ...headers, 'x-fb-trace-id': traceId })
    .type('application/json; charset=UTF-8')
    .send({ error });
}

/** The code exchange's own, non-Graph error body. */
export function sendCodeExchangeError(reply: FastifyReply, message: string): FastifyReply {
  return reply
    .code(400)
    .type('application/json; charset=UTF-8')
    .send({ error_type: 'OAuthException', code: 400, error_message: message });
}

export function tokenError(reply: FastifyReply, subcode: number, message: string): FastifyReply {
  return sendGraphError(reply, 400, { message, code: 190, subcode });
}

/** Query parameter as one string (the first, if repeated). */
export function queryParam(request: FastifyRequest, name: string): string | undefined {
  const value = (request.query as Record<string, unknown> | undefined)?.[name];
  const first: unknown = Array.isArray(value) ? (value as unknown[])[0] : value;
  return typeof first === 'string' ? first : undefined;
}

export function bodyParam(request: FastifyRequest, name: string): string | undefined {
  const body = request.body;
  if (typeof body !== 'object' || body === null) return undefined;
  const value = (body as Record<string, unknown>)[name];
  return typeof value === 'string' ? value : undefined;
}

/**
 * Applies the next injected failure that matches this request. Returns true when the reply has
 * been dealt with (sent or the connection dropped); a hang returns false after its delay so the
 * request then proceeds normally.
 */
export async function applyInjection(
  ctx: EmulatorContext,
  request: FastifyRequest,
  reply: FastifyReply,
  account: EmulatorAccount | undefined,
): Promise<boolean> {
  const injection = ctx.state.takeInjection(account?.userId, request.url.split('?')[0]);
  if (!injection) return false;
  switch (injection.kind) {
    case 'hang':
      await ctx.sleep(injection.delayMs ?? 30_000);
      return false;
    case 'drop': {
      const entry = ctx.requestInfo(request).entry;
      if (entry) entry.dropped = true;
      reply.hijack();
      request.raw.socket.destroy();
      return true;
    }
    case 'rate_limit_app':
      sendGraphError(
        reply,
        403,
        { message: '(#4) Application request limit reached', code: 4, isTransient: true },
        { 'x-app-usage': JSON.stringify({ call_count: 100, total_time: 36, total_cputime: 18 }) },
      );
      return true;
    case 'rate_limit_account': {
      const id = account?.userId ?? ctx.state.listAccounts()[0]?.userId ?? '0';
      const usage = {
        [id]: [
          {
            type: 'instagram',
            call_count: 100,
            total_cputime: 27,
            total_time: 44,
            estimated_time_to_regain_access: injection.regainMinutes ?? 15,
          },
        ],
      };
      sendGraphError(
        reply,
        400,
        {
          message:
            '(#80002) There have been too many calls to this Instagram account. Wait a bit and try again. For more info, please refer to https://developers.facebook.com/docs/graph-api/overview/rate-limiting.',
          code: 80002,
        },
        { 'x-business-use-case-usage': JSON.stringify(usage) },
      );
      return true;
    }
    case 'transient':
      sendGraphError(reply, 500, {
        message: 'An unexpected error has occurred. Please retry your request later.',
        code: 2,
        isTransient: true,
      });
      return true;
    case 'server_error_html':
      reply
        .code(502)
        .type('text/html; charset=utf-8')
        .send('<html><body><h1>502 Bad Gateway</h1></body></html>');
      return true;
    case 'error': {
      const spec = injection.error ?? { code: 1 };
      sendGraphError(reply, injection.status ?? 400, {
        message: spec.message ?? `(#${spec.code}) Injected error`,
        code: spec.code,
        ...(spec.subcode !== undefined ? { subcode: spec.subcode } : {}),
        ...(spec.type !== undefined ? { type: spec.type } : {}),
        ...(spec.isTransient !== undefined ? { isTransient: spec.isTransient } : {}),
      });
      return true;
    }
  }
}
