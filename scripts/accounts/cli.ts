import { parseArgs } from 'node:util';
import type { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import pino from 'pino';
import { AppModule } from '../../src/app.module';
import { createRootLogger, type Logger } from '../../src/common/logging/logger';
import { ConfigError, loadConfig, type AppConfig } from '../../src/config/config';
import { createDatabase } from '../../src/infrastructure/database/database';
import { CLIENT_ACCOUNT_REPOSITORY } from '../../src/domain/repositories/client-account.repository.interface';
import type { IClientAccountRepository } from '../../src/domain/repositories/client-account.repository.interface';
import { AccountSweepsProcessor } from '../../src/modules/instagram/jobs/account-sweeps.processor';
import {
  AccountSyncProcessor,
  type SyncRun,
} from '../../src/modules/instagram/jobs/account-sync.processor';
import { TokenRefreshProcessor } from '../../src/modules/instagram/jobs/token-refresh.processor';
import { classifyFailure } from '../../src/modules/instagram/services/account-failure';
import type { RefreshTokenOutcome } from '../../src/modules/instagram/services/account-token.service';
import type { DeliveryStream } from '../../src/domain/repositories/webhook-delivery.repository.interface';
import {
  type DrainResult,
  WebhookDeliveryService,
} from '../../src/modules/webhooks/services/webhook-delivery.service';
import { withOperatorDatabase } from '../lib/operator-database';
import { type AccountLine, type Output, RunReport } from './report';

export const USAGE = `Usage: npm run accounts -- <command> [options]

Commands (each runs the service's own code, as its jobs do, in this process; no HTTP):
  sync --all | --user <id> | --account <id>
      Sync accounts now, exactly as the account.sync job does: the profile fetched, the account
      updated, every outcome recorded on it. A rate-limited account is queued again for when its
      limit lifts (the workers pick it up); a transient failure counts as one failure in a row.
  refresh-tokens --due
      What the hourly refresh sweep finds due, done now: tokens past expiry marked, expiry
      warnings written, and every due token refreshed (a failure is retried later by the sweep).
  webhooks redeliver --failed --since <iso date> [--endpoint <id>]
      Webhook deliveries that failed (gave up after 24 h) since that date, sent again: each
      (endpoint, account) pair delivered here in order, with the same event ids; one that fails
      again is left to the workers' usual retries.

Options:
  --concurrency N   accounts handled at once (1..50, default 4)
  --verbose         the service's log lines on stderr at LOG_LEVEL (default: errors only)
  -h, --help        this text

Progress: a bar on a terminal, one line per account otherwise; then a summary (done, failed,
skipped, rate limited). Exit code 0 when nothing failed, 1 otherwise, 2 for a usage error.`;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MAX_CONCURRENCY = 50;
const ID_PAGE = 1000;

export interface CliIo {
  out: Output;
  err: Output;
  /** The environment the configuration is read from (default: process.env). */
  env?: NodeJS.ProcessEnv;
  /** A validated configuration instead of `env` (tests). */
  config?: AppConfig;
  /** Where the service's log lines go (default: stderr). */
  logDestination?: pino.DestinationStream;
}

type Command =
  | { name: 'sync'; scope: { all: true } | { userId: string } | { accountId: string } }
  | { name: 'refresh-tokens' }
  | { name: 'webhooks-redeliver'; since: Date; endpointId?: string };

interface Parsed {
  command: Command;
  concurrency: number;
  verbose: boolean;
}

class UsageError extends Error {}

function parse(argv: string[]): Parsed | 'help' {
  const [first, ...afterFirst] = argv;
  // `webhooks redeliver` is one command in two words.
  const twoWords = first === 'webhooks';
  const name = twoWords ? `webhooks ${afterFirst[0] ?? ''}`.trim() : first;
  const rest = twoWords ? afterFirst.slice(1) : afterFirst;
  if (name === undefined || name === '-h' || name === '--help' || name === 'help') return 'help';
  const { values } = parseArgs({
    args: rest,
    options: {
      all: { type: 'boolean' },
      user: { type: 'string' },
      account: { type: 'string' },
      due: { type: 'boolean' },
      failed: { type: 'boolean' },
      since: { type: 'string' },
      endpoint: { type: 'string' },
      concurrency: { type: 'string' },
      verbose: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) return 'help';
  const concurrency = values.concurrency === undefined ? 4 : Number(values.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > MAX_CONCURRENCY) {
    throw new UsageError(`--concurrency must be an integer from 1 to ${MAX_CONCURRENCY}`);
  }
  const verbose = values.verbose === true;
  if (name === 'sync') {
    const given = [values.all, values.user, values.account].filter((v) => v !== undefined);
    if (given.length !== 1 || values.due !== undefined) {
      throw new UsageError('sync takes exactly one of --all, --user <id>, --account <id>');
    }
    for (const [flag, value] of [
      ['--user', values.user],
      ['--account', values.account],
    ] as const) {
      if (value !== undefined && !UUID.test(value)) {
        throw new UsageError(`${flag} must be a UUID, not "${value}"`);
      }
    }
    const scope = values.user
      ? { userId: values.user }
      : values.account
        ? { accountId: values.account }
        : { all: true as const };
    return { command: { name: 'sync', scope }, concurrency, verbose };
  }
  if (name === 'refresh-tokens') {
    if (values.due !== true || values.all || values.user || values.account) {
      throw new UsageError('refresh-tokens takes --due (the tokens the sweep finds due)');
    }
    return { command: { name: 'refresh-tokens' }, concurrency, verbose };
  }
  if (name === 'webhooks redeliver') {
    if (values.failed !== true || values.since === undefined) {
      throw new UsageError(
        'webhooks redeliver takes --failed --since <iso date> [--endpoint <id>]',
      );
    }
    const since = new Date(values.since);
    if (!/^\d{4}-\d{2}-\d{2}/.test(values.since) || Number.isNaN(since.getTime())) {
      throw new UsageError(`--since must be an ISO date or time, not "${values.since}"`);
    }
    if (values.endpoint !== undefined && !UUID.test(values.endpoint)) {
      throw new UsageError(`--endpoint must be a UUID, not "${values.endpoint}"`);
    }
    return {
      command: {
        name: 'webhooks-redeliver',
        since,
        ...(values.endpoint !== undefined ? { endpointId: values.endpoint } : {}),
      },
      concurrency,
      verbose,
    };
  }
  throw new UsageError(`unknown command "${name}"`);
}

/** Runs `work` over `items`, at most `concurrency` at once, in order of start. */
async function eachLimited<T>(
  items: readonly T[],
  concurrency: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++]!;
      await work(item);
    }
  });
  await Promise.all(lanes);
}

