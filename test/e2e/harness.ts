/**
 * The end-to-end harness: the built service (`node dist/src/main.js`, as `npm start` runs it) in
 * demo mode on a fresh test database, and Debian's Chromium driven by playwright-core.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';
import { expect } from 'vitest';
import { freePort } from '../../src/infrastructure/database/embedded-postgres';
import { createTestDatabase, type TestDatabase } from '../helpers/database';
import { serviceNodeFlags } from '../../bench/service-node';

export const ROOT = join(__dirname, '..', '..');
export const ARTIFACTS = join(ROOT, 'test-artifacts');
export const CHROMIUM = '/usr/bin/chromium';
/** What this machine's Chromium needs as root, offline (see the README's "End-to-end tests"). */
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/**
 * `npm run build` when dist/ is missing or older than the sources, so the test always drives the
 * code in the work tree (CI builds just before and skips this).
 */
export function ensureBuilt(): void {
  const outputs = [join(ROOT, 'dist/src/main.js'), join(ROOT, 'dist/web/index.html')];
  const built = Math.min(...outputs.map((file) => (existsSync(file) ? statSync(file).mtimeMs : 0)));
  const sources = Math.max(
    ...['src', 'emulator', 'web'].map((dir) => newestMtime(join(ROOT, dir))),
  );
  if (built >= sources) return;
  // Vitest sets NODE_ENV=test, which would make Vite build an unminified development bundle.
  const env = { ...process.env };
  delete env.NODE_ENV;
  execFileSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: 'inherit', env });
}

export interface RunningService {
  base: string;
  emulator: string;
  output(): string;
  stop(): Promise<void>;
}

/** The service as `npm start` runs it, in demo mode (the emulator in-process). */
export async function startService(env: Record<string, string> = {}): Promise<RunningService> {
  const database: TestDatabase = await createTestDatabase();
  const dataDir = mkdtempSync(join(tmpdir(), 'ssell-e2e-'));
  const port = await freePort();
  const emulatorPort = await freePort();
  // localhost, not 127.0.0.1: the OAuth binding cookie must come back to the host PUBLIC_URL names.
  const base = `http://localhost:${port}`;
  const childEnv: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    NODE_ENV: 'development',
    PORT: String(port),
    EMULATOR_PORT: String(emulatorPort),
    PUBLIC_URL: base,
    DATABASE_URL: database.url,
    DATA_DIR: dataDir,
    LOG_LEVEL: 'warn',
    AUTH_RATE_LIMIT_PER_EMAIL: '3',
    // The test's webhook receiver listens on loopback.
    WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true',
    ...env,
  };
  const child: ChildProcess = spawn(process.execPath, [...serviceNodeFlags(), 'dist/src/main.js'], {
    cwd: ROOT,
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const started = Date.now();
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`the service exited at start:\n${output.slice(-3000)}`);
    if (Date.now() - started > 60_000)
      throw new Error(`the service was not ready in 60 s:\n${output.slice(-3000)}`);
    try {
      if ((await fetch(`${base}/health/ready`)).status === 200) break;
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    base,
    emulator: `http://localhost:${emulatorPort}`,
    output: () => output,
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      await database.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `No Chromium at ${CHROMIUM}: apt-get install -y chromium (.ci/run does it when it is missing)`,
    );
  }
  // launch() gives every run a new, empty profile (its own --user-data-dir), removed on close.
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS, headless: true });
}

const AXE_SOURCE = readFileSync(join(ROOT, 'node_modules/axe-core/axe.min.js'), 'utf8');

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: Array<{ target: unknown[] }>;
}

/** axe-core's violations on the page as it is now (injected through the debugger, so CSP allows it). */
export async function axeViolations(page: Page): Promise<AxeViolation[]> {
  await page.evaluate(AXE_SOURCE);
  return page.evaluate(async () => {
    const axe = (
      window as unknown as {
        axe: { run(c: Document, o: object): Promise<{ violations: AxeViolation[] }> };
      }
    ).axe;
    const result = await axe.run(document, { resultTypes: ['violations'] });
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.map((n) => ({ target: n.target })),
    }));
  });
}

export const WIDTHS = [1280, 390] as const;

const serious = (violations: AxeViolation[]) =>
  violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map(
      (v) =>
        `${v.impact} ${v.id}: ${v.help} (${v.nodes.map((n) => JSON.stringify(n.target)).join(', ')})`,
    );

