import 'reflect-metadata';
import { config as loadDotenv } from 'dotenv';
import { runAccountsCli } from './accounts/cli';

/** `npm run accounts -- <command>`: operators' account commands (see USAGE in accounts/cli.ts). */
loadDotenv({ quiet: true });
runAccountsCli(process.argv.slice(2), { out: process.stdout, err: process.stderr }).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(
      `accounts failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exitCode = 1;
  },
);
