import { Global, Module } from '@nestjs/common';
import type { AppConfig } from '../../config/config';
import { APP_CONFIG } from '../../config/config.module';
import { TokenCipher } from './token-cipher';
import { TokenVault } from './token-vault';
import { WebhookSecretCipher } from './webhook-secret-cipher';

/**
 * The token vault, for every module. The cipher is provided to the vault but not exported: the
 * vault is the only code that turns ciphertext back into a token. Webhook signing secrets share
 * the key ring through their own cipher, which only ever opens secrets.
 */
@Global()
@Module({
  providers: [
    {
      provide: TokenCipher,
      useFactory: (config: AppConfig) => TokenCipher.fromKeyString(config.tokenEncryptionKey),
      inject: [APP_CONFIG],
    },
    TokenVault,
    {
      provide: WebhookSecretCipher,
      useFactory: (cipher: TokenCipher) => new WebhookSecretCipher(cipher),
      inject: [TokenCipher],
    },
  ],
  exports: [TokenVault, WebhookSecretCipher],
})
export class CryptoModule {}