/** Screenshots at 1280 and 390 px into test-artifacts/, and no serious or critical axe violation. */
export async function checkScreen(
  page: Page,
  screen: string,
  { fullPage = true } = {},
): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const problems: string[] = [];
  for (const width of WIDTHS) {
    await page.setViewportSize({ width, height: width === 390 ? 844 : 900 });
    const violations = await axeViolations(page);
    await page.screenshot({ path: join(ARTIFACTS, `${screen}-${width}.png`), fullPage });
    problems.push(...serious(violations).map((p) => `${width}px ${p}`));
  }
  await page.setViewportSize({ width: 1280, height: 900 });
  expect(problems, `axe on "${screen}"`).toEqual([]);
}

export { serious as seriousViolations };

/** Tab (keyboard only) until `target` has focus. */
export async function tabTo(page: Page, target: Locator, maxPresses = 60): Promise<void> {
  for (let i = 0; i <= maxPresses; i++) {
    if (await target.evaluate((el) => el === document.activeElement).catch(() => false)) return;
    await page.keyboard.press('Tab');
  }
  throw new Error(`${maxPresses} presses of Tab never reached ${target.toString()}`);
}

/** The accessible-ish name of what has focus ("BODY" when focus fell to the page). */
export function focused(page: Page): Promise<string> {
  return page.evaluate(() => {
    const el = document.activeElement;
    if (!el || el === document.body) return 'BODY';
    return `${el.tagName} ${(el.getAttribute('aria-label') ?? el.textContent ?? '').trim().replace(/\s+/g, ' ')}`;
  });
}

export async function control(
  emulator: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<unknown> {
  const res = await fetch(`${emulator}/__control${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`emulator ${method} ${path}: ${res.status} ${await res.text()}`);
  return res.status === 204 ? undefined : res.json();
}

/**
 * On the emulator's consent page: choose the demo account, then Allow. Like Instagram, the page
 * offers only "Continue as" the account last approved in this browser; a person who wants
 * another one follows "Use another account" first.
 */
export async function approveAs(page: Page, emulator: string, username: string): Promise<void> {
  await page.waitForURL((url) => url.origin === new URL(emulator).origin, { timeout: 15_000 });
  const choice = page.getByRole('radio', { name: new RegExp(username.replace(/\./g, '\\.')) });
  await page.getByRole('button', { name: /allow/i }).waitFor();
  if ((await choice.count()) === 0) {
    await page.getByRole('link', { name: /use another account/i }).click();
    await choice.waitFor();
  }
  await choice.check();
  await page.getByRole('button', { name: /allow/i }).click();
}

/**
 * Waiting assertions on locators (playwright-core has no test runner, so no `expect(locator)`):
 * each retries until it holds or `timeout` passes, then fails with Vitest's message.
 */
const WAIT = 10_000;
const squash = (text: string | null) => (text ?? '').replace(/\s+/g, ' ').trim();
const textOf = (l: Locator) =>
  l
    .first()
    .textContent({ timeout: 1_000 })
    .then(squash, () => null);
export const see = {
  visible: (l: Locator, timeout = WAIT) => l.first().waitFor({ state: 'visible', timeout }),
  text: (l: Locator, expected: string | RegExp, timeout = WAIT) =>
    typeof expected === 'string'
      ? expect.poll(() => textOf(l), { timeout }).toBe(expected)
      : expect.poll(() => textOf(l), { timeout }).toMatch(expected),
  contains: (l: Locator, part: string | RegExp, timeout = WAIT) =>
    typeof part === 'string'
      ? expect.poll(() => textOf(l), { timeout }).toContain(part)
      : expect.poll(() => textOf(l), { timeout }).toMatch(part),
  notEmpty: (l: Locator, timeout = WAIT) => expect.poll(() => textOf(l), { timeout }).toMatch(/\S/),
  count: (l: Locator, n: number, timeout = WAIT) =>
    expect.poll(() => l.count(), { timeout }).toBe(n),
  focused: (l: Locator, timeout = WAIT) =>
    expect
      .poll(
        () =>
          l
            .evaluate((el) => el === document.activeElement, undefined, { timeout: 1_000 })
            .catch(() => false),
        { timeout },
      )
      .toBe(true),
  value: (l: Locator, v: string, timeout = WAIT) =>
    expect.poll(() => l.inputValue({ timeout: 1_000 }).catch(() => null), { timeout }).toBe(v),
};
