import { describe, expect, it } from 'vitest';
import { redactUrl, scrubMessage } from './redact';

describe('redactUrl', () => {
  it('replaces every credential-bearing query value', () => {
    const url =
      'https://graph.instagram.com/access_token?grant_type=ig_exchange_token&client_secret=s3cret&access_token=IGAAxyz&code=AQabc&appsecret_proof=beef&input_token=t&fb_exchange_token=f&fields=id';
    const redacted = redactUrl(url);
    for (const secret of [
      's3cret',
      'IGAAxyz',
      'AQabc',
      'beef',
      'input_token=t&',
      'fb_exchange_token=f&',
    ]) {
      expect(redacted).not.toContain(secret);
    }
    expect(redacted).toContain('grant_type=ig_exchange_token');
    expect(redacted).toContain('access_token=[REDACTED]');
    expect(redacted).toContain('fields=id');
  });

  it('drops userinfo and survives garbage', () => {
    expect(redactUrl('https://user:pass@example.com/x')).toBe('https://example.com/x');
    expect(redactUrl('not a url')).toBe('[REDACTED]');
  });
});

describe('scrubMessage', () => {
  it('removes known secrets and token-shaped strings', () => {
    const message = scrubMessage(
      'bad token IGAAQ1w2e3r4t5y6u7i8o9p0asdfghjkl and secret hunter22 and EAACEdEose0cBAabcdefghijklmnop',
      ['hunter22'],
    );
    expect(message).toBe('bad token [REDACTED] and secret [REDACTED] and [REDACTED]');
  });

  it('keeps ordinary messages readable and bounded', () => {
    expect(scrubMessage('(#100) Tried accessing nonexisting field (x) on node type (User)')).toBe(
      '(#100) Tried accessing nonexisting field (x) on node type (User)',
    );
    expect(scrubMessage('line\nbreak')).toBe('line break');
    expect(
      scrubMessage('x'.repeat(10).concat(' ', 'word '.repeat(200))).length,
    ).toBeLessThanOrEqual(500);
  });
});
