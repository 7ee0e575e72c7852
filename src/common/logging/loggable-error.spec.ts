import { describe, expect, it } from 'vitest';
import { loggableError } from './loggable-error';

/** Shaped like a pg-promise query error: the failed query and its values ride along. */
function queryError(): Error {
  const error = new Error('duplicate key value violates unique constraint "users_email_key"');
  Object.assign(error, {
    code: '23505',
    severity: 'ERROR',
    detail: 'Key (email)=(someone@example.com) already exists.',
    query: 'INSERT INTO users (email, password_hash) VALUES ($1, $2)',
    params: ['someone@example.com', 'scrypt$secret-hash'],
  });
  return error;
}

describe('loggableError', () => {
  it('keeps the class, message and code, and nothing else', () => {
    const summary = loggableError(queryError());
    expect(summary).toEqual({
      type: 'Error',
      message: 'duplicate key value violates unique constraint "users_email_key"',
      code: '23505',
    });
    expect(JSON.stringify(summary)).not.toMatch(/scrypt|someone@example\.com|INSERT/);
  });

  it('adds the stack only when asked', () => {
    const error = queryError();
    expect(loggableError(error, { stack: true })).toEqual({
      type: 'Error',
      message: error.message,
      code: '23505',
      stack: error.stack,
    });
    expect(loggableError(error, { stack: false })).not.toHaveProperty('stack');
    expect(loggableError(error)).not.toHaveProperty('stack');
  });

  it('names subclasses and keeps numeric codes; drops codes of other types', () => {
    class InstagramDown extends Error {
      override name = 'InstagramDown';
      code = 2;
    }
    expect(loggableError(new InstagramDown('try later'))).toEqual({
      type: 'InstagramDown',
      message: 'try later',
      code: 2,
    });
    const odd = Object.assign(new TypeError('bad'), { code: { nested: 'secret' } });
    expect(loggableError(odd)).toEqual({ type: 'TypeError', message: 'bad' });
  });

  it('prints a thrown non-Error as text, without its properties, and never throws', () => {
    expect(loggableError('plain string')).toEqual({ message: 'plain string' });
    expect(loggableError(undefined)).toEqual({ message: 'undefined' });
    expect(loggableError({ query: 'SELECT 1', params: ['secret'] })).toEqual({
      message: '[object Object]',
    });
    const hostile = {
      toString(): string {
        throw new Error('no');
      },
    };
    expect(loggableError(hostile)).toEqual({ message: 'unprintable thrown value' });
    expect(loggableError(Object.create(null))).toEqual({ message: 'unprintable thrown value' });
  });
});
