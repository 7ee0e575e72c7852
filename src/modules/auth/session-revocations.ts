import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import type { Logger } from 'pino';
import type { RevokedSessions } from '../../common/guards/revoked-sessions';
import { loggableError } from '../../common/logging/loggable-error';
import { ROOT_LOGGER } from '../../common/logging/logging.module';
import { MAX_JWT_TTL_SECONDS } from '../../config/env.schema';
import {
  type ISessionRepository,
  SESSION_REPOSITORY,
} from '../../domain/repositories/session.repository.interface';
import { isDatabaseUnavailable } from '../../infrastructure/database/database-errors';
import { DATABASE_NAME, DATABASE_URL } from '../../infrastructure/database/database.module';
import { NotificationListener } from '../../infrastructure/database/notification-listener';

/** Raised by the `sessions` triggers (migration 006) at commit, with the session id. */
export const SESSION_REVOKED_CHANNEL = 'ssell_session_revoked';
/** Clock difference between processes (and the database) that a revocation must outlast. */
const CLOCK_SKEW_MS = 60_000;
/**
 * How long a revocation matters: a session's JWTs are minted before it is revoked and live at
 * most MAX_JWT_TTL_SECONDS, so after that nothing it could refuse is still valid.
 */
const RELEVANT_MS = MAX_JWT_TTL_SECONDS * 1000 + CLOCK_SKEW_MS;
const PRUNE_EVERY_MS = 15 * 60_000;

/**
 * This process's list of revoked sessions, so the guard refuses a signed-out session's Bearer JWT
 * without a database read per request. PostgreSQL NOTIFY brings each revocation (logout, a
 * deleted session or user) to every process within moments; on every (re)connect of the listener
 * the recent ones are reloaded from `session_revocations`, so one made while this process was
 * not listening is not missed. Entries expire when no JWT they could refuse is still valid.
 */
@Injectable()
export class SessionRevocations implements RevokedSessions, OnModuleInit, OnApplicationShutdown {
  private readonly revokedUntil = new Map<string, number>();
  private readonly listener: NotificationListener;
  private readonly logger: Logger;
  private pruneTimer: NodeJS.Timeout | undefined;

  constructor(
    @Inject(SESSION_REPOSITORY) private readonly sessions: ISessionRepository,
    @Inject(DATABASE_URL) databaseUrl: string,
    @Inject(DATABASE_NAME) databaseName: string,
    @Inject(ROOT_LOGGER) logger: Logger,
  ) {
    this.logger = logger.child({ component: 'session-revocations' });
    this.listener = new NotificationListener({
      url: databaseUrl,
      channel: SESSION_REVOKED_CHANNEL,
      name: `${databaseName}-listen`,
      onNotification: (sessionId) => this.add(sessionId, Date.now()),
      onListening: () => this.reload(),
      onDisconnect: (error) => {
        // A database outage is logged once, by the pool (its connections fail too); this
        // connection alone being cut is not one.
        const level = isDatabaseUnavailable(error) ? 'debug' : 'warn';
        this.logger[level]({ err: loggableError(error) }, 'revocation listener lost; reconnecting');
      },
      onReconnect: () =>
        this.logger.info(
          { revoked: this.revokedUntil.size },
          'revocation listener back; revoked sessions reloaded',
        ),
    });
  }

  async onModuleInit(): Promise<void> {
    await this.listener.start();
    this.pruneTimer = setInterval(() => void this.prune(), PRUNE_EVERY_MS);
    this.pruneTimer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.pruneTimer) clearInterval(this.pruneTimer);
    await this.listener.close();
  }

  isRevoked(sessionId: string): boolean {
    const until = this.revokedUntil.get(sessionId);
    if (until === undefined) return false;
    if (until > Date.now()) return true;
    this.revokedUntil.delete(sessionId);
    return false;
  }

  /** Known here at once (this process signed it out); the others hear of it by NOTIFY. */
  add(sessionId: string, revokedAtMs: number): void {
    const until = revokedAtMs + RELEVANT_MS;
    if ((this.revokedUntil.get(sessionId) ?? 0) < until) this.revokedUntil.set(sessionId, until);
  }

  private async reload(): Promise<void> {
    const since = new Date(Date.now() - RELEVANT_MS);
    for (const { sessionId, revokedAt } of await this.sessions.listRevokedSince(since)) {
      this.add(sessionId, revokedAt.getTime());
    }
  }

  private async prune(): Promise<void> {
    const now = Date.now();
    for (const [sessionId, until] of this.revokedUntil) {
      if (until <= now) this.revokedUntil.delete(sessionId);
    }
    // Any process may do it; twice is harmless.
    await this.sessions
      .pruneRevocations(new Date(now - 2 * RELEVANT_MS))
      .catch((error: unknown) =>
        this.logger.debug({ err: loggableError(error) }, 'revocation prune skipped'),
      );
  }
}