function requeuedDetail(run: SyncRun): string {
  if (!run.requeued) return 'the workers sync it once the limit lifts';
  const at = run.requeued.startAfter.toISOString();
  return run.requeued.queued ? `queued again for ${at}` : 'a sync of it is already queued';
}

function syncLine(accountId: string, run: SyncRun): AccountLine {
  const { outcome } = run;
  switch (outcome.status) {
    case 'synced':
      return { accountId, result: 'done' };
    case 'skipped':
      if (outcome.reason === 'rate_limited') {
        return { accountId, result: 'rate limited', detail: requeuedDetail(run) };
      }
      return { accountId, result: 'skipped', detail: outcome.reason };
    case 'failed': {
      const failure = classifyFailure(outcome.error);
      if (failure.kind === 'rate_limited') {
        return { accountId, result: 'rate limited', detail: requeuedDetail(run) };
      }
      return {
        accountId,
        result: 'failed',
        detail: `${failure.reason}, now ${outcome.account.status}`,
      };
    }
  }
}

function refreshLine(accountId: string, outcome: RefreshTokenOutcome): AccountLine {
  switch (outcome.status) {
    case 'refreshed':
      return { accountId, result: 'done', detail: `expires ${outcome.expiresAt.toISOString()}` };
    case 'skipped':
      return { accountId, result: 'skipped', detail: outcome.reason };
    case 'failed': {
      const failure = classifyFailure(outcome.error);
      const next = outcome.nextAttemptAt
        ? `next attempt ${outcome.nextAttemptAt.toISOString()}`
        : 'no further attempt';
      return {
        accountId,
        result: failure.kind === 'rate_limited' ? 'rate limited' : 'failed',
        detail: `${failure.reason}, ${next}`,
      };
    }
  }
}

function redeliveryLine(stream: DeliveryStream, result: DrainResult): AccountLine {
  const pair = `${stream.endpointId}/${stream.accountId ?? 'no account'}`;
  const counts = `${result.delivered} delivered, ${result.failed} failed`;
  switch (result.stopped) {
    case 'empty':
      return { accountId: pair, result: result.failed > 0 ? 'failed' : 'done', detail: counts };
    case 'retrying':
      return {
        accountId: pair,
        result: 'failed',
        detail: `${counts}; the receiver refused again: the workers retry with backoff`,
      };
    case 'waiting':
      return {
        accountId: pair,
        result: 'skipped',
        detail: `${counts}; another drain holds it or its next attempt is later: the workers finish it`,
      };
    case 'yielded':
      return { accountId: pair, result: 'skipped', detail: `${counts}; the workers finish it` };
    case 'endpoint_gone':
      return { accountId: pair, result: 'skipped', detail: 'the endpoint was deleted' };
  }
}

