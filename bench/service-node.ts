import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../src/common/project-root';

/**
 * The node flags `npm start` gives the service (package.json's `start` script, `${NAME:-default}`
 * read from the environment as the shell would), so the benchmarks run it as it is run.
 */
export function serviceNodeFlags(env: NodeJS.ProcessEnv = process.env): string[] {
  const pkg = JSON.parse(readFileSync(join(projectRoot(), 'package.json'), 'utf8')) as {
    scripts: { start: string };
  };
  const match = /\bnode ((?:--\S+ )*)dist\/src\/main\.js/.exec(pkg.scripts.start);
  if (!match) throw new Error('package.json start script: no "node [flags] dist/src/main.js"');
  return (match[1] ?? '')
    .trim()
    .split(' ')
    .filter(Boolean)
    .map((flag) =>
      flag.replace(/\$\{(\w+):-([^}]*)\}/g, (_, name: string, fallback: string) =>
        env[name] ? env[name] : fallback,
      ),
    );
}
