import { randomBytes } from 'node:crypto';
import type { SealedSecret } from '../../domain/entities/webhook.entity';
import { TokenCipher, TokenDecryptionError, type TokenDecryptionFailure } from './token-cipher';

/** Recognisable in a receiver's configuration, like Stripe's `whsec_`; 256 random bits. */
export const WEBHOOK_SECRET_PREFIX = 'whsec_';
const SECRET_BYTES = 32;

/** A stored secret that did not open: the endpoint id and the key version, nothing else. */
export class WebhookSecretError extends Error {
  constructor(
    readonly reason: TokenDecryptionFailure,
    readonly endpointId: string,
    readonly keyVersion: number,
  ) {
    super(
      `cannot decrypt the signing secret of webhook ${endpointId} (key v${keyVersion}): ${reason}`,
    );
    this.name = 'WebhookSecretError';
  }
}

/**
 * Webhook signing secrets at rest: the token cipher's AES-256-GCM and key ring, with the endpoint
 * id (prefixed, so no account token's ciphertext could ever pass for a secret) as associated data.
 * Secrets must be recoverable, unlike passwords: every delivery is signed with one.
 */
export class WebhookSecretCipher {
  constructor(private readonly cipher: TokenCipher) {}

  /** A new secret, as shown to its owner once. */
  static generate(): string {
    return `${WEBHOOK_SECRET_PREFIX}${randomBytes(SECRET_BYTES).toString('base64url')}`;
  }

  get currentKeyVersion(): number {
    return this.cipher.currentKeyVersion;
  }

  hasKeyVersion(version: number): boolean {
    return this.cipher.hasKeyVersion(version);
  }

  /** Key rotation: the same secret under the current key; null if it does not open. */
  reseal(sealed: SealedSecret, endpointId: string): SealedSecret | null {
    try {
      return this.seal(this.open(sealed, endpointId), endpointId);
    } catch (error) {
      if (error instanceof WebhookSecretError) return null;
      throw error;
    }
  }

  seal(secret: string, endpointId: string): SealedSecret {
    return this.cipher.encrypt(secret, associatedData(endpointId));
  }

  open(sealed: SealedSecret, endpointId: string): string {
    try {
      return this.cipher.decrypt(sealed, associatedData(endpointId));
    } catch (error) {
      if (error instanceof TokenDecryptionError) {
        throw new WebhookSecretError(error.reason, endpointId, sealed.keyVersion);
      }
      throw error;
    }
  }
}

function associatedData(endpointId: string): string {
  return `webhook-endpoint:${endpointId.toLowerCase()}`;
}
