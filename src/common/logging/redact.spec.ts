import { describe, expect, it } from 'vitest';
import { redactUrl } from './redact';

describe('redactUrl (request paths)', () => {
  it('hides credential parameters and keeps the rest', () => {
    expect(redactUrl('/instagram/oauth/callback?code=abc&state=def&x=1')).toBe(
      '/instagram/oauth/callback?code=[REDACTED]&state=[REDACTED]&x=1',
    );
  });

  it("hides a connect link's token in its path, and only there", () => {
    const token = 'q2-7wYkPz0oXb1mV9cLr4tN8sJh6uFgAeDiKoQyWnE';
    expect(redactUrl(`/connect/${token}`)).toBe('/connect/[REDACTED]');
    expect(redactUrl(`/connect/${token}/authorize?utm=1`)).toBe(
      '/connect/[REDACTED]/authorize?utm=1',
    );
    expect(redactUrl(`https://ssell.example/connect/${token}`)).toBe(
      'https://ssell.example/connect/[REDACTED]',
    );
    expect(redactUrl('/connect/done?connected=lena.bakes')).toBe(
      '/connect/done?connected=lena.bakes',
    );
    expect(redactUrl('/connect/donut')).toBe('/connect/[REDACTED]');
    expect(redactUrl('/instagram/connect-links/abc')).toBe('/instagram/connect-links/abc');
  });
});
