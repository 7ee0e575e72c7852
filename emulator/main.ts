import pino from 'pino';
import { DEMO_APP_ID, DEMO_APP_SECRET } from '../src/config/demo-app';
import { emulatorRefusal, startEmulator } from './emulator';

/** `npm run emulator`: the Instagram emulator as a standalone server. Development only. */
async function main(): Promise<void> {
  const env = process.env;
  // Explicitly development or test: `npm run emulator` sets development when NODE_ENV is unset.
  const refusal = emulatorRefusal(env.NODE_ENV);
  if (refusal) {
    process.stderr.write(`${refusal}\n`);
    process.exit(1);
  }
  const port = Number(env.EMULATOR_PORT ?? 4010);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write(`EMULATOR_PORT must be a port number, got ${env.EMULATOR_PORT}\n`);
    process.exit(1);
  }
  const logger = pino({ level: env.LOG_LEVEL ?? 'info', name: 'instagram-emulator' });
  const emulator = await startEmulator({
    port,
    host: env.EMULATOR_HOST ?? '127.0.0.1',
    appId: env.EMULATOR_APP_ID ?? DEMO_APP_ID,
    appSecret: env.EMULATOR_APP_SECRET ?? DEMO_APP_SECRET,
    requireAppsecretProof: env.EMULATOR_REQUIRE_APPSECRET_PROOF === 'true',
    ...(env.EMULATOR_PUBLIC_URL ? { publicUrl: env.EMULATOR_PUBLIC_URL } : {}),
    env: env.NODE_ENV,
    logger,
  });
  process.stdout.write(
    `Instagram emulator on ${emulator.url}\n` +
      `  INSTAGRAM_OAUTH_URL=${emulator.url} INSTAGRAM_API_URL=${emulator.url} ` +
      `INSTAGRAM_GRAPH_API_URL=${emulator.url}/v25.0\n` +
      `  control API: ${emulator.url}/__control/state\n`,
  );
  const stop = () => {
    emulator.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`Instagram emulator failed to start: ${String(error)}\n`);
  process.exit(1);
});
