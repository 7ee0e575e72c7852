import type { LookupAddress } from 'node:dns';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Resolver } from './target-address';
import { WebhookClient } from './webhook-client';

let server: Server;
let port: number;
let handler: (req: IncomingMessage, res: ServerResponse) => void;
const seen: { path: string; body: string; headers: IncomingMessage['headers'] }[] = [];
const clients: WebhookClient[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({ path: req.url ?? '', body, headers: req.headers });
      handler(req, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterEach(async () => {
  seen.length = 0;
  while (clients.length) await clients.pop()!.close();
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

function client(options: { allowPrivateTargets: boolean; lookup?: Resolver; timeoutMs?: number }) {
  const c = new WebhookClient({ timeoutMs: options.timeoutMs ?? 2000, ...options });
  clients.push(c);
  return c;
}

/** Resolves every name to `address`, counting the lookups. */
function pointingAt(address: string) {
  const calls: string[] = [];
  const lookup = ((host: string, _o: unknown, cb: (e: null, a: LookupAddress[]) => void) => {
    calls.push(host);
    cb(null, [{ address, family: 4 }]);
  }) as unknown as Resolver;
  return { lookup, calls };
}

describe('WebhookClient', () => {
  it('POSTs the body with the given headers; a 2xx is ok', async () => {
    handler = (_req, res) => res.writeHead(204).end();
    const result = await client({ allowPrivateTargets: true }).post(
      `http://127.0.0.1:${port}/hook`,
      '{"a":1}',
      { 'x-ssell-event': 'ping' },
    );
    expect(result).toMatchObject({ ok: true, statusCode: 204 });
    expect(seen[0]).toMatchObject({ path: '/hook', body: '{"a":1}' });
    expect(seen[0]!.headers).toMatchObject({
      'x-ssell-event': 'ping',
      'content-type': 'application/json',
    });
  });

  it('a 500 or a redirect is a failure; the redirect is not followed', async () => {
    handler = (req, res) =>
      req.url === '/moved'
        ? res.writeHead(302, { location: `http://127.0.0.1:${port}/elsewhere` }).end()
        : res.writeHead(500).end();
    const c = client({ allowPrivateTargets: true });
    expect(await c.post(`http://127.0.0.1:${port}/x`, '{}', {})).toMatchObject({
      ok: false,
      reason: 'http_status',
      statusCode: 500,
    });
    expect(await c.post(`http://127.0.0.1:${port}/moved`, '{}', {})).toMatchObject({
      ok: false,
      reason: 'http_status',
      statusCode: 302,
      error: expect.stringContaining('not followed'),
    });
    expect(seen.map((s) => s.path)).toEqual(['/x', '/moved']);
  });

  it('gives up on a receiver that does not answer in time', async () => {
    handler = () => undefined;
    const started = Date.now();
    const result = await client({ allowPrivateTargets: true, timeoutMs: 300 }).post(
      `http://127.0.0.1:${port}/slow`,
      '{}',
      {},
    );
    expect(result).toMatchObject({ ok: false, reason: 'timeout', statusCode: null });
    expect(Date.now() - started).toBeLessThan(2000);
    server.closeAllConnections();
  });

  it('never connects to a name that resolves to loopback unless private targets are allowed', async () => {
    handler = (_req, res) => res.writeHead(200).end();
    const dns = pointingAt('127.0.0.1');
    const refused = await client({ allowPrivateTargets: false, lookup: dns.lookup }).post(
      `http://hooks.example.test:${port}/x`,
      '{}',
      {},
    );
    expect(refused).toMatchObject({
      ok: false,
      reason: 'refused',
      error: expect.stringContaining('loopback or private'),
    });
    expect(dns.calls).toEqual(['hooks.example.test']);
    expect(seen).toEqual([]);

    // Allowed: the connection goes to the address the guard checked (no second resolution).
    const allowed = pointingAt('127.0.0.1');
    const ok = await client({ allowPrivateTargets: true, lookup: allowed.lookup }).post(
      `http://hooks.example.test:${port}/x`,
      '{}',
      {},
    );
    expect(ok).toMatchObject({ ok: true, statusCode: 200 });
    expect(allowed.calls).toEqual(['hooks.example.test']);
    expect(seen[0]!.headers.host).toBe(`hooks.example.test:${port}`);
  });

  it('refuses link-local and metadata targets even when private ones are allowed', async () => {
    const c = client({ allowPrivateTargets: true, lookup: pointingAt('169.254.169.254').lookup });
    for (const url of [
      'http://169.254.169.254/latest/meta-data/',
      'http://metadata.google.internal/',
      `http://hooks.example.test:${port}/x`,
    ]) {
      expect(await c.post(url, '{}', {}), url).toMatchObject({ ok: false, reason: 'refused' });
    }
    expect(seen).toEqual([]);
  });

  it('a receiver that is not there is a network failure', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const gone = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    expect(
      await client({ allowPrivateTargets: true }).post(`http://127.0.0.1:${gone}/`, '{}', {}),
    ).toMatchObject({
      ok: false,
      reason: 'network',
      error: expect.stringContaining('ECONNREFUSED'),
    });
  });
});
