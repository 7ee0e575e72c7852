import type {
  StoreTokenInput,
  StoredToken,
  TokenMetadata,
} from '../../src/infrastructure/crypto/token-vault';

const HOUR = 3_600_000;
/** The plaintext every seeded token has: what no row, event or log line may contain. */
export const TOKEN = 'IGAAunit-test-token-secret-value';
export const FRESH_TOKEN = 'IGAAunit-fresh-token-secret-value';

/** Tokens in plaintext in a Map: the vault's contract without the cipher or the SQL. */
export class FakeTokenVault {
  tokens = new Map<string, StoredToken>();
  destroyed: string[] = [];
  /** Runs inside metadata(): lets a test replace the token "concurrently". */
  onMetadata: ((id: string) => void) | undefined;

  put(accountId: string, overrides: Partial<StoredToken> = {}): StoredToken {
    const token: StoredToken = {
      accessToken: TOKEN,
      tokenType: 'long_lived',
      issuedAt: new Date(Date.now() - 10 * 24 * HOUR),
      expiresAt: new Date(Date.now() + 50 * 24 * HOUR),
      lastRefreshedAt: null,
      scopes: ['instagram_business_basic'],
      keyVersion: 1,
      ...overrides,
    };
    this.tokens.set(accountId, token);
    return token;
  }
  async store(accountId: string, input: StoreTokenInput): Promise<TokenMetadata> {
    const replaced = this.tokens.has(accountId);
    const token = this.put(accountId, {
      accessToken: input.accessToken,
      tokenType: input.tokenType,
      issuedAt: input.issuedAt ?? new Date(),
      expiresAt: input.expiresAt,
      scopes: input.scopes,
      lastRefreshedAt: replaced ? new Date() : null,
    });
    const { accessToken: _secret, ...metadata } = token;
    return metadata;
  }
  async read(accountId: string) {
    return this.tokens.get(accountId) ?? null;
  }
  async metadata(accountId: string): Promise<TokenMetadata | null> {
    this.onMetadata?.(accountId);
    const token = this.tokens.get(accountId);
    if (!token) return null;
    const { accessToken: _secret, ...metadata } = token;
    return metadata;
  }
  async destroy(accountId: string) {
    this.destroyed.push(accountId);
    return this.tokens.delete(accountId);
  }
}
