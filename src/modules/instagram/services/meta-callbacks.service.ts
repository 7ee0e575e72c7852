import { randomInt } from 'node:crypto';
import { BadRequestException, Inject, Injectable, NotFoundException } from '@nestjs/common';
import type { Logger } from 'pino';
import { loggableError } from '../../../common/logging/loggable-error';
import { ROOT_LOGGER } from '../../../common/logging/logging.module';
import { APP_CONFIG } from '../../../config/config.module';
import type { AppConfig } from '../../../config/config';
import { AccountStatus } from '../../../domain/entities/client-account.entity';
import { LOCAL_ERROR_CODES } from '../../../domain/instagram/meta-codes';
import {
  ACCOUNT_EVENT_REPOSITORY,
  type IAccountEventRepository,
} from '../../../domain/repositories/account-event.repository.interface';
import {
  CLIENT_ACCOUNT_REPOSITORY,
  type IClientAccountRepository,
} from '../../../domain/repositories/client-account.repository.interface';
import {
  CURRENT_ACCOUNT_REPOSITORY,
  type ICurrentAccountRepository,
} from '../../../domain/repositories/current-account.repository.interface';
import {
  DATA_DELETION_REPOSITORY,
  type DataDeletionRequest,
  type IDataDeletionRepository,
} from '../../../domain/repositories/data-deletion.repository.interface';
import { TokenVault } from '../../../infrastructure/crypto/token-vault';
import type { Db } from '../../../infrastructure/database/database';
import { PG } from '../../../infrastructure/database/database.module';
import { AccountStatusService } from './account-status.service';
import {
  assertFresh,
  SignedRequestError,
  type SignedRequestPayload,
  verifySignedRequest,
} from './signed-request';

const CODE_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const CONFIRMATION_CODE_LENGTH = 20;
/** What a confirmation code may look like (the column holds up to 64). */
export const CONFIRMATION_CODE_SHAPE = /^[A-Za-z0-9]{16,64}$/;
/**
 * A deauthorize issued before the account's current token was obtained is about an earlier
 * grant (Meta retrying late, or a replay): the person has connected again since. The margin
 * absorbs clock differences between Meta and us.
 */
const DEAUTHORIZE_CLOCK_MARGIN_MS = 5 * 60 * 1000;

/** ~119 random bits, alphanumeric as Meta asks. */
function newConfirmationCode(): string {
  let code = '';
  for (let i = 0; i < CONFIRMATION_CODE_LENGTH; i++) {
    code += CODE_ALPHABET[randomInt(CODE_ALPHABET.length)];
  }
  return code;
}

export interface DeauthorizeResult {
  matched: number;
  disconnected: number;
}

export interface DataDeletionReceipt {
  url: string;
  confirmationCode: string;
}

/**
 * Meta's side of the account lifecycle: the person removed the app in Instagram's settings
 * (deauthorize), or asked for their data to be deleted. Both arrive as a `signed_request` that
 * must verify with the app secret before anything changes.
 */
@Injectable()
export class MetaCallbacksService {
  private readonly logger: Logger;

  constructor(
    @Inject(PG) private readonly db: Db,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(ROOT_LOGGER) logger: Logger,
    @Inject(CLIENT_ACCOUNT_REPOSITORY) private readonly accountRepository: IClientAccountRepository,
    @Inject(ACCOUNT_EVENT_REPOSITORY) private readonly events: IAccountEventRepository,
    @Inject(DATA_DELETION_REPOSITORY) private readonly deletions: IDataDeletionRepository,
    private readonly vault: TokenVault,
    private readonly status: AccountStatusService,
    @Inject(CURRENT_ACCOUNT_REPOSITORY)
    private readonly current: Pick<ICurrentAccountRepository, 'moveOff'>,
  ) {
    this.logger = logger.child({ component: 'meta-callbacks' });
  }

