export * from './instagram.client';
export * from './instagram.errors';
export { redactUrl, scrubMessage, REDACTED } from './redact';
export * from './usage-headers';
