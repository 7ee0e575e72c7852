import { beforeEach, describe, expect, it } from 'vitest';
import {
  accountServicesWithFakes,
  type AccountServicesWithFakes,
} from '../../../../test/fakes/account-services';
import { FRESH_TOKEN, TOKEN } from '../../../../test/fakes/fake-token-vault';
import { tokenError } from '../../../../test/fakes/instagram-failures';
import { InstagramTransientError } from '../../../infrastructure/instagram';

let fakes: AccountServicesWithFakes;

beforeEach(() => {
  fakes = accountServicesWithFakes();
});

describe('logging', () => {
  it('never logs a token', async () => {
    const { client, connected, nextProfile, logLines, services } = fakes;
    const account = connected();
    nextProfile(new InstagramTransientError(`failed with ${TOKEN}`, { code: 1 }));
    await services.sync.sync(account.id, 'manual');
    nextProfile(tokenError());
    await services.sync.refreshAccountStatus(account.id);
    client.refreshLongLivedToken.mockRejectedValueOnce(tokenError());
    await services.tokens.refreshToken(account.id);
    await services.account.deleteAccount(account.id, account.userId);
    expect(logLines.length).toBeGreaterThan(3);
    for (const line of logLines) {
      expect(line).not.toContain(TOKEN);
      expect(line).not.toContain(FRESH_TOKEN);
    }
  });
});