  /**
   * Every account of that Instagram user loses its token and becomes `disconnected`, one
   * transaction per account. Matching nothing is not an error: Meta only needs a 200.
   */
  async deauthorize(signedRequest: unknown): Promise<DeauthorizeResult> {
    const payload = this.verify(signedRequest);
    const matches = await this.accountRepository.findByInstagramUserId(payload.userId);
    let disconnected = 0;
    for (const account of matches) {
      const done = await this.db.tx('instagram-deauthorize', async (t) => {
        const token = await this.vault.metadata(account.id, t);
        if (token && this.grantedAfter(token.issuedAt, payload)) return false;
        await this.vault.destroy(account.id, t);
        await this.status.markStatus(
          account.id,
          AccountStatus.DISCONNECTED,
          {
            code: LOCAL_ERROR_CODES.DEAUTHORIZED,
            message: 'The person removed the app in Instagram settings',
            reason: 'deauthorized',
          },
          t,
        );
        return true;
      });
      if (done) disconnected++;
      else {
        this.logger.info(
          { accountId: account.id },
          'deauthorize predates the current token (reconnected since): account left connected',
        );
      }
    }
    this.logger.info({ matched: matches.length, disconnected }, 'Meta deauthorize callback');
    return { matched: matches.length, disconnected };
  }

  /**
   * Records the request, then deletes every matching account (its token and metric history go
   * with it by cascade) and its events in one transaction, and marks the request completed. The
   * request row is written first so that a failure leaves a `failed` trace behind.
   *
   * Idempotent per request: the same signed_request delivered again (Meta retrying, or a replay
   * within the freshness window) finds its first confirmation code and deletes nothing more; an
   * account connected after the request was issued is the person's new grant and stays.
   */
  async requestDataDeletion(signedRequest: unknown): Promise<DataDeletionReceipt> {
    const payload = this.verify(signedRequest);
    const request = await this.deletions.findOrCreate(
      newConfirmationCode(),
      payload.userId,
      new Date(payload.issuedAt! * 1000),
    );
    const { confirmationCode } = request;
    let deleted: number | undefined;
    try {
      deleted = await this.db.tx('instagram-data-deletion', async (t) => {
        // Concurrent deliveries of one request wait here; the later ones find it completed.
        const current = await this.deletions.findByCodeForUpdate(confirmationCode, t);
        if (current?.status === 'completed') return undefined;
        const matches = await this.accountRepository.findByInstagramUserId(payload.userId, t);
        let count = 0;
        for (const account of matches) {
          const token = await this.vault.metadata(account.id, t);
          if (this.grantedAfter(token?.issuedAt ?? account.createdAt, payload)) continue;
          // The person's choice moves to an account they still have, before the row goes.
          await this.current.moveOff(account.userId, account.id, t);
          // Account first: its row lock waits for a sync in flight, whose events then get
          // deleted too.
          await this.accountRepository.delete(account.id, t);
          await this.events.deleteByAccount(account.id, t);
          count++;
        }
        await this.deletions.markCompleted(confirmationCode, count, t);
        return count;
      });
    } catch (error) {
      this.logger.error({ confirmationCode, err: loggableError(error) }, 'data deletion failed');
      await this.deletions
        .markFailed(confirmationCode)
        .catch((markError: unknown) =>
          this.logger.error(
            { confirmationCode, err: loggableError(markError) },
            'could not mark failed',
          ),
        );
      throw error;
    }
    if (deleted === undefined) {
      this.logger.info({ confirmationCode }, 'Meta data deletion delivered again: already done');
    } else {
      this.logger.info({ confirmationCode, accountsDeleted: deleted }, 'Meta data deletion done');
    }
    return {
      url: `${this.config.publicUrl}/instagram/data-deletion/${confirmationCode}`,
      confirmationCode,
    };
  }

  async deletionStatus(confirmationCode: string): Promise<DataDeletionRequest> {
    if (!CONFIRMATION_CODE_SHAPE.test(confirmationCode)) {
      throw new BadRequestException('Malformed confirmation code');
    }
    const request = await this.deletions.findByCode(confirmationCode);
    if (!request) throw new NotFoundException('No data deletion request with this code');
    return request;
  }

  private verify(signedRequest: unknown): SignedRequestPayload {
    try {
      const payload = verifySignedRequest(signedRequest, this.config.instagram.appSecret);
      assertFresh(payload);
      return payload;
    } catch (error) {
      if (error instanceof SignedRequestError) {
        this.logger.warn({ reason: error.reason }, 'Meta callback with a bad signed_request');
        throw new BadRequestException(error.message);
      }
      throw error;
    }
  }

  private grantedAfter(tokenIssuedAt: Date, payload: SignedRequestPayload): boolean {
    if (payload.issuedAt === undefined) return false;
    return tokenIssuedAt.getTime() > payload.issuedAt * 1000 + DEAUTHORIZE_CLOCK_MARGIN_MS;
  }
}
