/**
 * The OpenAPI document is an artifact: docs/openapi.json is committed, and this test fails when
 * the routes or DTOs change without it. `npm run openapi` rewrites it from the running service.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { projectRoot } from '../src/common/project-root';
import { startTestApp, type TestApp } from './helpers/app';
import { http } from './helpers/http';

const FILE = join(projectRoot(), 'docs', 'openapi.json');

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t.close();
});

it('docs/openapi.json matches what the service serves at /docs-json', async () => {
  const res = await http(t.url, 'GET', '/docs-json');
  expect(res.status).toBe(200);
  const current = `${JSON.stringify(res.body, null, 2)}\n`;
  if (process.env.UPDATE_OPENAPI === '1') writeFileSync(FILE, current);
  expect(existsSync(FILE), 'docs/openapi.json is missing: run npm run openapi').toBe(true);
  const committed = readFileSync(FILE, 'utf8');
  expect(committed, 'the API changed: run npm run openapi and commit docs/openapi.json').toBe(
    current,
  );
});

it('documents every route with a summary and its error responses', async () => {
  const doc = (await http(t.url, 'GET', '/docs-json')).body as {
    paths: Record<string, Record<string, { summary?: string; responses: Record<string, unknown> }>>;
  };
  const operations = Object.entries(doc.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, op]) => ({
      route: `${method.toUpperCase()} ${path}`,
      op,
    })),
  );
  expect(operations.map((o) => o.route).sort()).toEqual(
    [
      'POST /auth/register',
      'POST /auth/login',
      'POST /auth/logout',
      'GET /auth/me',
      'GET /health/live',
      'GET /health/ready',
      'GET /instagram/accounts',
      'GET /instagram/accounts/{id}',
      'PATCH /instagram/accounts/{id}',
      'DELETE /instagram/accounts/{id}',
      'POST /instagram/accounts/{id}/sync',
      'POST /instagram/accounts/{id}/refresh-status',
      'GET /instagram/accounts/{id}/events',
      'GET /instagram/accounts/current',
      'PUT /instagram/accounts/current',
      'GET /instagram/accounts/expiring',
      'GET /instagram/accounts/{id}/metrics',
      'GET /instagram/accounts/{id}/avatar',
      'GET /instagram/oauth/authorize',
      'GET /instagram/oauth/info',
      'GET /instagram/oauth/callback',
      'POST /instagram/webhooks/deauthorize',
      'POST /instagram/webhooks/data-deletion',
      'GET /instagram/data-deletion/{code}',
      'POST /instagram/connect-links',
      'GET /instagram/connect-links',
      'DELETE /instagram/connect-links/{id}',
      'POST /instagram/accounts/{id}/reconnect-link',
      'GET /connect/done',
      'GET /connect/{token}',
      'GET /connect/{token}/authorize',
    ].sort(),
  );
  for (const { route, op } of operations) {
    expect(op.summary, `${route} has no summary`).toBeTruthy();
  }
  for (const { route, op } of operations.filter((o) =>
    o.route.includes('/instagram/accounts/{id}'),
  )) {
    for (const status of ['401', '403', '404']) {
      expect(Object.keys(op.responses), `${route} does not document ${status}`).toContain(status);
    }
  }
});

it('gives every error of the account and auth routes examples of its own status; 429s declare Retry-After', async () => {
  const doc = (await http(t.url, 'GET', '/docs-json')).body as {
    paths: Record<string, Record<string, { responses: Record<string, any> }>>;
  };
  let checked = 0;
  for (const [path, methods] of Object.entries(doc.paths)) {
    if (!path.startsWith('/instagram/accounts') && !path.startsWith('/auth/')) continue;
    for (const [method, op] of Object.entries(methods)) {
      for (const [status, response] of Object.entries(op.responses)) {
        if (Number(status) < 400) continue;
        const where = `${method.toUpperCase()} ${path} ${status}`;
        const examples = response.content?.['application/json']?.examples as
          | Record<string, { value: { statusCode: number; error: string; message: string } }>
          | undefined;
        expect(
          examples && Object.keys(examples).length,
          `${where} has no examples`,
        ).toBeGreaterThan(0);
        for (const { value } of Object.values(examples!)) {
          expect(value.statusCode, where).toBe(Number(status));
          expect(value.message, where).toBeTruthy();
          if (status !== '404') expect(value.message, where).not.toBe('Account not found');
        }
        if (status === '429') {
          expect(response.headers?.['Retry-After'], `${where} without Retry-After`).toBeDefined();
        }
        checked += 1;
      }
    }
  }
  expect(checked).toBeGreaterThan(40);
});
