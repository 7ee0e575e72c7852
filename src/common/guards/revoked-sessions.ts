/** Injection token of the process's list of revoked sessions (provided by the auth module). */
export const REVOKED_SESSIONS = Symbol('REVOKED_SESSIONS');

/** Sessions signed out or deleted recently: their Bearer JWTs are refused without a query. */
export interface RevokedSessions {
  isRevoked(sessionId: string): boolean;
}
