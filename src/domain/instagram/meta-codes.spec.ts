import { describe, expect, it } from 'vitest';
import {
  codeFamily,
  codeLabel,
  rateLimitScopeOf,
  storedCodeFamily,
  tokenInvalidReason,
  tokenReasonBrief,
  tokenReasonClause,
} from './meta-codes';

describe("Meta's codes", () => {
  it.each([
    [4, undefined, 'rate_limited'],
    [80002, undefined, 'rate_limited'],
    [190, 460, 'token_invalid'],
    [102, undefined, 'token_invalid'],
    [10, undefined, 'permission'],
    [200, undefined, 'permission'],
    [299, undefined, 'permission'],
    [2, undefined, 'transient'],
    [100, 33, 'not_found'],
    [803, undefined, 'not_found'],
    [100, undefined, 'bad_request'],
    [2500, undefined, 'bad_request'],
    [300, undefined, undefined],
  ] as const)('code %s/%s is %s', (code, subcode, family) => {
    expect(codeFamily(code, subcode)).toBe(family);
  });

  it('rate limits name whose budget they spend', () => {
    expect(rateLimitScopeOf(4)).toBe('app');
    expect(rateLimitScopeOf(17)).toBe('user');
    expect(rateLimitScopeOf(80099)).toBe('business_use_case');
    expect(rateLimitScopeOf(190)).toBeUndefined();
  });

  it('reads codes as an account row keeps them; ours have no family', () => {
    expect(storedCodeFamily('190', '460')).toBe('token_invalid');
    expect(storedCodeFamily('10')).toBe('permission');
    expect(storedCodeFamily('TIMEOUT')).toBeUndefined();
  });

  it('a subcode names why a token died, from a number or a string', () => {
    expect(tokenInvalidReason(460)).toBe('password_changed');
    expect(tokenInvalidReason('460')).toBe('password_changed');
    expect(tokenInvalidReason(999)).toBe('unknown');
    expect(tokenInvalidReason(undefined)).toBe('unknown');
    expect(tokenReasonBrief('password_changed')).toBe('password changed');
    expect(tokenReasonClause('password_changed')).toBe('the password was changed');
    expect(tokenReasonClause('unknown')).toBe('the token is no longer valid');
  });

  it('labels codes the way people see them', () => {
    expect(codeLabel(190, 460)).toBe('190/460');
    expect(codeLabel('4')).toBe('4');
  });
});