/** The account ids a sync covers, in id order. */
async function idsFor(
  accounts: IClientAccountRepository,
  scope: Extract<Command, { name: 'sync' }>['scope'],
): Promise<string[]> {
  if ('accountId' in scope) {
    return (await accounts.findById(scope.accountId)) ? [scope.accountId] : [];
  }
  const ids: string[] = [];
  for (;;) {
    const page = await accounts.listIds({
      ...('userId' in scope ? { userId: scope.userId } : {}),
      ...(ids.length > 0 ? { afterId: ids[ids.length - 1]! } : {}),
      limit: ID_PAGE,
    });
    ids.push(...page);
    if (page.length < ID_PAGE) return ids;
  }
}

async function runCommand(
  context: INestApplicationContext,
  parsed: Parsed,
  io: CliIo,
): Promise<number> {
  const { command, concurrency } = parsed;
  if (command.name === 'sync') {
    const accounts = context.get<IClientAccountRepository>(CLIENT_ACCOUNT_REPOSITORY);
    const ids = await idsFor(accounts, command.scope);
    if ('accountId' in command.scope && ids.length === 0) {
      io.err.write(`accounts: no account ${command.scope.accountId}\n`);
      return 1;
    }
    const processor = context.get(AccountSyncProcessor);
    const report = new RunReport('sync', ids.length, io.out, io.err);
    await eachLimited(ids, concurrency, async (accountId) => {
      report.add(syncLine(accountId, await processor.run({ accountId, reason: 'operator' })));
    });
    return report.finish().counts.failed > 0 ? 1 : 0;
  }
  if (command.name === 'webhooks-redeliver') {
    const deliveries = context.get(WebhookDeliveryService);
    const { streams } = await deliveries.redeliverFailed(command.since, command.endpointId);
    const report = new RunReport('webhooks redeliver', streams.length, io.out, io.err);
    await eachLimited(streams, concurrency, async (stream) => {
      report.add(redeliveryLine(stream, await deliveries.drain(stream)));
    });
    return report.finish().counts.failed > 0 ? 1 : 0;
  }
  const found = await context.get(AccountSweepsProcessor).dueRefreshes();
  const processor = context.get(TokenRefreshProcessor);
  const report = new RunReport('refresh-tokens', found.due.length, io.out, io.err);
  await eachLimited(found.due, concurrency, async (accountId) => {
    report.add(refreshLine(accountId, await processor.run(accountId)));
  });
  const summary = report.finish([
    `  looked at ${found.candidates} token(s) in the refresh window: ${found.waiting} backing off or too young, ${found.expired} past expiry (marked token_expired), ${found.warned} expiry warning(s) written`,
  ]);
  return summary.counts.failed > 0 ? 1 : 0;
}

/**
 * The app's providers without HTTP and without workers: the CLI calls the processors the
 * workers call, so it does exactly what the jobs do. Demo mode has no emulator of its own here:
 * it talks to the one a running demo service started on EMULATOR_PORT.
 */
async function appContext(
  config: AppConfig,
  databaseUrl: string,
  logger: Logger,
): Promise<INestApplicationContext> {
  let effective: AppConfig = { ...config, jobsEnabled: false };
  if (config.instagram.demo) {
    const url = `http://localhost:${config.emulatorPort}`;
    logger.warn({ emulator: url }, 'demo mode: using the emulator of the running demo service');
    effective = {
      ...effective,
      instagram: { ...config.instagram, oauthUrl: url, apiUrl: url, graphApiUrl: `${url}/v25.0` },
    };
  }
  const database = createDatabase(databaseUrl, Math.min(config.database.poolSize, 10), (error) =>
    logger.warn({ err: error.message }, 'idle database connection failed'),
  );
  try {
    return await NestFactory.createApplicationContext(
      AppModule.forRoot({ config: effective, database, logger }),
      { logger: false, abortOnError: false },
    );
  } catch (error) {
    await database.close();
    throw error;
  }
}

/** `npm run accounts -- …`; the exit code. */
export async function runAccountsCli(argv: string[], io: CliIo): Promise<number> {
  let parsed: Parsed | 'help';
  try {
    parsed = parse(argv);
  } catch (error) {
    io.err.write(`accounts: ${(error as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  if (parsed === 'help') {
    io.out.write(`${USAGE}\n`);
    return 0;
  }
  let config: AppConfig;
  try {
    config = io.config ?? loadConfig(io.env ?? process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      io.err.write(`accounts: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
  const logger = createRootLogger(
    parsed.verbose ? config.logLevel : 'error',
    io.logDestination ?? pino.destination({ dest: 2, sync: true }),
  );
  const note = (message: string) => {
    if (parsed.verbose) io.err.write(`${message}\n`);
  };
  const command = parsed;
  return withOperatorDatabase(config, note, async (databaseUrl) => {
    const context = await appContext(config, databaseUrl, logger);
    try {
      return await runCommand(context, command, io);
    } finally {
      await context.close();
    }
  });
}
