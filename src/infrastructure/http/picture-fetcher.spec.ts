import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  classifyAddress,
  PictureFetcher,
  PictureFetchError,
  sniffPictureType,
} from './picture-fetcher';

const PNG = Buffer.concat([
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
  Buffer.from('rest of a picture'),
]);
const MB = 1024 * 1024;

let server: Server;
let base: string;
const hits: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    hits.push(req.url ?? '');
    switch (req.url) {
      case '/ok.png':
        res.writeHead(200, { 'content-type': 'image/png' }).end(PNG);
        return;
      case '/page.html':
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<html></html>');
        return;
      case '/lies.png':
        // Declared as a picture, but HTML inside.
        res.writeHead(200, { 'content-type': 'image/png' }).end('<html><body>hi</body></html>');
        return;
      case '/declared-huge.png':
        res.writeHead(200, { 'content-type': 'image/png', 'content-length': String(6 * MB) });
        res.end();
        return;
      case '/streamed-huge.png': {
        res.writeHead(200, { 'content-type': 'image/png' });
        const piece = Buffer.alloc(256 * 1024);
        let sent = 0;
        const pump = () => {
          while (sent < 6 * MB) {
            sent += piece.length;
            if (!res.write(piece)) return void res.once('drain', pump);
          }
          res.end();
        };
        pump();
        return;
      }
      case '/redirect':
        res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' }).end();
        return;
      case '/expired':
        res.writeHead(403, { 'content-type': 'text/plain' }).end('URL signature expired');
        return;
      case '/slow':
        setTimeout(() => res.writeHead(200, { 'content-type': 'image/png' }).end(PNG), 1500);
        return;
      default:
        res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const fetcher = (overrides: Partial<ConstructorParameters<typeof PictureFetcher>[0]> = {}) =>
  new PictureFetcher({
    timeoutMs: 800,
    maxBytes: 5 * MB,
    allowPrivateAddresses: true,
    ...overrides,
  });

async function failure(promise: Promise<unknown>): Promise<PictureFetchError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(PictureFetchError);
  return error as PictureFetchError;
}

describe('PictureFetcher', () => {
  it('downloads a picture: bytes, sniffed type, SHA-256', async () => {
    const f = fetcher();
    const picture = await f.fetch(`${base}/ok.png`);
    expect(picture.bytes.equals(PNG)).toBe(true);
    expect(picture.contentType).toBe('image/png');
    expect(picture.sha256).toBe(createHash('sha256').update(PNG).digest('hex'));
    await f.close();
  });

  it.each([
    ['text/html', '/page.html', 'unsupported_type', /text\/html/],
    ['HTML declared as image/png', '/lies.png', 'unsupported_type', /not a JPEG, PNG, WebP or GIF/],
    ['a Content-Length over 5 MB', '/declared-huge.png', 'too_large', /larger than 5 MB/],
    ['6 MB streamed without a length', '/streamed-huge.png', 'too_large', /larger than 5 MB/],
    ['a redirect (never followed)', '/redirect', 'redirect', /redirects/],
    ['403 (expired link)', '/expired', 'http_status', /403/],
    ['no answer within the timeout', '/slow', 'timeout', /in time/],
  ])('refuses %s', async (_case, path, reason, message) => {
    const f = fetcher();
    const error = await failure(f.fetch(`${base}${path}`));
    expect(error.reason).toBe(reason);
    expect(error.message).toMatch(message);
    await f.close();
  });

  it('never connects to loopback or private addresses unless allowed', async () => {
    const f = fetcher({ allowPrivateAddresses: false });
    const before = hits.length;
    for (const url of [`${base}/ok.png`, 'http://10.1.2.3/a.png', 'http://[::1]:9/a.png']) {
      expect((await failure(f.fetch(url))).reason).toBe('forbidden_address');
    }
    // A name that resolves to loopback is refused at connect time, by the lookup the
    // connection uses (no window for a DNS rebind).
    const port = new URL(base).port;
    const rebinding = fetcher({
      allowPrivateAddresses: false,
      lookup: ((_host: string, _options: unknown, callback: (...args: unknown[]) => void) =>
        callback(null, [{ address: '127.0.0.1', family: 4 }])) as never,
    });
    const error = await failure(rebinding.fetch(`http://pictures.example.com:${port}/ok.png`));
    expect(error.reason).toBe('forbidden_address');
    expect(hits.length).toBe(before);
    await f.close();
    await rebinding.close();
  });

  it('refuses link-local and metadata targets even when private ones are allowed', async () => {
    const f = fetcher({ allowPrivateAddresses: true });
    for (const url of [
      'http://169.254.169.254/latest/meta-data/',
      'http://[fe80::1]/a.png',
      'http://metadata.google.internal/computeMetadata/v1/',
      'http://[::ffff:169.254.169.254]/',
    ]) {
      expect((await failure(f.fetch(url))).reason, url).toBe('forbidden_address');
    }
    await f.close();
  });

  it.each([
    ['ftp://example.com/a.png', /http or https/],
    ['not a url', /not a valid URL/],
    ['https://user:secret@example.com/a.png', /credentials/],
  ])('refuses the URL %s', async (url, message) => {
    const f = fetcher();
    const error = await failure(f.fetch(url));
    expect(error.reason).toBe('invalid_url');
    expect(error.message).toMatch(message);
    await f.close();
  });
});

describe('classifyAddress', () => {
  it.each([
    ['93.184.216.34', 'public'],
    ['2a03:2880:f003:c07:face:b00c::2', 'public'],
    ['127.0.0.1', 'private'],
    ['::1', 'private'],
    ['10.0.0.8', 'private'],
    ['172.20.1.1', 'private'],
    ['192.168.1.1', 'private'],
    ['fd12::1', 'private'],
    ['::ffff:127.0.0.1', 'private'],
    ['169.254.169.254', 'refused'],
    ['fe80::1', 'refused'],
    ['0.0.0.0', 'refused'],
    ['224.0.0.1', 'refused'],
    ['not-an-ip', 'refused'],
  ])('%s is %s', (address, kind) => {
    expect(classifyAddress(address)).toBe(kind);
  });
});

describe('sniffPictureType', () => {
  it('recognises the four formats and nothing else', () => {
    expect(sniffPictureType(PNG)).toBe('image/png');
    expect(sniffPictureType(Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0]))).toBe('image/jpeg');
    expect(sniffPictureType(Buffer.from('GIF89a....'))).toBe('image/gif');
    expect(sniffPictureType(Buffer.from('RIFF\0\0\0\0WEBPVP8 '))).toBe('image/webp');
    expect(sniffPictureType(Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>'))).toBe(
      undefined,
    );
  });
});
