/**
 * Meta's usage figures as the workers share them (instagram_api_usage, real PostgreSQL): the
 * latest observation per scope, written about once a second rather than on every response.
 */
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase, type DatabaseHandle } from '../src/infrastructure/database/database';
import {
  ApiUsageRecorder,
  USAGE_FLUSH_MS,
} from '../src/infrastructure/instagram/api-usage.recorder';
import type { InstagramUsage } from '../src/infrastructure/instagram/usage-headers';
import { createTestDatabase, type TestDatabase } from './helpers/database';

let database: TestDatabase;
let handle: DatabaseHandle;

beforeAll(async () => {
  database = await createTestDatabase();
  handle = createDatabase(database.url, 4, () => undefined);
});

afterAll(async () => {
  await handle?.close();
  await database?.drop();
});

const usage = (at: number, app: number, bucs: [string, number, number][] = []): InstagramUsage => ({
  observedAt: new Date(at),
  app: { callCount: app, totalTime: 1, totalCputime: 1 },
  businessUseCase: bucs.map(([businessId, callCount, regain]) => ({
    businessId,
    type: 'instagram',
    callCount,
    totalTime: 2,
    totalCputime: 3,
    estimatedTimeToRegainAccessMinutes: regain,
  })),
});

const rows = () =>
  handle.db.manyOrNone<{ scope: string; call_count: number; regain_access_at: Date | null }>(
    'SELECT scope, call_count, regain_access_at FROM instagram_api_usage ORDER BY scope',
  );

describe('ApiUsageRecorder', () => {
  it('writes the latest observation per scope, in one go, about a second later', async () => {
    const recorder = new ApiUsageRecorder(handle.db, pino({ level: 'silent' }));
    const t0 = Date.now();
    for (let i = 1; i <= 200; i++) {
      recorder.record(usage(t0 + i, i % 100, [[`17841400000000${i % 3}`, i, i === 200 ? 15 : 0]]));
    }
    // An older observation arriving late does not win.
    recorder.record(usage(t0 - 1000, 99));
    expect(await rows()).toEqual([]);
    await new Promise((resolve) => setTimeout(resolve, USAGE_FLUSH_MS + 500));
    const written = await rows();
    expect(written.map((r) => [r.scope, r.call_count])).toEqual([
      ['app', 0],
      ['buc:178414000000000', 198],
      ['buc:178414000000001', 199],
      ['buc:178414000000002', 200],
    ]);
    const regain = written.find((r) => r.scope === 'buc:178414000000002')!.regain_access_at!;
    expect(Math.abs(regain.getTime() - (t0 + 200 + 15 * 60_000))).toBeLessThan(5);

    // A later observation replaces it; one from before what is stored does not.
    recorder.record(usage(t0 + 5000, 42));
    await recorder.flush();
    recorder.record(usage(t0 + 3000, 77));
    await recorder.flush();
    expect((await rows()).find((r) => r.scope === 'app')!.call_count).toBe(42);
    expect(await recorder.appUsagePercent()).toBe(42);
  });

  it('keeps the figures through a database outage, which it leaves the pool to report', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => lines.push(line) });
    let down = true;
    const flaky = {
      none: async (query: string, values: unknown) => {
        if (down) throw new Error('Query read timeout');
        return handle.db.none(query, values);
      },
    } as unknown as typeof handle.db;
    const recorder = new ApiUsageRecorder(flaky, logger);
    recorder.record(usage(Date.now() + 120_000, 31));
    await recorder.flush();
    expect((await rows()).find((r) => r.scope === 'app')?.call_count).not.toBe(31);
    expect(lines.filter((l) => /"level":"(warn|error)"/.test(l))).toEqual([]);
    down = false;
    await recorder.flush();
    expect((await rows()).find((r) => r.scope === 'app')!.call_count).toBe(31);
  });

  it('writes what is pending when the application shuts down', async () => {
    const recorder = new ApiUsageRecorder(handle.db, pino({ level: 'silent' }));
    recorder.record(usage(Date.now() + 180_000, 64));
    await recorder.beforeApplicationShutdown();
    expect((await rows()).find((r) => r.scope === 'app')!.call_count).toBe(64);
  });
});
